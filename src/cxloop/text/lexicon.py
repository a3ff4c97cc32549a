"""The project's own sentiment lexicon and the rule-based scorer over it.

The lexicon lives in ``lexicon/ko.tsv`` and ``lexicon/en.tsv`` (``term, pos, score, note``;
Korean terms are Kiwi lemmas with their tag, or ``EXPR`` for surface slang and emoticons such as
ㅠㅠ, 갓성비, ^^) and ``lexicon/modifiers.tsv`` (``lang, term, kind, value`` with kind one of
negator, intensifier, diminisher, contrast). The scorer reads a text clause by clause:

- negation flips a term: Korean 안/못 before a predicate, -지 않-/-지 못-, a noun followed by
  없다 ("문제 없어요"), the prefixes 불-/비-/무-; English not/never/no within three words;
- intensifiers and diminishers scale the next term (너무 좋아요, 조금 아쉬워요, really bad);
- after a contrast (-지만, -는데, 근데, but, however) the later clause weighs more;
- surface expressions are matched on the text (ㅠㅠ, ^^, 갓성비, "waste of money");
- sarcasm cues flip praise: speed praise next to a long wait ("참 빠르네요 일주일 걸렸어요"),
  ironic praise with ^^ after a complaint, stock phrases ("thanks for nothing").
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cxloop.text.lang import Language
from cxloop.text.tokens import Morph

LEXICON_DIR = Path(__file__).parent / "lexicon"

NEGATE_POSITIVE = -0.8  # "안 좋아요": most of the praise turns into complaint
NEGATE_NEGATIVE = -0.5  # "나쁘지 않아요": mild approval, not praise
NEGATED_NEUTRAL = -0.3  # "안 와요", "작동 안 해요": a failure, in customer language
BEFORE_CONTRAST = 0.6
AFTER_CONTRAST = 1.5
QUESTION_DAMPING = 0.5
SCORE_SCALE = 4.0  # raw sum → (-1, 1) by x / sqrt(x² + SCALE)
LABEL_THRESHOLD = 0.15

# Grammar the scorer needs even when modifiers.tsv is missing; the file adds to these.
_DEFAULT_MODIFIERS: dict[str, dict[str, dict[str, float]]] = {
    "ko": {
        "negator": {"안": 1, "못": 1, "않다": 1, "못하다": 1, "말다": 1},
        "intensifier": {
            "너무": 1.5,
            "정말": 1.5,
            "진짜": 1.5,
            "완전": 1.6,
            "엄청": 1.6,
            "넘": 1.5,
            "매우": 1.5,
            "아주": 1.4,
            "제일": 1.4,
            "가장": 1.4,
            "되게": 1.4,
            "꽤": 1.2,
            "참": 1.3,
            "몹시": 1.5,
            "대박": 1.5,
            "겁나": 1.6,
            "존나": 1.8,
            "개": 1.6,
            "졸라": 1.6,
            "굉장히": 1.5,
            "상당히": 1.3,
            "전혀": 1.3,
            "하나도": 1.3,
        },
        "diminisher": {
            "조금": 0.6,
            "좀": 0.7,
            "약간": 0.6,
            "살짝": 0.6,
            "다소": 0.7,
            "그나마": 0.6,
        },
        "contrast": {
            "지만": 1,
            "는데": 1,
            "ㄴ데": 1,
            "ᆫ데": 1,
            "은데": 1,
            "으나": 1,
            "나": 1,
            "하지만": 1,
            "그런데": 1,
            "근데": 1,
            "그러나": 1,
            "그래도": 1,
            "반면": 1,
            "다만": 1,
            "그치만": 1,
        },
    },
    "en": {
        "negator": {
            "not": 1,
            "no": 1,
            "never": 1,
            "nothing": 1,
            "none": 1,
            "nobody": 1,
            "neither": 1,
            "nor": 1,
            "without": 1,
            "hardly": 1,
            "barely": 1,
            "nowhere": 1,
            "lack": 1,
        },
        "intensifier": {
            "very": 1.5,
            "really": 1.5,
            "so": 1.4,
            "extremely": 1.8,
            "super": 1.6,
            "totally": 1.5,
            "absolutely": 1.6,
            "completely": 1.5,
            "incredibly": 1.7,
            "too": 1.3,
            "quite": 1.2,
            "most": 1.3,
            "truly": 1.5,
            "highly": 1.5,
            "such": 1.3,
            "utterly": 1.7,
            "beyond": 1.3,
        },
        "diminisher": {
            "slightly": 0.5,
            "somewhat": 0.6,
            "a bit": 0.6,
            "little": 0.6,
            "kinda": 0.6,
            "kind of": 0.6,
            "sort of": 0.6,
            "fairly": 0.8,
            "rather": 0.8,
            "bit": 0.6,
        },
        "contrast": {"but": 1, "however": 1, "yet": 1, "though": 1, "although": 1, "except": 1},
    },
}

# a tiny fallback lexicon so the scorer still works if the TSVs are missing
_DEFAULT_TERMS: dict[str, dict[str, float]] = {
    "ko": {
        "좋다": 1.5,
        "나쁘다": -1.5,
        "친절하다": 1.5,
        "불친절하다": -1.5,
        "늦다": -1.0,
        "빠르다": 1.0,
        "느리다": -1.0,
        "만족": 1.5,
        "불만": -1.5,
        "최고": 2.0,
        "최악": -2.0,
        "비싸다": -1.0,
        "싸다": 0.8,
        "괜찮다": 0.8,
        "별로": -1.2,
        "실망": -1.5,
        "감사": 1.0,
        "고맙다": 1.0,
        "추천": 1.2,
        "짜증": -1.5,
        "화나다": -1.5,
        "불편하다": -1.2,
        "편하다": 1.0,
        "맛있다": 1.5,
        "맛없다": -1.5,
        "문제": -0.8,
        "고장": -1.2,
        "오류": -1.0,
        "엉망": -1.8,
        "꼼꼼하다": 1.2,
        "아쉽다": -0.8,
        "튕기다": -1.2,
        "환불": -0.2,
    },
    "en": {
        "good": 1.5,
        "great": 1.8,
        "excellent": 2.0,
        "bad": -1.5,
        "terrible": -2.0,
        "awful": -2.0,
        "love": 1.5,
        "hate": -1.8,
        "slow": -1.0,
        "fast": 1.0,
        "late": -1.0,
        "rude": -1.5,
        "friendly": 1.3,
        "helpful": 1.3,
        "expensive": -0.8,
        "cheap": 0.5,
        "disappoint": -1.5,
        "broken": -1.5,
        "break": -1.0,
        "happy": 1.5,
        "satisfied": 1.5,
        "recommend": 1.3,
        "worst": -2.0,
        "best": 2.0,
        "crash": -1.2,
        "problem": -0.8,
        "thanks": 0.8,
        "thank": 0.8,
        "easy": 1.0,
        "poor": -1.3,
        "annoying": -1.3,
    },
}
_DEFAULT_EXPR: dict[str, dict[str, float]] = {
    "ko": {"ㅠㅠ": -1.0, "ㅜㅜ": -1.0, "^^": 0.6, "ㅎㅎ": 0.4, "갓성비": 1.5, "개꿀": 1.5},
    "en": {":)": 1.0, ":(": -1.0, "waste of money": -2.0, "thanks for nothing": -2.0},
}

_KO_SPEED_PRAISE = frozenset({"빠르다", "신속하다", "빨리", "총알", "빛의", "광속", "LTE"})
_KO_LONG_WAIT = re.compile(
    r"일주일|열흘|보름|한\s?달|두\s?달|며칠|몇\s?주|\d+\s?(?:일|주|주일|달|개월)\s?(?:째|만|이나|걸|지나|넘)"
)
_EN_SPEED_PRAISE = frozenset({"fast", "quick", "speedy", "prompt", "rapid", "lightning"})
_EN_LONG_WAIT = re.compile(
    r"\b(?:\d+|two|three|four|five|six|seven|eight|nine|ten|a|several)\s+(?:more\s+)?"
    r"(?:days?|weeks?|months?)\b"
)
_KO_IRONY_ADVERBS = frozenset({"참", "아주", "정말", "참으로", "역시", "진짜", "너무"})
_KO_IRONY_EMOTICONS = ("^^", "^_^", "ㅎㅎ", "^^;")
_EN_SARCASM = re.compile(
    r"thanks for nothing|yeah,? right|oh,? great|just great"
    r"|great job,? (?:guys|team)?.*(?:not|never|again)"
    r"|love (?:how|that|waiting)|what a (?:joke|surprise)|so helpful,? not|thanks a lot for"
    r"|(?:great|awesome|fantastic|brilliant),? (?:another|now|again)"
)
_KO_QUESTION_ENDINGS = frozenset(
    {
        "나요",
        "까요",
        "ㄹ까요",
        "ᆯ까요",
        "ᆸ니까",
        "습니까",
        "니",
        "냐",
        "죠",
        "가요",
        "은가요",
        "ᆫ가요",
        "는지",
        "ᆫ지",
        "을지",
    }
)
_KO_PREFIX_NEGATION = frozenset({"불", "비", "무", "몰", "미"})
_KO_PARTICLES = frozenset({"JKS", "JKC", "JKO", "JX", "JKB", "JC"})
_KO_PREDICATES = frozenset({"VV", "VA", "VX", "XSV", "XSA"})
_KO_SPLIT_EC = frozenset({"고", "며", "으며", "면서", "으면서"})
_EN_CLAUSE_PUNCT = frozenset({",", ".", ";", "!", "?", "!!", "??", ":"})


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: cached per instance
class Lexicon:
    """Scores and modifiers of one language."""

    lang: Language
    terms: dict[tuple[str, str], float]  # (lemma, pos) → score
    lemmas: dict[str, float]  # lemma → score, whatever the pos
    expressions: dict[str, float]  # surface string → score
    negators: frozenset[str]
    intensifiers: dict[str, float]
    diminishers: dict[str, float]
    contrast: frozenset[str]

    def term_score(self, lemma: str, *tags: str) -> float | None:
        for tag in tags:
            score = self.terms.get((lemma, tag))
            if score is not None:
                return score
        return self.lemmas.get(lemma)


def _read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(
            (line for line in fh if line.strip() and not line.startswith("#")),
            delimiter="\t",
            quoting=csv.QUOTE_NONE,
        )
        return [row for row in rows if row.get("term")]


@cache
def load_lexicon(lang: Language, directory: Path = LEXICON_DIR) -> Lexicon:
    """The lexicon of ``lang`` from ``directory`` (built-in defaults fill any gap)."""
    language = "ko" if lang == "ko" else "en"
    terms: dict[tuple[str, str], float] = {}
    lemmas: dict[str, float] = {}
    expressions: dict[str, float] = dict(_DEFAULT_EXPR[language])
    rows = _read_tsv(directory / f"{language}.tsv")
    if not rows:
        lemmas.update(_DEFAULT_TERMS[language])
    for row in rows:
        term = row["term"].strip()
        pos = (row.get("pos") or "").strip()
        try:
            score = max(-2.0, min(2.0, float(row.get("score") or 0)))
        except ValueError:
            continue
        if language == "en":
            term = term.lower()
        elif pos in _KO_PREDICATES and not term.endswith("다"):
            term += "다"  # Kiwi stems (좋, 만족하) → the lemmas the scorer looks up (좋다)
        if pos.upper() == "EXPR" or (language == "en" and " " in term):
            expressions[term] = score
            continue
        terms[(term, pos)] = score
        # the pos-agnostic index keeps the strongest reading of a lemma
        if abs(score) > abs(lemmas.get(term, 0.0)):
            lemmas[term] = score

    mods = {kind: dict(values) for kind, values in _DEFAULT_MODIFIERS[language].items()}
    for row in _read_tsv(directory / "modifiers.tsv"):
        if (row.get("lang") or "").strip() != language:
            continue
        kind = (row.get("kind") or "").strip()
        if kind not in mods:
            continue
        term = row["term"].strip()
        try:
            value = float(row.get("value") or 1)
        except ValueError:
            value = 1.0
        mods[kind][term.lower() if language == "en" else term] = value
    return Lexicon(
        lang="ko" if language == "ko" else "en",
        terms=terms,
        lemmas=lemmas,
        expressions=expressions,
        negators=frozenset(mods["negator"]),
        intensifiers=mods["intensifier"],
        diminishers=mods["diminisher"],
        contrast=frozenset(mods["contrast"]),
    )


# --- clauses ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """A stretch of a text with its own sentiment: split at sentence ends and contrasts."""

    morphs: tuple[Morph, ...]
    start: int
    end: int
    weight: float = 1.0  # contrast: the clause after -지만/but weighs more
    ends_sentence: bool = False


def split_clauses(
    sentences: Sequence[Sequence[Morph]], lang: Language, lexicon: Lexicon | None = None
) -> list[Clause]:
    """Clauses of analysed sentences, each with the weight contrast gives it."""
    lex = lexicon or load_lexicon(lang)
    raw: list[tuple[list[Morph], bool, bool]] = []  # morphs, ends in contrast, ends sentence
    for sent in sentences:
        current: list[Morph] = []
        for i, m in enumerate(sent):
            nxt = sent[i + 1] if i + 1 < len(sent) else None
            if lang == "ko":
                if m.tag == "MAJ" and m.form in lex.contrast and current:
                    raw.append((current, True, False))
                    current = [m]
                    continue
                current.append(m)
                if (
                    nxt is not None
                    and m.tag == "EC"
                    and (m.form in lex.contrast or m.form in _KO_SPLIT_EC)
                    and nxt.tag not in ("VX", "SF", "SW", "SP")
                ):
                    raw.append((current, m.form in lex.contrast, False))
                    current = []
            else:
                if m.form in lex.contrast and m.form in ("but", "however", "yet") and current:
                    raw.append((current, True, False))
                    current = [m]
                    continue
                current.append(m)
                if m.form in _EN_CLAUSE_PUNCT and nxt is not None:
                    raw.append((current, False, m.form in ".!?"))
                    current = []
        if current:
            raw.append((current, False, True))
        elif raw:
            last = raw[-1]
            raw[-1] = (last[0], last[1], True)

    clauses: list[Clause] = []
    for idx, (morphs, contrast_after, ends_sentence) in enumerate(raw):
        weight = 1.0
        if contrast_after:
            weight = BEFORE_CONTRAST
        if idx > 0 and raw[idx - 1][1]:
            weight = AFTER_CONTRAST if not contrast_after else 1.0
        if lang != "ko" and morphs[0].form in ("although", "though", "even"):
            weight = BEFORE_CONTRAST
        clauses.append(
            Clause(tuple(morphs), morphs[0].start, morphs[-1].end, weight, ends_sentence)
        )
    return clauses


# --- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClauseScore:
    text: str
    start: int
    end: int
    score: float  # the clause's raw lexicon sum, before its contrast weight
    weight: float
    sarcastic: bool = False


@dataclass(frozen=True)
class LexiconScore:
    score: float  # in (-1, 1)
    label: str
    clauses: tuple[ClauseScore, ...]
    sarcasm: bool
    features: tuple[float, ...] = field(default=())


FEATURE_NAMES = (
    "score", "raw", "positive_sum", "negative_sum", "positive_terms", "negative_terms",
    "negations", "sarcasm", "question", "last_clause", "contrast", "no_hits",
)  # fmt: skip


def label_of(score: float, threshold: float = LABEL_THRESHOLD) -> str:
    if score >= threshold:
        return "positive"
    if score <= -threshold:
        return "negative"
    return "neutral"


@dataclass
class _Tally:
    positive: float = 0.0
    negative: float = 0.0
    n_positive: int = 0
    n_negative: int = 0
    negations: int = 0
    speed_praise: bool = False

    def add(self, value: float) -> None:
        if value > 0:
            self.positive += value
            self.n_positive += 1
        elif value < 0:
            self.negative -= value
            self.n_negative += 1


def _negated(value: float) -> float:
    if value > 0:
        return value * NEGATE_POSITIVE
    if value < 0:
        return value * NEGATE_NEGATIVE
    return NEGATED_NEUTRAL


@cache
def _expression_pattern(lex: Lexicon) -> re.Pattern[str] | None:
    """All surface expressions of a lexicon in one regex, longest first (leftmost-longest)."""
    if not lex.expressions:
        return None
    parts = []
    for expr in sorted(lex.expressions, key=len, reverse=True):
        escaped = re.escape(expr)
        if lex.lang != "ko" and expr[0].isalnum() and expr[-1].isalnum():
            escaped = r"\b" + escaped + r"\b"
        parts.append(escaped)
    return re.compile("|".join(parts))


def _expression_hits(
    text: str, lex: Lexicon
) -> tuple[list[tuple[int, int, float]], list[tuple[int, int]]]:
    pattern = _expression_pattern(lex)
    if pattern is None:
        return [], []
    hits = [(m.start(), m.end(), lex.expressions[m.group(0)]) for m in pattern.finditer(text)]
    return hits, [(start, end) for start, end, _ in hits]


def _score_korean_clause(
    morphs: Sequence[Morph], lex: Lexicon, covered: list[tuple[int, int]], tally: _Tally
) -> tuple[float, bool]:
    """Sum of the clause's term scores after negation and modifiers; and whether it asks."""
    total = 0.0
    pending_negation = False
    multiplier = 1.0
    skip_until = -1
    n = len(morphs)
    for i, m in enumerate(morphs):
        if i <= skip_until:
            continue
        if any(s <= m.start < e for s, e in covered):
            continue
        if m.tag == "MAG" and m.form in ("안", "못"):
            pending_negation = True
            tally.negations += 1
            continue
        if m.form in lex.intensifiers and m.tag in ("MAG", "NNG", "XPN", "IC", "MM"):
            multiplier *= lex.intensifiers[m.form]
            continue
        if m.form in lex.diminishers and m.tag in ("MAG", "NNG"):
            multiplier *= lex.diminishers[m.form]
            continue
        nxt = morphs[i + 1] if i + 1 < n else None
        value: float | None = None
        is_predicate = m.tag in _KO_PREDICATES
        consumed = i
        if m.tag == "XPN" and m.form in _KO_PREFIX_NEGATION and nxt is not None:
            compound = m.form + nxt.form
            value = lex.term_score(compound + "하다", "VA", "VV")
            if value is None:
                value = lex.term_score(compound, "NNG", "XR")
            if value is None:
                base = lex.term_score(nxt.form + "하다", "VA", "VV")
                if base is None:
                    base = lex.term_score(nxt.form, "NNG", "XR")
                value = -abs(base) if base else None
            consumed = i + 1
            if i + 2 < n and morphs[i + 2].tag in ("XSA", "XSV"):
                consumed = i + 2
                is_predicate = True
        elif (
            m.tag in ("NNG", "XR", "MAG", "NNP", "SL")
            and nxt is not None
            and nxt.tag
            in (
                "XSA",
                "XSV",
            )
        ):
            value = lex.term_score(m.form + "하다", "VA", "VV")
            if value is None:
                value = lex.term_score(m.form, m.tag, "XR", "NNG", "MAG")
            consumed = i + 1
            is_predicate = True
        elif m.tag in ("XSA", "XSV", "VX", "EP", "EC", "EF", "ETM", "ETN", "SF", "SP", "SS"):
            if m.tag == "VX" and m.lemma in ("않다", "못하다"):
                continue
            value = None
        elif m.lemma == "없다" and i > 0:
            value = lex.term_score("없다", "VA")
            # "답장이 하나도 없네요", "연락도 없고": something expected is missing
            window = {p.form for p in morphs[max(0, i - 3) : i]}
            if not value and window & {"하나도", "전혀", "아무", "도", "아직", "아직도"}:
                value = -1.0
        else:
            value = lex.term_score(m.lemma, m.tag)
            if value is None and m.tag == "SL":
                value = lex.term_score(m.form.lower())

        if m.lemma in _KO_SPEED_PRAISE or m.form in _KO_SPEED_PRAISE:
            tally.speed_praise = True

        # a noun followed by 없다: "문제 없어요" (no problem) flips the noun
        if value is not None and value != 0 and m.tag in ("NNG", "XR", "NNP"):
            j = consumed + 1
            while j < n and morphs[j].tag in _KO_PARTICLES:
                j += 1
            if j < n and morphs[j].lemma in ("없다", "없이") and morphs[j].tag in ("VA", "MAG"):
                value = _negated(value)
                tally.negations += 1
                consumed = j

        if value is None and not is_predicate:
            continue
        if value is None:
            value = 0.0
        # -지 않다 / -지 못하다 / -지 말다 after the predicate
        j = consumed + 1
        while j < n and morphs[j].tag == "EP":
            j += 1
        post_negation = False
        if j + 1 < n and morphs[j].form == "지" and morphs[j].tag == "EC":
            after = morphs[j + 1]
            if after.lemma in ("않다", "못하다", "말다") or (
                after.form == "못" and after.tag == "MAG"
            ):
                post_negation = True
                consumed = j + 1
                if after.form == "못" and j + 2 < n and morphs[j + 2].lemma == "하다":
                    consumed = j + 2
                tally.negations += 1
        negate = pending_negation != post_negation  # a double negation cancels
        if is_predicate or value != 0:
            if negate:
                value = _negated(value)
            pending_negation = False
        value *= multiplier
        if value != 0:
            multiplier = 1.0
        tally.add(value)
        total += value
        skip_until = consumed
    question = any(m.tag == "SF" and "?" in m.form for m in morphs) or (
        bool(morphs) and morphs[-1].tag == "EF" and morphs[-1].form in _KO_QUESTION_ENDINGS
    )
    return total, question


