"""The terms the help bot matches a customer's question to articles by, the same for both.

Two kinds, because customers write in two ways an article never does:
- word terms: Kiwi's morphemes (nouns, roots, verb and adjective stems as lemmas; English words
  Kiwi meets as foreign words, lemmatised), with how customer service is asked about in general
  mapped to the words help articles use (``택배`` → ``배송``, ``캔슬`` → ``취소``, ``ㄱㄴ`` →
  ``가능``, ``refund`` ← ``money back``), from ``lexicon.toml``; nothing in it names an article.
- character n-grams: syllable pairs of Hangul and letter triples of Latin words, which still
  match through typos, missing spaces and endings Kiwi reads differently.

Words that only set the scene (when, who, how strongly: ``오늘``, ``친구``, ``진짜``, ``yesterday``)
are read as nothing, on both sides; they are listed in ``lexicon.toml`` with the lexicon. A
question of any length is read up to ``MAX_CHARS`` (its beginning and its end, where a long
message states what it wants).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cxloop.text.normalize import squeeze_repeats
from cxloop.text.tokens import Morph, korean_morphs, korean_morphs_many, lemmatize_en

MAX_CHARS = 1_200
_HEAD, _TAIL = 700, 500
# The weight of a term the lexicon adds, against the customer's own words: weighing them less
# (0.5, 0.75) answered fewer tuning questions right.
EXPANDED = 1.0

# Kiwi tags of morphemes that carry what a question is about.
_CONTENT_TAGS = frozenset({"NNG", "NNP", "XR", "SL", "SH", "SN"})
_PREDICATE_TAGS = frozenset({"VV", "VA"})
_WORD = re.compile(r"[0-9a-z]+|[가-힣]+|[ㄱ-ㅎㅏ-ㅣ]+")
_LATIN_WORD = re.compile(r"[a-z][a-z0-9]*")
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_MAX_TERM = 40
_MEANINGFUL = re.compile(r"[가-힣a-z0-9]")

# English words that say nothing of the topic (questions are built of them).
# fmt: off
_EN_STOP = frozenset({
    "a", "an", "the", "i", "me", "my", "mine", "we", "our", "you", "your", "it", "its", "they",
    "them", "their", "he", "she", "his", "her", "this", "that", "these", "those", "there",
    "to", "of", "in", "on", "at", "for", "from", "by", "with", "about", "as", "into", "onto",
    "be", "do", "have", "can", "could", "will", "would", "should", "shall", "may", "might",
    "must", "get", "what", "when", "where", "which", "who", "whom", "why", "how", "if", "or",
    "and", "but", "so", "not", "no", "yes", "just", "please", "pls", "plz", "thank", "thanks",
    "hi", "hello", "hey", "some", "any", "all", "also", "too", "very", "really",
    "is", "are", "am", "was", "were", "been", "im", "u", "ur", "want", "need", "know",
    "tell", "ask", "help", "question", "one", "still", "yet", "now", "then", "than", "ok",
    "okay", "lol", "like", "does", "did",
})
# Korean lemmas too common in questions to tell articles apart.
_KO_STOP = frozenset({
    "하다", "되다", "있다", "없다", "이다", "아니다", "않다", "같다", "보다", "주다", "싶다",
    "알다", "모르다", "그렇다", "어떻다", "이렇다", "좀", "것", "수", "거", "때", "말", "혹시",
    "받다",
    "안녕", "안녕하세요", "감사", "문의", "질문", "궁금", "답변", "부탁", "드리다", "여쭈다",
})
# fmt: on


@cache
def _lexicon() -> tuple[dict[str, tuple[str, ...]], tuple[tuple[re.Pattern[str], str], ...]]:
    raw = tomllib.loads((Path(__file__).parent / "lexicon.toml").read_text("utf-8"))
    synonyms = {key: tuple(values) for key, values in raw["synonyms"].items()}
    phrases = tuple((re.compile(pattern), value) for pattern, value in raw["phrases"].items())
    return synonyms, phrases


@cache
def _fillers() -> frozenset[str]:
    raw = tomllib.loads((Path(__file__).parent / "lexicon.toml").read_text("utf-8"))
    return frozenset(raw["fillers"]["words"])


def clip(text: str) -> str:
    """The part of a question that is read: all of it, or its beginning and its end."""
    if len(text) <= MAX_CHARS:
        return text
    return f"{text[:_HEAD]}\n{text[-_TAIL:]}"


def normal(text: str) -> str:
    """Composed Hangul, lower case, repeats squeezed (compatibility jamo such as ㄱㄴ kept:
    NFKC would turn them into conjoining jamo)."""
    text = clip(text).encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    text = unicodedata.normalize("NFC", text).translate(_FULL_WIDTH).lower()
    return squeeze_repeats(text)


@cache
def _as_terms(word: str) -> tuple[str, ...]:
    """A lexicon word as the index reads it (현금서비스 → 현금, 서비스), so that what a mapping
    adds matches the articles' own analysis."""
    text = normal(word)
    return tuple(_terms(text, korean_morphs(text, typos=False), expand=False))


