"""Morphemes and lemmas: kiwipiepy for Korean (one shared, lazily created analyser), a small
regex tokenizer and suffix-stripping lemmatiser for English (no NLTK, nothing to download)."""

from __future__ import annotations

import os
import re
import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiwipiepy import Kiwi

# Kiwi's tags of predicates whose lemma is "<stem>다"
PREDICATE_TAGS = frozenset({"VV", "VA", "VX", "VCN", "VCP"})
NOUN_TAGS = frozenset({"NNG", "NNP", "XR", "SL", "SH"})


@dataclass(frozen=True, slots=True)
class Morph:
    """One morpheme (Korean) or word (English) of a text."""

    form: str  # surface form as analysed (typo-corrected for Korean)
    tag: str  # Kiwi's POS tag; for English a coarse tag: W (word), NUM, EMO, PUNCT
    lemma: str  # dictionary form: 좋다, 배송, deliver
    start: int  # character offsets into the analysed text
    end: int

    @property
    def key(self) -> str:
        return f"{self.lemma}/{self.tag}"


# --- Korean -------------------------------------------------------------------------------------

_kiwi: Kiwi | None = None
_kiwi_lock = threading.Lock()
# Kiwi's analyser is a C++ object shared by every thread of the process; we serialise calls
# into it because kiwipiepy does not document it as thread-safe.
_analyse_lock = threading.Lock()

# Typo correction triples the cost of analysis, so it is only tried again on a text whose plain
# analysis looks broken: an out-of-vocabulary morpheme or a guessed proper noun.
TYPOS = "basic"
BATCH_WORKERS = min(2, os.cpu_count() or 1)


def kiwi() -> Kiwi:
    """The process-wide Kiwi analyser, created on first use (about 330 MB, 2 s)."""
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                from kiwipiepy import Kiwi

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    # The multi-word dictionary (WikiData proper nouns) costs ~190 MB and adds
                    # nothing to customer feedback. One text is analysed on the caller's
                    # thread; a batch (``korean_morphs_many``) on up to two worker threads.
                    created = Kiwi(num_workers=BATCH_WORKERS, load_multi_dict=False)
                created.tokenize("준비")  # finish Kiwi's lazy initialisation now
                _kiwi = created
    return _kiwi


def _suspicious(tokens: list[Any]) -> bool:
    for tok in tokens:
        tag = str(tok.tag)
        if tok.oov or (tag == "NNP" and len(tok.form) <= 2) or tag == "UN":
            return True
    return False


def _to_morph(tok: Any, offset: int = 0) -> Morph:
    tag = str(tok.tag).split("-")[0]  # VV-R / VA-I (regular/irregular) → VV / VA
    lemma = tok.form + "다" if tag in PREDICATE_TAGS or tag in ("XSV", "XSA") else tok.form
    start = tok.start + offset
    return Morph(tok.form, tag, lemma, start, start + tok.len)


def korean_sentences(text: str, *, typos: bool = True) -> list[list[Morph]]:
    """Kiwi's morphemes of ``text``, grouped by sentence (Kiwi's sentence split)."""
    if not text.strip():
        return []
    analyser = kiwi()
    with _analyse_lock:
        sents = analyser.tokenize(text, split_sents=True)
        if typos and any(_suspicious(s) for s in sents):
            # Kiwi weighs the typo costs itself and returns the plain reading when no
            # correction is cheaper, so its answer is taken as it is.
            sents = analyser.tokenize(text, split_sents=True, typos=TYPOS)
    return [[_to_morph(t) for t in sent] for sent in sents if sent]


def korean_morphs(text: str, *, typos: bool = True) -> list[Morph]:
    """Kiwi's morphemes of ``text`` in one list."""
    return [m for sent in korean_sentences(text, typos=typos) for m in sent]


def korean_morphs_many(texts: list[str]) -> list[list[Morph]]:
    """Kiwi's morphemes of each text (no typo correction), a batch analysed in parallel."""
    if not texts:
        return []
    analyser = kiwi()
    with _analyse_lock:
        if BATCH_WORKERS > 1:
            results = list(analyser.tokenize(texts))
        else:
            results = [analyser.tokenize(text) for text in texts]
    return [[_to_morph(t) for t in tokens] for tokens in results]