def _en_term(m: Morph, lex: Lexicon) -> float | None:
    for candidate in (m.form, m.lemma, m.lemma + "e"):
        score = lex.lemmas.get(candidate)
        if score is not None:
            return score
    return None


def _score_english_clause(
    morphs: Sequence[Morph], lex: Lexicon, covered: list[tuple[int, int]], tally: _Tally
) -> tuple[float, bool]:
    total = 0.0
    negation_left = 0  # words the last negator still reaches
    multiplier = 1.0
    for m in morphs:
        if any(s <= m.start < e for s, e in covered):
            continue
        if m.tag == "PUNCT":
            negation_left = 0
            continue
        if m.form in lex.negators:
            negation_left = 3
            tally.negations += 1
            continue
        if m.form in lex.intensifiers:
            multiplier *= lex.intensifiers[m.form]
            continue
        if m.form in lex.diminishers:
            multiplier *= lex.diminishers[m.form]
            continue
        if m.lemma in _EN_SPEED_PRAISE:
            tally.speed_praise = True
        value = _en_term(m, lex)
        if value is None or value == 0:
            negation_left = max(0, negation_left - 1)
            continue
        if negation_left:
            value = _negated(value)
            negation_left = 0
        value *= multiplier
        multiplier = 1.0
        tally.add(value)
        total += value
    question = any("?" in m.form for m in morphs)
    return total, question


