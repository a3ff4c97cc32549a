"""The project's own sentiment lexicon and the rule-based scorer over it.

The lexicon lives in ``lexicon/ko.tsv`` and ``lexicon/en.tsv`` (``term, pos, score, note``;
Korean terms are Kiwi lemmas with their tag, or ``EXPR`` for surface slang and emoticons such as
ㅠㅠ, 갓성비, ^^) and ``lexicon/modifiers.tsv`` (``lang, term, kind, value`` with kind one of
negator, intensifier, diminisher, contrast); ``lexicon/cues.tsv`` (``lang, list, term``) holds
the words of the customer constructions below and ``lexicon/fallback.tsv`` (as modifiers.tsv,
with the kinds term and expression too) the grammar and tiny lexicon used where a lexicon
directory lacks a file. The scorer reads a text clause by clause:

- negation flips a term: Korean 안/못 before a predicate, -지 않-/-지 못-, a noun followed by
  없다 ("문제 없어요"), the prefixes 불-/비-/무-; English not/never/no within three words;
- intensifiers and diminishers scale the next term (너무 좋아요, 조금 아쉬워요, really bad);
- after a contrast (-지만, -는데, 근데, but, however) the later clause weighs more;
- surface expressions are matched on the text (ㅠㅠ, ^^, 갓성비, "waste of money");
- sarcasm cues flip praise: speed praise next to a long wait ("참 빠르네요 일주일 걸렸어요"),
  ironic praise with ^^ after a complaint, stock phrases ("thanks for nothing");
- requests and inquiries ("~문의드립니다", "알려주시면 감사하겠습니다", "Could you please…",
  "Would be nice to have…") are neutral: their courtesy words and wishes barely count, while a
  complaint inside a request still does;
- customer constructions: waiting ("2주째 기다리는 중"), formal complaints ("요청하였음에도",
  "즉시 … 주시기 바랍니다"), things customers want more of ("옵션이 적어요", "할인이 없어요"),
  thanks to named staff ("매니저님께 감사드립니다"), praise slang whose polarity comes from what it
  praises ("가성비 미쳤다", "맛 갑", "감성 터짐" but "앱 터짐"), English failures after a
  negation ("never arrived", "did not answer").
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cxloop.text.lang import Language
from cxloop.text.tokens import Morph

LEXICON_DIR = Path(__file__).parent / "lexicon"

NEGATE_POSITIVE = -0.8  # "안 좋아요": most of the praise turns into complaint
NEGATE_NEGATIVE = -0.5  # "나쁘지 않아요": mild approval, not praise
NEGATED_NEUTRAL = -0.6  # "안 와요", "결제가 안 돼요": a failure, in customer language
BEFORE_CONTRAST = 0.6
AFTER_CONTRAST = 1.5
QUESTION_DAMPING = 0.5
REQUEST_POSITIVE = 0.2  # "알려주시면 감사하겠습니다", "would be nice to have": courtesy, not praise
DIRECTED_THANKS = 1.5  # "매니저님께 감사드립니다": thanks addressed to someone is praise
WANTED_MISSING = -1.0  # "옵션이 적어요", "할인이 없어요"
SLANG_PRAISE = 1.8  # "가성비 미쳤다", "맛 갑"
SCORE_SCALE = 4.0  # raw sum → (-1, 1) by x / sqrt(x² + SCALE)
LABEL_THRESHOLD = 0.15


_KO_LONG_WAIT = re.compile(
    r"일주일|열흘|보름|한\s?달|두\s?달|며칠|몇\s?주|\d+\s?(?:일|주|주일|달|개월)\s?(?:째|만|이나|걸|지나|넘)"
)
_EN_LONG_WAIT = re.compile(
    r"\b(?:\d+|two|three|four|five|six|seven|eight|nine|ten|a|several)\s+(?:more\s+)?"
    r"(?:days?|weeks?|months?)\b"
)
_EN_SARCASM = re.compile(
    r"thanks for nothing|yeah,? right|oh,? great|just great"
    r"|great job,? (?:guys|team)?.*(?:not|never|again)"
    r"|love (?:how|that|waiting)|what a (?:joke|surprise)|so helpful,? not|thanks a lot for"
    r"|(?:great|awesome|fantastic|brilliant),? (?:another|now|again)"
)
# --- customer constructions (see the module docstring) ---
_KO_REQUEST = re.compile(
    r"문의\s?(?:드립니다|드려요|드리고|드립|합니다|해요|하고\s?싶|하려고|좀|사항)"
    r"|궁금(?:합니다|해요|한데|하네요|한\s?점|한\s?게|해서)"
    r"|알려\s?주(?:세요|시면|실\s?수|시겠|실래|셔요|십시오)"
    r"|안내\s?(?:해\s?주|부탁|바랍|받을\s?수)"
    r"|부탁\s?(?:드립니다|드려요|드리겠|드릴게|합니다|해요|드립)"
    r"|가능(?:한가요|할까요|하나요|한지|합니까|하신가요|할지|한\s?가요|할\s?까요)"
    r"|(?:수|게|방법이?|방법은)\s?있(?:나요|을까요|습니까|는지|는\s?건가요|는가요)"
    r"|주실\s?수\s?있(?:나요|을까요|습니까|으신가요)"
    r"|(?:으면|면)\s?좋겠|(?:했|였|았|었)으면\s?(?:좋겠|해요|합니다)"
    r"|(?:추가|개선|도입|검토|출시|지원)\s?(?:해\s?주(?:세요|시면|셨으면|실)|부탁|바랍|요청|되면|됐으면|되었으면)"
    r"|(?:감사|고맙)(?:하)?겠습니다|감사하겠어요"
    r"|(?:어떻게|어디서|어디로|어디에|언제쯤|몇\s?시)\s?(?:\S+\s?){0,3}?(?:나요|까요|인가요|합니까|하죠|되죠)"
)
_EN_REQUEST = re.compile(
    r"\b(?:could|can|would|will) you\b"
    r"|\bplease (?:add|confirm|let|send|advise|help|update|check|tell|make|consider|provide"
    r"|share|include|bring|allow|enable|clarify|look|contact|call|email|reply|cancel|change|bring)\b"
    r"|\bis (?:it|there) (?:possible|a way|any way|an option|a plan)\b"
    r"|\bhow (?:do|can|would|does|should) (?:i|we|you)\b"
    r"|\bhow (?:long|much|many) (?:does|do|is|will)\b"
    r"|\bi would (?:like|love) (?:to|it if|if)\b|\bwondering\b|\bcurious\b"
    r"|\b(?:would|it would) be (?:nice|great|good|awesome|helpful|cool|lovely|amazing|handy)\b"
    r"|\bi wish (?:you|there|it|the|i could)\b|\bany (?:plans|chance|way|news)\b"
    r"|\bdo you (?:have|offer|ship|plan|sell|know|accept|deliver|support)\b"
    r"|\bwhen will\b|\bwhere (?:can|do) i\b|\bcan i\b|\bfeature request\b|\bsuggestion\b"
)
# waiting and chasing, formal demands: complaint constructions read on the surface
_KO_COMPLAINT = tuple(
    (re.compile(pattern), score)
    for pattern, score in (
        (r"\d+\s?(?:일|주|주일|시간|달|개월)\s?째", -1.0),
        (
            r"(?:째|동안|넘게|이나|지났는데)\s?(?:\S+\s)?(?:기다리|기다렸|대기|감감|소식|연락|안\s?(?:와|오|옴|왔))",
            -1.0,
        ),
        (r"기다리(?:는\s?중|고\s?있)", -0.6),
        (r"(?:였|았|었|했)음에도", -1.2),
        (
            r"(?:즉시|즉각|조속히|조속한|당장)\s?(?:\S+\s?){0,4}?(?:바랍니다|주십시오|요구|요청|주세요|하세요|해라|해\s?주)",
            -1.5,
        ),
        (r"(?:요구|요청)합니다|강력히|엄중", -1.0),
        (r"이해(?:가|할|하기)?\s?(?:안\s?(?:가|되)|수\s?(?:가\s?)?없|어렵)", -1.2),
        (
            r"언제\s?(?:\S+\s)?(?:오|와|되|처리|보내|받|해\s?주)\S*\s?(?:나요|냐|는\s?거|는지|죠)",
            -0.5,
        ),
        (
            r"(?:전화|연락|문의|답변|답장|회신)\S{0,2}\s?(?:도\s)?(?:안\s?(?:받|되|와|오|줘|주)|못\s?받)",
            -1.0,
        ),
        (r"미치겠|돌아\s?버리겠|환장하겠|답답해\s?죽겠|짜증나\s?죽겠", -1.5),
        (r"(?:예전|전|처음|작년|지난번)\S{0,2}만\s?못", -1.2),
        (r"이게\s?뭐(?:에요|예요|죠|냐|임|야|지|람)|뭐\s?하자는|장난\s?(?:하|치)", -1.0),
        (r"다신\s|다시는\s", -1.2),
        (r"번이나|번째\s?(?:시도|문의|연락|전화|요청|반품|교환|재발송|설명)", -1.0),
    )
)
_EN_COMPLAINT = tuple(
    (re.compile(pattern), score)
    for pattern, score in (
        (
            r"\b(?:can|could) not (?:\w+ ){0,2}?(?:sign|log|login|access|connect|pay|checkout|open"
            r"|load|reach|track|cancel|complete|place|update|reset|download|install|redeem|apply)\b",
            -1.2,
        ),
        (r"\bwhy (?:is|does|do|did|are|was|has|have|can|would) ", -0.6),
        (
            r"\b(?:\d+|two|three|four|five|six|several|many)"
            r" (?:calls|emails|messages|attempts|tries)\b",
            -0.8,
        ),
        (
            r"\b(?:went|gone|goes|going) up again\b"
            r"|\b(?:raised|increased|hiked) (?:the |their |its )?prices?\b",
            -1.2,
        ),
    )
)
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


# The word lists live in data files beside the lexicon: ``fallback.tsv`` holds the grammar and the
# tiny lexicon the scorer needs even when a lexicon directory lacks ``modifiers.tsv`` or the
# language's TSV (the files add to these), ``cues.tsv`` the words of the customer constructions.
_MODIFIER_KINDS = ("negator", "intensifier", "diminisher", "contrast")


def _number(text: str) -> float:
    """A value as written: ``1`` reads as an int, ``1.5`` as a float."""
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _read_fallback(
    path: Path,
) -> tuple[
    dict[str, dict[str, dict[str, float]]], dict[str, dict[str, float]], dict[str, dict[str, float]]
]:
    """The built-in modifiers, terms and expressions per language."""
    modifiers: dict[str, dict[str, dict[str, float]]] = {
        lang: {kind: {} for kind in _MODIFIER_KINDS} for lang in ("ko", "en")
    }
    terms: dict[str, dict[str, float]] = {"ko": {}, "en": {}}
    expressions: dict[str, dict[str, float]] = {"ko": {}, "en": {}}
    for row in _read_tsv(path):
        lang, kind, term, value = row["lang"], row["kind"], row["term"], _number(row["value"])
        if kind == "term":
            terms[lang][term] = value
        elif kind == "expression":
            expressions[lang][term] = value
        else:
            modifiers[lang][kind][term] = value
    return modifiers, terms, expressions


def _read_cues(path: Path) -> dict[tuple[str, str], list[str]]:
    """The cue words of each (language, list), in file order."""
    cues: dict[tuple[str, str], list[str]] = {}
    for row in _read_tsv(path):
        cues.setdefault((row["lang"], row["list"]), []).append(row["term"])
    return cues


_DEFAULT_MODIFIERS, _DEFAULT_TERMS, _DEFAULT_EXPR = _read_fallback(LEXICON_DIR / "fallback.tsv")
_CUES = _read_cues(LEXICON_DIR / "cues.tsv")
_KO_SPEED_PRAISE = frozenset(_CUES["ko", "speed_praise"])
_EN_SPEED_PRAISE = frozenset(_CUES["en", "speed_praise"])
_KO_IRONY_ADVERBS = frozenset(_CUES["ko", "irony_adverb"])
_KO_IRONY_EMOTICONS = tuple(_CUES["ko", "irony_emoticon"])
_KO_QUESTION_ENDINGS = frozenset(_CUES["ko", "question_ending"])
_KO_COURTESY = frozenset(_CUES["ko", "courtesy"])
_EN_COURTESY = frozenset(_CUES["en", "courtesy"])
_EN_EXPECTED = frozenset(_CUES["en", "expected"])
_KO_WANTED = frozenset(_CUES["ko", "wanted"])
_KO_QUALITY = frozenset(_CUES["ko", "quality"])
_KO_BREAKABLE = frozenset(_CUES["ko", "breakable"])
_KO_SLANG_PRAISE = frozenset(_CUES["ko", "slang_praise"])
_KO_PREFIX_NEGATION = frozenset(_CUES["ko", "prefix_negation"])


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
                if m.tag == "MAJ" and m.form in lex.contrast:
                    if current:
                        raw.append((current, True, False))
                        current = [m]
                        continue
                    if raw:  # "배송이 늦었어요. 그래도 …": the turn crosses the sentence end
                        raw[-1] = (raw[-1][0], True, raw[-1][2])
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
                prev = sent[i - 1].form if i else ""
                turns = m.form in ("but", "however") or (
                    m.form == "yet"  # not "have yet to", "not yet"
                    and prev not in ("have", "has", "had", "not", "as")
                    and (nxt is None or nxt.form != "to")
                )
                if turns and current:
                    raw.append((current, True, False))
                    current = [m]
                    continue
                if turns and raw:  # "Great app, but…", "Great app. But…"
                    raw[-1] = (raw[-1][0], True, raw[-1][2])
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
    "request", "complaint",
)  # fmt: skip
# models trained before "request" and "complaint" read only the first twelve
BASE_FEATURES = 12


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


def _trie_pattern(words: Sequence[str], english: bool) -> str:
    """One regex for many literals, as a trie: a text position is tried once per character,
    not once per literal (hundreds of alternatives made the expression match the slowest part of
    the scorer). A longer literal is tried before a shorter one it extends."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = r"\b" if english and word[-1].isalnum() else ""

    def build(node: dict[str, Any]) -> str:
        parts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if "" in node:
            parts.append(node[""])  # the end of a literal, tried last: longest first
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"

    return build(trie)


