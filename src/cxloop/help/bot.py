"""The bot's decision for one message: answer with an article, or hand over to a person and
say why. It hands over when the customer asks for a person, when the message is strongly
negative, when the article is on a topic the workspace keeps for people, and when it is not
sure enough of any article (a wrong answer given with confidence is worse than none)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from cxloop.help.retrieval import Found, KnowledgeIndex
from cxloop.text.pipeline import analyze

DEFAULT_THRESHOLD = 0.6  # chosen on the tuning sets (benchmarks/data/help_tuning), see README
UPSET_SCORE = -0.5  # the text analysis score at or under which a message is strongly negative
Reason = Literal["answered", "asked_for_person", "upset", "people_topic", "not_sure", "no_match"]

# Asking for a person, in the ways customers do (general, not any workspace's wording).
_PERSON = re.compile(
    r"상담\s*(원|사|직원|사님|원님)|ㅅㄷㅇ|ㅅㄷㅅ|"
    r"(사람|직원|담당자|매니저|상담사|상담원|설계사|운영자|운영진|책임자|상급자)[^.?!\n]{0,12}?"
    r"(얘기|이야기|대화|연결|통화|상담|바꿔|불러|원해|필요)|"
    r"(사람|직원|담당자|상담사)\s*(분)?\s*(이요|요)?\s*[!.~]*\s*$|"
    r"(사람|직원|상담원|상담사|담당자)\s*(분)?\s*(이|은|는)?\s*(계세요|계신가요|있어요|있나요|없어요|없나요)|"
    r"(실제|진짜|살아\s*있는)\s*(사람|직원|상담)|"
    r"(상담|통화|연결|응대)\s*(해\s*)?(주실|줄|해\s*줄|할\s*수\s*있는)\s*분|"
    r"(챗봇|봇|로봇|기계|자동\s*응답|ai)\s*(말고|아니고|싫)|전화\s*(상담|연결)|콜센터\s*연결|"
    r"\b(human|real\s+person|representative|operator)\b|"
    r"\b(real|live|actual)\s+(agent|person|human|support)\b|"
    r"^\W*(an?\s+)?agent\W*$|\bagent\s+please\b|"
    r"\b(talk|speak|chat)\s+(to|with)\s+(\w+\s+){0,2}"
    r"(agent|person|someone|somebody|human|representative|staff|manager|supervisor)\b|"
    r"\b(connect|transfer)\s+me\b|\bnot\s+(a\s+)?(bot|robot)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Decision:
    article: str | None  # the external id of the article answered with, or the one tried
    confidence: float
    handoff: bool
    reason: Reason
    found: Found


def asks_for_person(text: str) -> bool:
    return bool(_PERSON.search(text[:4_000]))


@cache
def _upset_cues() -> tuple[re.Pattern[str], re.Pattern[str]]:
    raw = tomllib.loads((Path(__file__).parent / "lexicon.toml").read_text("utf-8"))["upset"]
    return re.compile(raw["anger"], re.IGNORECASE), re.compile(raw["escalation"], re.IGNORECASE)


def is_upset(text: str) -> bool:
    """An angry or escalating customer: a threat to complain to an authority or go to law, or
    anger words in a strongly negative message (describing a problem is not yet anger)."""
    snippet = text[:2_000]
    anger, escalation = _upset_cues()
    if escalation.search(snippet):
        return True
    return bool(anger.search(snippet)) and analyze(snippet).score <= UPSET_SCORE


def decide(
    index: KnowledgeIndex,
    text: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    people_categories: frozenset[str] = frozenset(),
    category_of: dict[str, str] | None = None,
) -> Decision:
    """Answer ``text`` from ``index`` or hand it over, with the reason."""
    found = index.search(text)
    best = found.best.article if found.best else None
    if asks_for_person(text):
        return Decision(best, found.confidence, True, "asked_for_person", found)
    if is_upset(text):
        return Decision(best, found.confidence, True, "upset", found)
    if best is None:
        return Decision(None, 0.0, True, "no_match", found)
    if category_of and category_of.get(best, "") in people_categories:
        return Decision(best, found.confidence, True, "people_topic", found)
    if found.confidence < threshold:
        return Decision(best, found.confidence, True, "not_sure", found)
    return Decision(best, found.confidence, False, "answered", found)
