"""Normalisation of customer texts before analysis.

Korean: repeated characters squeezed (ㅋㅋㅋㅋ → ㅋㅋ, !!!! → !!), emoticons kept as they are,
spacing restored with Kiwi where a text runs words together, typos corrected with Kiwi's typo
model (at the morpheme level, see :mod:`cxloop.text.tokens`). English: lower-cased, contractions
expanded (don't → do not), letters stretched for emphasis squeezed (soooo → soo).
"""

from __future__ import annotations

import re
import unicodedata

from cxloop.text.lang import Language

_REPEAT = re.compile(r"([ㄱ-ㅎㅏ-ㅣ!?~.^;ㅠㅜ])\1{2,}")
_LATIN_REPEAT = re.compile(r"([a-z])\1{2,}")
_HANGUL_RUN = re.compile(r"[가-힣]{10,}")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_SENT_END_EN = re.compile(r"(?<=[.!?])\s+|\n+")

_CONTRACTIONS = [
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bcannot\b"), "can not"),
    (re.compile(r"\bshan't\b"), "shall not"),
    (re.compile(r"\bain't\b"), "is not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"\bi'm\b"), "i am"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'d\b"), " would"),
    (re.compile(r"\b(it|that|there|what|he|she|who)'s\b"), r"\1 is"),
]
# apostrophes without the apostrophe: dont, doesnt, wont, cant, isnt, didnt
_BARE_NEGATIONS = re.compile(
    r"\b(do|does|did|is|are|was|were|has|have|had|could|would|should|wo|ca)nt\b"
)


def squeeze_repeats(text: str) -> str:
    """Runs of three or more identical jamo or punctuation marks become two: ㅋㅋㅋㅋ → ㅋㅋ."""
    return _REPEAT.sub(r"\1\1", text)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\u2019", "'").replace("\u2018", "'")
    text = _SPACES.sub(" ", text)
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def needs_spacing(text: str) -> bool:
    """True when words run together: a run of ten Hangul syllables without a space."""
    return bool(_HANGUL_RUN.search(text))


def restore_spacing(text: str) -> str:
    """Kiwi's spacing restoration; existing spaces are kept."""
    from cxloop.text.tokens import _analyse_lock, kiwi

    analyser = kiwi()
    with _analyse_lock:
        return str(analyser.space(text, reset_whitespace=False))


def normalize_korean(text: str) -> str:
    text = squeeze_repeats(_clean(text))
    # Kiwi's spacing also splits well-spaced text in odd places ("일주일" → "일 주일"), so it
    # only runs on texts that need it.
    if needs_spacing(text):
        text = restore_spacing(text)
    return text


def normalize_english(text: str) -> str:
    text = _clean(text).lower()
    for pattern, repl in _CONTRACTIONS:
        text = pattern.sub(repl, text)
    text = _BARE_NEGATIONS.sub(lambda m: {"wo": "will", "ca": "can"}.get(m[1], m[1]) + " not", text)
    text = _LATIN_REPEAT.sub(r"\1\1", text)
    return squeeze_repeats(text)


def normalize(text: str, lang: Language) -> str:
    """The text as the analysers read it (see the module docstring)."""
    if lang == "ko":
        return normalize_korean(text)
    if lang == "en":
        return normalize_english(text)
    return squeeze_repeats(_clean(text))


def split_sentences(text: str, lang: Language) -> list[str]:
    """Sentences of a normalised text: Kiwi's splitter for Korean, punctuation for the rest."""
    if not text.strip():
        return []
    if lang == "ko":
        from cxloop.text.tokens import _analyse_lock, kiwi

        analyser = kiwi()
        with _analyse_lock:
            return [s.text.strip() for s in analyser.split_into_sents(text) if s.text.strip()]
    return [s.strip() for s in _SENT_END_EN.split(text) if s.strip()]