@cache
def _expression_pattern(lex: Lexicon) -> re.Pattern[str] | None:
    """All surface expressions of a lexicon in one regex, leftmost-longest; English ones that
    begin or end with a letter match whole words only."""
    if not lex.expressions:
        return None
    english = lex.lang != "ko"
    bounded = [e for e in lex.expressions if english and e[0].isalnum()]
    loose = [e for e in lex.expressions if not (english and e[0].isalnum())]
    parts = []
    if bounded:
        parts.append(r"\b" + _trie_pattern(bounded, english))
    if loose:
        parts.append(_trie_pattern(loose, english))
    return re.compile("|".join(parts))


def _expression_hits(
    text: str, lex: Lexicon
) -> tuple[list[tuple[int, int, float]], list[tuple[int, int]]]:
    pattern = _expression_pattern(lex)
    if pattern is None:
        return [], []
    hits = [(m.start(), m.end(), lex.expressions[m.group(0)]) for m in pattern.finditer(text)]
    return hits, [(start, end) for start, end, _ in hits]


@dataclass
class _ClauseSum:
    """A clause's lexicon sum, with the part of it that is only courtesy."""

    total: float = 0.0
    courtesy: float = 0.0  # positive value of courtesy words ("감사합니다", "please")
    question: bool = False