def score_text(
    text: str, sentences: Sequence[Sequence[Morph]], lang: Language, lexicon: Lexicon | None = None
) -> LexiconScore:
    """Lexicon sentiment of a normalised, analysed text, with its clauses."""
    lex = lexicon or load_lexicon(lang)
    hits, covered = _expression_hits(text, lex)
    clauses = split_clauses(sentences, lang, lex)
    tally = _Tally()
    scored: list[tuple[Clause, float, bool]] = []
    for clause in clauses:
        if lang == "ko":
            value, question = _score_korean_clause(clause.morphs, lex, covered, tally)
        else:
            value, question = _score_english_clause(clause.morphs, lex, covered, tally)
        scored.append((clause, value, question))

    # expressions belong to the clause they sit in (or the last one before them)
    values = [v for _, v, _ in scored]
    for start, _end, score in hits:
        tally.add(score)
        if not scored:
            values.append(score)
            continue
        idx = 0
        for k, (clause, _, _) in enumerate(scored):
            if clause.start <= start:
                idx = k
        values[idx] += score

    sarcastic = _sarcastic_clauses(text, scored, values, hits, lang, tally)
    any_question = False
    clause_scores: list[ClauseScore] = []
    raw = 0.0
    for k, (clause, _, question) in enumerate(scored):
        value = values[k]
        if k in sarcastic and value > 0:
            value = -value
        if question:
            any_question = True
            value *= QUESTION_DAMPING
        raw += value * clause.weight
        clause_scores.append(
            ClauseScore(
                text[clause.start : clause.end],
                clause.start,
                clause.end,
                value,
                clause.weight,
                k in sarcastic,
            )
        )
    if not scored and values:
        raw = sum(values)
    if lang != "ko" and _EN_SARCASM.search(text):
        sarcastic.add(-1)
        raw = min(raw, 0.0) - 1.5
    score = raw / math.sqrt(raw * raw + SCORE_SCALE)
    features = (
        score,
        max(-4.0, min(4.0, raw)) / 4,
        min(tally.positive, 6.0) / 6,
        min(tally.negative, 6.0) / 6,
        min(tally.n_positive, 5) / 5,
        min(tally.n_negative, 5) / 5,
        min(tally.negations, 3) / 3,
        1.0 if sarcastic else 0.0,
        1.0 if any_question else 0.0,
        clause_scores[-1].score / math.sqrt(clause_scores[-1].score ** 2 + SCORE_SCALE)
        if clause_scores
        else 0.0,
        1.0 if any(c.weight != 1.0 for c in clauses) else 0.0,
        1.0 if tally.n_positive + tally.n_negative == 0 else 0.0,
    )
    return LexiconScore(score, label_of(score), tuple(clause_scores), bool(sarcastic), features)


