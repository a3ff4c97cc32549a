"""Features the learned models read: character n-grams of the normalised text, morpheme
n-grams of its lemmas, and the lexicon scorer's figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from cxloop.text.lang import Language, detect_language
from cxloop.text.lexicon import BASE_FEATURES, FEATURE_NAMES, LexiconScore, score_text
from cxloop.text.normalize import normalize
from cxloop.text.tokens import Morph, english_morphs, korean_sentences

# Korean particles and a few endings carry little meaning on their own; the predicates, nouns,
# adverbs, negation (안/못/않다), sentence endings and emoticons all stay.
_KO_DROP_TAGS = frozenset({"JKS", "JKC", "JKG", "JKO", "JKB", "JKV", "JKQ", "JC", "SP", "SS", "SE"})
LEXICON_WEIGHT = 3.0  # the dense lexicon features compete with thousands of sparse n-grams


@dataclass(frozen=True)
class Doc:
    """What the models need to know about one analysed text."""

    lang: Language
    normalized: str
    sentences: tuple[tuple[Morph, ...], ...]
    lexicon: LexiconScore

    @property
    def morphs(self) -> tuple[Morph, ...]:
        return tuple(m for sent in self.sentences for m in sent)


def _english_sentences(text: str) -> list[list[Morph]]:
    sentences: list[list[Morph]] = [[]]
    for m in english_morphs(text):
        sentences[-1].append(m)
        if m.tag == "PUNCT" and m.form[0] in ".!?":
            sentences.append([])
    return [s for s in sentences if s]


def prepare(text: str, lang: Language | None = None) -> Doc:
    """Detect the language, normalise, tokenise and score a text with the lexicon."""
    language = lang or detect_language(text)
    normalized = normalize(text, language)
    if language == "ko":
        sentences: list[list[Morph]] = korean_sentences(normalized)
    else:
        sentences = _english_sentences(normalized)
    lexicon = score_text(normalized, sentences, language)
    return Doc(language, normalized, tuple(tuple(s) for s in sentences), lexicon)


def morph_text(doc: Doc) -> str:
    """The lemmas of a text joined by spaces, the input of the morpheme n-gram vectoriser."""
    if doc.lang == "ko":
        parts = [m.lemma for m in doc.morphs if m.tag not in _KO_DROP_TAGS]
    else:
        parts = [m.lemma for m in doc.morphs if m.tag != "PUNCT"]
    return " ".join(p.replace(" ", "_") for p in parts)


def _split(text: str) -> list[str]:
    return text.split()


class FeatureBuilder:
    """Fits and applies the vectorisers (kept small: capped vocabularies, float32)."""

    def __init__(self, *, max_char: int = 40000, max_morph: int = 20000) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 4), min_df=2, max_features=max_char,
            sublinear_tf=True, dtype=np.float32,
        )  # fmt: skip
        self.morph = TfidfVectorizer(
            tokenizer=_split, token_pattern=None, lowercase=False, ngram_range=(1, 2),
            min_df=1, max_features=max_morph, sublinear_tf=True, dtype=np.float32,
        )  # fmt: skip
        self.n_lexicon = len(FEATURE_NAMES)

    def fit(self, docs: Sequence[Doc]) -> FeatureBuilder:
        self.char.fit([d.normalized for d in docs])
        self.morph.fit([morph_text(d) for d in docs])
        self.n_lexicon = len(FEATURE_NAMES)
        return self

    def transform(self, docs: Sequence[Doc]) -> Any:
        chars = self.char.transform([d.normalized for d in docs])
        morphs = self.morph.transform([morph_text(d) for d in docs])
        # a model saved before the lexicon grew features (a workspace's stored model) reads the
        # features it was fitted with, in the same places
        n_lexicon = getattr(self, "n_lexicon", BASE_FEATURES)
        dense = np.array(
            [
                [*d.lexicon.features[:BASE_FEATURES], 1.0 if d.lang == "ko" else 0.0,
                 *d.lexicon.features[BASE_FEATURES:n_lexicon]]
                if d.lexicon.features
                else [0.0] * (n_lexicon + 1)
                for d in docs
            ],
            dtype=np.float32,
        ).reshape(len(docs), n_lexicon + 1)  # fmt: skip
        return sparse.hstack(
            [chars, morphs, sparse.csr_matrix(dense * LEXICON_WEIGHT)], format="csr"
        )