def _noun_before(morphs: Sequence[Morph], i: int) -> str | None:
    """The noun a predicate or slang word at ``i`` is about ("가성비 미쳤다" → 가성비).

    Kiwi may split a noun it does not know ("식감" → 식/NNB + 감/NNG), so the noun is read
    together with the noun piece right before it when that makes a known word.
    """
    for k in range(i - 1, max(-1, i - 5), -1):
        p = morphs[k]
        if p.tag in ("NNG", "NNP", "XR", "SL"):
            if k > 0 and morphs[k - 1].tag in ("NNB", "NNG") and morphs[k - 1].end == p.start:
                joined = morphs[k - 1].form + p.form
                if joined in _KO_QUALITY or joined in _KO_BREAKABLE:
                    return joined
            return p.form
        if p.tag not in _KO_PARTICLES and p.tag not in ("MAG", "SP", "XSN", "VCP", "EF"):
            return None
    return None


def _slang_value(morphs: Sequence[Morph], i: int) -> float | None:
    """Praise slang read from what it praises: None when the clause has to decide."""
    m = morphs[i]
    nxt = morphs[i + 1] if i + 1 < len(morphs) else None
    if m.lemma == "미치다" and nxt is not None and nxt.form == "겠":
        return -1.5  # "답답해서 미치겠어요"
    noun = _noun_before(morphs, i)
    if m.lemma == "미치다" and nxt is not None and nxt.tag == "ETM":
        after = morphs[i + 2].form if i + 2 < len(morphs) else ""
        noun = after if after in _KO_QUALITY else noun  # "미친 가성비"
    if noun in _KO_QUALITY:
        return SLANG_PRAISE
    if m.lemma == "터지다" and noun in _KO_BREAKABLE:
        return -1.5  # "앱 터짐", "포장 터져서 왔어요"
    return None