def join_morphs(morphs: list[Morph]) -> str:
    """Korean text rebuilt from morphemes (Kiwi's ``join``), used to show typo corrections."""
    analyser = kiwi()
    with _analyse_lock:
        return str(analyser.join([(m.form, m.tag) for m in morphs]))


# --- English ------------------------------------------------------------------------------------

EMOTICON_RE = r"(?::-?[)(DPp/]|;-?\)|<3|\^\^|\^_\^|T_T|ㅠ+|ㅜ+|ㅋ+|ㅎ+)"
_EN_TOKEN = re.compile(rf"{EMOTICON_RE}|[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)?|[!?]+|[^\sa-z\d]")

# fmt: off
_IRREGULAR = {
    "was": "be", "were": "be", "is": "be", "are": "be", "am": "be", "been": "be", "being": "be",
    "has": "have", "had": "have", "did": "do", "does": "do", "done": "do", "went": "go",
    "gone": "go", "got": "get", "gotten": "get", "came": "come", "took": "take", "taken": "take",
    "made": "make", "paid": "pay", "sent": "send", "bought": "buy", "brought": "bring",
    "told": "tell", "said": "say", "broke": "break", "broken": "break", "left": "leave",
    "kept": "keep", "felt": "feel", "found": "find", "gave": "give", "given": "give",
    "thought": "think", "knew": "know", "known": "know", "worse": "bad", "worst": "bad",
    "better": "good", "best": "good", "children": "child", "people": "people", "men": "man",
    "women": "woman", "feet": "foot", "lost": "lose", "spent": "spend", "wrote": "write",
    "written": "write", "ran": "run", "began": "begin", "begun": "begin", "stuck": "stick",
}
# fmt: on
# words whose ending only looks like an inflection
# fmt: off
_KEEP = frozenset({
    "was", "has", "is", "this", "his", "its", "us", "bus", "yes", "less", "unless", "process",
    "address", "business", "class", "glass", "miss", "boss", "loss", "access", "express", "plus",
    "status", "bonus", "thus", "always", "news", "series", "species", "lens", "gas", "minus",
    "need", "speed", "feed", "seed", "bed", "red", "shed", "hundred", "indeed", "used", "naked",
    "wicked", "sacred", "thing", "nothing", "something", "anything", "everything", "king",
    "ring", "sing", "bring", "spring", "string", "sting", "wing", "ceiling", "during", "morning",
    "evening", "awning", "pudding", "wedding", "clothing", "shipping", "packaging", "ping",
    "sibling", "darling", "boring", "amazing", "interesting", "disappointing",
    "annoying", "frustrating", "confusing", "charging", "pricing", "billing", "pending",
    "missing", "outstanding", "misleading", "rude", "crude",
})
# fmt: on
_VOWELS = set("aeiou")


def lemmatize_en(word: str) -> str:
    """A small suffix-stripping lemmatiser: good enough to match lexicon and seed lemmas."""
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if w in _KEEP or len(w) <= 3 or "'" in w:
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "shes", "ches", "xes", "zes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            stem = w[: -len(suffix)]
            if suffix == "ed" and stem.endswith("i"):
                return stem[:-1] + "y"  # tried → try
            if len(stem) >= 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
                return stem[:-1]  # stopped → stop
            if not any(c in _VOWELS for c in stem):
                return w
            if stem[-1] in "cvguz":  # charged → charge, arrived → arrive
                return stem + "e"
            return stem
    return w


def english_morphs(text: str) -> list[Morph]:
    """Words of lower-cased English text with coarse tags and lemmas."""
    out: list[Morph] = []
    for m in _EN_TOKEN.finditer(text):
        tok = m.group(0)
        if re.fullmatch(EMOTICON_RE, tok):
            tag, lemma = "EMO", tok
        elif tok[0].isdigit():
            tag, lemma = "NUM", tok
        elif tok[0].isalpha():
            tag, lemma = "W", lemmatize_en(tok)
        else:
            tag, lemma = "PUNCT", tok
        out.append(Morph(tok, tag, lemma, m.start(), m.end()))
    return out