def _sarcastic_clauses(
    text: str,
    scored: list[tuple[Clause, float, bool]],
    values: list[float],
    hits: list[tuple[int, int, float]],
    lang: Language,
    tally: _Tally,
) -> set[int]:
    """Indexes of clauses whose praise is ironic."""
    out: set[int] = set()
    if not scored:
        return out
    long_wait = (_KO_LONG_WAIT if lang == "ko" else _EN_LONG_WAIT).search(text)
    speed_words = _KO_SPEED_PRAISE if lang == "ko" else _EN_SPEED_PRAISE
    for k, (clause, _, _) in enumerate(scored):
        if values[k] <= 0:
            continue
        lemmas = {m.lemma for m in clause.morphs} | {m.form for m in clause.morphs}
        # speed praise next to a long wait: "참 빠르네요 일주일 걸렸어요"
        if long_wait and lemmas & speed_words:
            out.add(k)
            continue
        if lang != "ko":
            continue
        # ironic praise with ^^ after a complaint that no contrast marker turned around
        clause_text = text[clause.start : clause.end + 4]
        has_emoticon = any(e in clause_text for e in _KO_IRONY_EMOTICONS)
        has_adverb = bool(lemmas & _KO_IRONY_ADVERBS)
        earlier_complaint = any(values[j] < 0 for j in range(k))
        turned = k > 0 and scored[k - 1][0].weight == BEFORE_CONTRAST
        if earlier_complaint and not turned and has_emoticon and has_adverb:
            out.add(k)
    if out:
        # in an ironic text the friendly emoticons are ironic too
        for k, (clause, _, _) in enumerate(scored):
            if values[k] > 0 and any(
                e in text[clause.start : clause.end] for e in _KO_IRONY_EMOTICONS
            ):
                out.add(k)
    return out