def _wanted_amount(morphs: Sequence[Morph], i: int, lex: Lexicon) -> tuple[float, int] | None:
    """ "옵션이 적어요", "할인이 없어요" (missing), "혜택이 많아요": value and the last index."""
    j = i + 1
    factor = 1.0
    while j < len(morphs) and (
        morphs[j].tag in _KO_PARTICLES
        or (morphs[j].tag == "NNG" and morphs[j].form in _KO_WANTED)
        or morphs[j].form in lex.intensifiers
        or morphs[j].form in lex.diminishers
    ):
        factor *= lex.intensifiers.get(morphs[j].form, lex.diminishers.get(morphs[j].form, 1.0))
        j += 1
    if j >= len(morphs) or (morphs[j].tag != "VA" and morphs[j].lemma != "없이"):
        return None
    after = morphs[j + 1] if j + 1 < len(morphs) else None
    if after is not None and after.form == "지" and after.tag == "EC":
        return None  # "적지 않아요": left to the negation rules
    if morphs[j].lemma in ("없다", "적다", "없이"):
        return WANTED_MISSING * factor, j
    if morphs[j].lemma == "많다":
        return 0.8 * factor, j
    return None


def _score_korean_clause(
    morphs: Sequence[Morph], lex: Lexicon, covered: list[tuple[int, int]], tally: _Tally
) -> _ClauseSum:
    """Sum of the clause's term scores after negation and modifiers; and whether it asks."""
    total = 0.0
    courtesy = 0.0
    followers = 0  # praise slang that takes the clause's polarity ("실화", "레전드")
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
        wanted = _wanted_amount(morphs, i, lex) if m.tag == "NNG" and m.form in _KO_WANTED else None
        if wanted is not None:
            value = wanted[0] * multiplier
            multiplier = 1.0
            tally.add(value)
            total += value
            skip_until = wanted[1]
            continue
        if m.lemma in _KO_SLANG_PRAISE or m.form in _KO_SLANG_PRAISE:
            slang = _slang_value(morphs, i)
            if slang is None:
                followers += 1
                continue
            value = slang
            is_predicate = False
            if m.tag in _KO_PREDICATES and nxt is not None and nxt.tag == "ETM":
                consumed = i + 1
        elif m.tag == "XPN" and m.form in _KO_PREFIX_NEGATION and nxt is not None:
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
            elif j < n and morphs[j].lemma == "적다" and morphs[j].tag == "VA" and value < 0:
                value = _negated(value)  # "소음이 적어요": less of a bad thing
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
        tried = any(
            p.lemma == "보다" and p.tag == "VX" for p in morphs[consumed + 1 : consumed + 4]
        )
        if is_predicate or value != 0:
            if negate and not (value == 0 and tried):
                value = _negated(value)
            pending_negation = False
        value *= multiplier
        if value != 0:
            multiplier = 1.0
        if value > 0 and (m.form in _KO_COURTESY or m.lemma in _KO_COURTESY):
            # "매니저님께 감사드립니다", "덕분에": thanks addressed to someone is praise
            before = morphs[max(0, i - 3) : i]
            if any(p.form in ("께", "께서") or p.form == "덕분" for p in before):
                value *= DIRECTED_THANKS
            else:
                courtesy += value
        tally.add(value)
        total += value
        skip_until = consumed
    if followers and total:
        total *= 1.3
    elif followers and any(m.form in _KO_QUALITY for m in morphs):
        total = SLANG_PRAISE * 0.7
        tally.add(total)
    question = any(m.tag == "SF" and "?" in m.form for m in morphs) or (
        bool(morphs) and morphs[-1].tag == "EF" and morphs[-1].form in _KO_QUESTION_ENDINGS
    )
    return _ClauseSum(total, courtesy, question)


