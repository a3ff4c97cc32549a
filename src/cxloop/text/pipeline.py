"""The text analysis pipeline: language → normalisation → tokens → lexicon → model → categories,
aspects and keywords, for one text or a batch.

The shipped model (``models/sentiment.joblib``) is loaded once per process; without it the
pipeline falls back to the lexicon and the taxonomy's seeds. The learned parts run once per batch,
so :func:`analyze_many` is the fast path for many texts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cxloop.text.aspects import Aspect, aspects
from cxloop.text.categories import Taxonomy, combine, load_taxonomy, seed_matcher
from cxloop.text.features import Doc, prepare
from cxloop.text.keywords import keywords
from cxloop.text.lang import Language
from cxloop.text.sentiment import (
    MODEL_PATH,
    Prediction,
    TextModel,
    lexicon_prediction,
    load_model,
    transformers_classifier,
)

__all__ = ["Analysis", "Analyzer", "Aspect", "analyze", "analyze_many"]


@dataclass(frozen=True)
class Analysis:
    """What cxloop understands of one text."""

    lang: Language
    normalized: str
    sentences: tuple[str, ...]
    tokens: tuple[str, ...]  # lemma/TAG of each morpheme (Korean) or lemma (English)
    keywords: tuple[str, ...]
    sentiment: str  # positive / neutral / negative
    score: float  # in [-1, 1]
    categories: tuple[str, ...]
    aspects: tuple[Aspect, ...]
    sarcasm: bool = False
    source: str = "model"  # model / lexicon / transformers: what decided the sentiment

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def categories_for(
    docs: Sequence[Doc],
    model: TextModel | None,
    taxonomy: Taxonomy,
    learned: Sequence[dict[str, float]] | None = None,
) -> list[list[str]]:
    """Categories of analysed texts: taxonomy seeds plus what the learned classifier is sure of."""
    matcher = seed_matcher(taxonomy)
    if learned is None:
        learned = model.categories_docs(docs) if model is not None else [{} for _ in docs]
    out = []
    for doc, probs in zip(docs, learned, strict=True):
        seeds = matcher.match(doc.normalized, doc.morphs, doc.lang)
        # a workspace taxonomy may have dropped a category the model learned
        probs = {k: p for k, p in probs.items() if k in taxonomy.keys}
        out.append(combine(seeds, probs, taxonomy.keys))
    return out


def _sentences(doc: Doc) -> tuple[str, ...]:
    return tuple(
        doc.normalized[sent[0].start : sent[-1].end].strip() for sent in doc.sentences if sent
    )


def _tokens(doc: Doc) -> tuple[str, ...]:
    if doc.lang == "ko":
        return tuple(m.key for m in doc.morphs)
    return tuple(m.lemma for m in doc.morphs if m.tag != "PUNCT")


class Analyzer:
    """Analyses texts with one model and taxonomy (the shipped ones by default)."""

    def __init__(
        self,
        model: TextModel | None = None,
        *,
        taxonomy: Taxonomy | None = None,
        model_path: Path | None = MODEL_PATH,
        use_transformers: bool = True,
    ) -> None:
        self.taxonomy = taxonomy or load_taxonomy()
        self.model = (
            model if model is not None else (load_model(model_path) if model_path else None)
        )
        self._transformers = transformers_classifier() if use_transformers else None

    @property
    def source(self) -> str:
        if self._transformers is not None:
            return "transformers"
        return "model" if self.model is not None else "lexicon"

    def analyze(self, text: str, lang: Language | None = None) -> Analysis:
        return self.analyze_many([text], [lang])[0]

    def analyze_many(
        self, texts: Sequence[str], langs: Sequence[Language | None] | None = None
    ) -> list[Analysis]:
        """Analyse a batch; equal, text by text, to :meth:`analyze`."""
        languages = list(langs) if langs is not None else [None] * len(texts)
        if len(languages) != len(texts):
            raise ValueError("texts and langs differ in length")
        docs = [prepare(t, la) for t, la in zip(texts, languages, strict=True)]
        predictions: list[Prediction]
        learned: list[dict[str, float]] = [{} for _ in docs]
        if self.model is not None:
            predictions, learned = self.model.predict(docs)
        else:
            predictions = [lexicon_prediction(d) for d in docs]
        if self._transformers is not None:
            predictions = self._transformers([d.normalized for d in docs])
        cats = categories_for(docs, self.model, self.taxonomy, learned)
        matcher = seed_matcher(self.taxonomy)
        out = []
        for doc, pred, doc_cats in zip(docs, predictions, cats, strict=True):
            out.append(
                Analysis(
                    lang=doc.lang,
                    normalized=doc.normalized,
                    sentences=_sentences(doc),
                    tokens=_tokens(doc),
                    keywords=tuple(keywords(doc.morphs, doc.lang)),
                    sentiment=pred.label,
                    score=round(max(-1.0, min(1.0, pred.score)), 4),
                    categories=tuple(doc_cats),
                    aspects=tuple(aspects(doc, matcher, doc_cats, pred.label)),
                    sarcasm=doc.lexicon.sarcasm,
                    source=self.source,
                )
            )
        return out


_default: Analyzer | None = None
_default_lock = threading.Lock()


def default_analyzer() -> Analyzer:
    """The process-wide analyser with the shipped model, created on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Analyzer()
    return _default


def warm() -> None:
    """Load the shipped model, the lexicons and the Korean tokeniser now (about two seconds,
    most of it holding the interpreter lock), not on the first text analysed."""
    analyzer = default_analyzer()
    analyzer.analyze_many(["배송이 늦어서 아쉬워요.", "The refund arrived quickly, thanks."])


def analyze(text: str, lang: Language | None = None) -> Analysis:
    """Analyse one text with the shipped model (or the lexicon when there is none)."""
    return default_analyzer().analyze(text, lang)


def analyze_many(
    texts: Iterable[str], langs: Sequence[Language | None] | None = None, *, batch_size: int = 256
) -> list[Analysis]:
    """Analyse many texts in batches."""
    analyzer = default_analyzer()
    items = list(texts)
    languages = list(langs) if langs is not None else [None] * len(items)
    out: list[Analysis] = []
    for start in range(0, len(items), batch_size):
        out.extend(
            analyzer.analyze_many(
                items[start : start + batch_size], languages[start : start + batch_size]
            )
        )
    return out
