"""The byte rules of Korean text messages: what goes as SMS, what becomes LMS (with its subject),
and what cannot be sent at all, decided before a message is queued.

Korean carriers count a text message in EUC-KR bytes: an ASCII character is one byte, a Hangul
syllable or any other Korean-charset character two. An SMS holds 90 bytes, an LMS 2,000 bytes
plus a subject. Bytes are counted with Python's ``cp949`` codec rather than ``euc_kr``: strict
EUC-KR (KS X 1001) has only the 2,350 most common Hangul syllables, so names such as "똠" or
"햏" would be refused, while carriers and the providers in front of them (Solapi, NHN Cloud)
take CP949 (Microsoft's extension with all 11,172 syllables, each also two bytes). A character
CP949 lacks (emoji, most Hanja variants, symbols outside the set) cannot be sent as SMS/LMS: a
carrier drops or garbles it, so cxloop refuses the message and names the characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cxloop.core.errors import ValidationFailed

CHARSET = "cp949"
SMS_BYTES = 90
LMS_BYTES = 2000
# The longest LMS subject the providers take (Solapi documents 40 bytes).
SUBJECT_BYTES = 40

TextKind = Literal["SMS", "LMS"]


def byte_length(text: str) -> int:
    """How many bytes ``text`` takes on a carrier (CP949); ValueError for a character it lacks."""
    try:
        return len(text.encode(CHARSET))
    except UnicodeEncodeError as exc:
        raise ValueError(f"{text[exc.start]!r} cannot be sent in a text message") from None


def unencodable(text: str) -> list[str]:
    """The characters of ``text`` a carrier cannot carry, each once, in order of appearance."""
    found: dict[str, None] = {}
    for char in text:
        if char in found:
            continue
        try:
            char.encode(CHARSET)
        except UnicodeEncodeError:
            found[char] = None
    return list(found)


def clip_to_bytes(text: str, limit: int) -> str:
    """The longest start of ``text`` that fits in ``limit`` bytes, never cutting a character.
    ``text`` must be encodable."""
    if len(text.encode(CHARSET)) <= limit:
        return text
    used = 0
    for index, char in enumerate(text):
        used += len(char.encode(CHARSET))
        if used > limit:
            return text[:index]
    return text


@dataclass(frozen=True)
class TextPlan:
    """How a text goes out: as SMS or LMS (with the LMS subject), its size in bytes, or why it
    cannot go (``unencodable`` characters, or ``too_long``)."""

    kind: TextKind | None
    byte_length: int
    subject: str = ""
    unencodable: tuple[str, ...] = ()

    @property
    def sendable(self) -> bool:
        return self.kind is not None

    @property
    def too_long(self) -> bool:
        return not self.unencodable and self.byte_length > LMS_BYTES


def _subject(text: str, subject: str) -> str:
    """The LMS subject: the one given, else the text's first non-empty line, within
    SUBJECT_BYTES. Characters a carrier lacks are dropped from it."""
    source = " ".join(subject.split())
    if not source:
        source = next((" ".join(line.split()) for line in text.splitlines() if line.strip()), "")
    bad = set(unencodable(source))
    source = "".join(ch for ch in source if ch not in bad)
    return clip_to_bytes(source, SUBJECT_BYTES).strip()


def plan_text(text: str, subject: str = "") -> TextPlan:
    """Whether ``text`` goes as SMS (up to 90 bytes), becomes LMS (up to 2,000 bytes, with a
    subject: ``subject`` or the text's first line), or cannot be sent, and why."""
    bad = unencodable(text)
    if bad:
        encodable = "".join(ch for ch in text if ch not in set(bad))
        return TextPlan(None, len(encodable.encode(CHARSET)), unencodable=tuple(bad))
    size = len(text.encode(CHARSET))
    if size <= SMS_BYTES:
        return TextPlan("SMS", size)
    if size <= LMS_BYTES:
        return TextPlan("LMS", size, subject=_subject(text, subject))
    return TextPlan(None, size)


def _shown(chars: tuple[str, ...]) -> str:
    return ", ".join(f"'{ch}' (U+{ord(ch):04X})" for ch in chars[:20])


def require_sendable(text: str, subject: str = "", *, field: str = "text") -> TextPlan:
    """The plan of a text that must go as SMS or LMS; ValidationFailed naming the characters a
    carrier cannot carry, or the size when it is over 2,000 bytes."""
    if not text.strip():
        raise ValidationFailed(
            "A text message needs some text.",
            errors=[{"field": field, "message": "must not be empty"}],
        )
    plan = plan_text(text, subject)
    if plan.unencodable:
        raise ValidationFailed(
            f"The text has characters Korean carriers cannot send: {_shown(plan.unencodable)}.",
            errors=[
                {
                    "field": field,
                    "message": "characters outside the carriers' character set (EUC-KR/CP949)",
                    "characters": list(plan.unencodable),
                }
            ],
        )
    if plan.kind is None:
        raise ValidationFailed(
            f"The text is {plan.byte_length:,} bytes; an LMS holds at most {LMS_BYTES:,} "
            "(a Korean character counts two bytes).",
            errors=[
                {"field": field, "message": f"over {LMS_BYTES} bytes", "bytes": plan.byte_length}
            ],
        )
    return plan