def _en_term(m: Morph, lex: Lexicon) -> float | None:
    for candidate in (m.form, m.lemma, m.lemma + "e"):
        score = lex.lemmas.get(candidate)
        if score is not None:
            return score
    return None


def _score_english_clause(
    morphs: Sequence[Morph], lex: Lexicon, covered: list[tuple[int, int]], tally: _Tally
) -> _ClauseSum:
    total = 0.0
    courtesy = 0.0
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
        if (value is None or value == 0) and negation_left >= 2 and m.lemma in _EN_EXPECTED:
            value = -1.0  # "never arrived", "did not answer": what should happen did not
            negation_left = 0
        elif value is None or value == 0:
            negation_left = max(0, negation_left - 1)
            continue
        elif negation_left:
            value = _negated(value)
            negation_left = 0
        value *= multiplier
        multiplier = 1.0
        if value > 0 and (m.form in _EN_COURTESY or m.lemma in _EN_COURTESY):
            courtesy += value
        tally.add(value)
        total += value
    return _ClauseSum(total, courtesy, any("?" in m.form for m in morphs))


def score_text(
    text: str, sentences: Sequence[Sequence[Morph]], lang: Language, lexicon: Lexicon | None = None
) -> LexiconScore:
    """Lexicon sentiment of a normalised, analysed text, with its clauses."""
    lex = lexicon or load_lexicon(lang)
    hits, covered = _expression_hits(text, lex)
    courtesy_exprs = {
        (start, end) for start, end, score in hits if score > 0 and text[start:end] in _EN_COURTESY
    }
    complaints = _complaint_hits(text, lang, covered)
    clauses = split_clauses(sentences, lang, lex)
    tally = _Tally()
    scored: list[tuple[Clause, float, bool]] = []
    sums: list[_ClauseSum] = []
    for clause in clauses:
        if lang == "ko":
            result = _score_korean_clause(clause.morphs, lex, covered, tally)
        else:
            result = _score_english_clause(clause.morphs, lex, covered, tally)
        scored.append((clause, result.total, result.question))
        sums.append(result)

    # expressions and complaint constructions belong to the clause they sit in (or the last
    # one before them)
    values = [v for _, v, _ in scored]
    for start, end, score in [*hits, *complaints]:
        tally.add(score)
        if not scored:
            values.append(score)
            continue
        idx = 0
        for k, (clause, _, _) in enumerate(scored):
            if clause.start <= start:
                idx = k
        values[idx] += score
        if (start, end) in courtesy_exprs:
            sums[idx].courtesy += score

    request = _request_spans(text, lang)
    if request:
        _damp_requests(scored, sums, values, request)

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
    irony = _EN_SARCASM.search(text) if lang != "ko" else None
    if irony and (tally.negative > 0 or not irony.group(0).startswith("love")):
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
        1.0 if request else 0.0,
        min(-sum(score for _, _, score in complaints), 3.0) / 3,
    )
    return LexiconScore(score, label_of(score), tuple(clause_scores), bool(sarcastic), features)