def _expand(terms: list[str]) -> list[str]:
    synonyms, _phrases = _lexicon()
    out = []
    for term in terms:
        out.append(term)
        for synonym in synonyms.get(term, ()):
            out.extend(_as_terms(synonym))
    return out


@dataclass(frozen=True)
class QuestionWords:
    """A question's word terms: each with its weight, and which of them the customer wrote
    (each with its kind and what the lexicon reads it as)."""

    weights: dict[str, float]
    own: dict[str, str]  # term → noun, predicate or slang
    readings: dict[str, tuple[str, ...]]  # an own term → the terms the lexicon adds for it


def question_words(text: str) -> QuestionWords:
    """A question's word terms, read with Kiwi's typo model when the text looks odd: what the
    customer wrote weighs 1, what the lexicon reads it as ``EXPANDED``."""
    text = normal(text)
    own = dict(_own_terms(korean_morphs(text, typos=True) if text.strip() else []))
    synonyms, phrases = _lexicon()
    readings = {
        term: tuple(t for synonym in synonyms.get(term, ()) for t in _as_terms(synonym))
        for term in own
    }
    weights = dict.fromkeys(own, 1.0)
    added = [t for terms in readings.values() for t in terms]
    added += [t for pattern, value in phrases if pattern.search(text) for t in _as_terms(value)]
    for term in added:
        weights.setdefault(term, EXPANDED)
    return QuestionWords(weights, own, readings)


def word_terms(text: str, *, typos: bool = False) -> list[str]:
    """Word terms of ``text`` (morpheme lemmas, English lemmas, lexicon mappings); with
    ``typos``, a text Kiwi finds odd is read again with its typo model (for questions)."""
    text = normal(text)
    return _terms(text, korean_morphs(text, typos=typos) if text.strip() else [])


def word_terms_many(texts: list[str]) -> list[list[str]]:
    """Word terms of each text, analysed as one batch (building an index)."""
    normalised = [normal(text) for text in texts]
    analysed = korean_morphs_many([text or " " for text in normalised])
    return [_terms(text, morphs) for text, morphs in zip(normalised, analysed, strict=True)]


def _own_terms(morphs: list[Morph]) -> list[tuple[str, str]]:
    """The terms the text itself holds, each with its kind: ``noun`` (nouns, roots, numbers,
    English words), ``predicate`` (verb and adjective stems) or ``slang``."""
    synonyms, _phrases = _lexicon()
    fillers = _fillers()
    terms: list[tuple[str, str]] = []
    for morph in morphs:
        tag, form = morph.tag, morph.form
        if tag == "SL":
            for word in _LATIN_WORD.findall(form):
                lemma = lemmatize_en(word) if len(word) > 1 else word
                if not {word, lemma} & (_EN_STOP | fillers) and len(word) > 1:
                    terms.append((lemma, "noun"))
        elif tag in _CONTENT_TAGS:
            if form not in _KO_STOP and form not in fillers and _MEANINGFUL.search(form):
                terms.append((form, "noun"))
        elif tag in _PREDICATE_TAGS:
            if morph.lemma not in _KO_STOP:
                terms.append((morph.lemma, "predicate"))
        elif form in synonyms:  # slang Kiwi reads as something else (ㄱㄴ, ㅎㅂ)
            terms.append((form, "slang"))
    return [(term[:_MAX_TERM], kind) for term, kind in terms]


def _terms(text: str, morphs: list[Morph], *, expand: bool = True) -> list[str]:
    terms = [term for term, _kind in _own_terms(morphs)]
    if not expand:
        return terms
    _synonyms, phrases = _lexicon()
    extra = [t for pattern, value in phrases if pattern.search(text) for t in _as_terms(value)]
    return _expand(terms) + extra


def gram_terms(text: str) -> list[str]:
    """Character n-grams: Hangul syllable pairs (a single syllable alone), Latin triples with
    the word's edges marked."""
    grams: list[str] = []
    fillers = _fillers()
    for word in (w[:_MAX_TERM] for w in _WORD.findall(normal(text))):
        if word[0] >= "가":
            if word in fillers:
                continue
            if len(word) == 1:
                grams.append(word)
            grams.extend(word[i : i + 2] for i in range(len(word) - 1))
        elif word[0].isascii() and word[0].isalpha():
            if word in _EN_STOP or word in fillers:
                continue
            marked = f"#{word}#"
            grams.extend(marked[i : i + 3] for i in range(len(marked) - 2))
        elif word.isdigit():
            grams.append(word)
    return grams