def _complaint_hits(
    text: str, lang: Language, covered: list[tuple[int, int]]
) -> list[tuple[int, int, float]]:
    """Complaint constructions of the text (waiting, formal demands) outside the expressions."""
    out: list[tuple[int, int, float]] = []
    for pattern, score in _KO_COMPLAINT if lang == "ko" else _EN_COMPLAINT:
        for m in pattern.finditer(text):
            if not any(s <= m.start() < e for s, e in covered):
                out.append((m.start(), m.end(), score))
    return out


def _request_spans(text: str, lang: Language) -> list[tuple[int, int]]:
    """Where the text asks or requests something ("문의드립니다", "Could you please…")."""
    pattern = _KO_REQUEST if lang == "ko" else _EN_REQUEST
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def _damp_requests(
    scored: list[tuple[Clause, float, bool]],
    sums: list[_ClauseSum],
    values: list[float],
    request: list[tuple[int, int]],
) -> None:
    """A request is neutral: its clause's praise and the text's courtesy barely count.

    "교환 절차를 알려주시면 감사하겠습니다" and "Would be nice to have dark mode" are neither
    praise nor complaint; a complaint inside a request ("앱이 자꾸 꺼지는데 확인 부탁드려요")
    keeps its weight.
    """
    for k, (clause, _, _) in enumerate(scored):
        in_request = any(clause.start <= s <= clause.end for s, _ in request)
        if in_request and values[k] > 0:
            values[k] *= REQUEST_POSITIVE
        elif sums[k].courtesy > 0 and values[k] > 0:
            kept = max(values[k] - sums[k].courtesy, 0.0)
            values[k] = kept + min(values[k], sums[k].courtesy) * REQUEST_POSITIVE


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
