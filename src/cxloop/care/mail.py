"""What care needs of a customer's email beyond the channel adapter: is it automatic (an
auto-reply or out-of-office must never reopen a conversation or answer back), which of its text
is new (the quoted history is kept but folded away for display), its subject without reply
prefixes, and its HTML made safe for an agent's browser."""

from __future__ import annotations

import re
from collections.abc import Mapping

import nh3

# Reply and forward prefixes, stacked any number of times: Re:, RE:, Fwd:, FW:, 회신:, 답장:,
# 전달:, AW: (German Outlook), Re[2]: …
_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|sv|회신|답장|전달)(?:\[\d+\])?\s*[:：]\s*)+", re.I)

# Where quoted history starts in the mail clients customers use.
_QUOTE_STARTS = [
    # Gmail, Apple Mail, Thunderbird: "On Sun, 6 Dec 2026 at 13:05, 김민지 <…> wrote:"
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.I | re.S),
    # Gmail in Korean: "2026년 12월 6일 (일) 오후 1:05, 김민지 <…>님이 작성:"
    re.compile(r"^\s*\d{4}년\s*\d{1,2}월\s*\d{1,2}일.{0,300}작성\s*:\s*$", re.S),
    # Apple Mail in Korean: "2026. 12. 6. 오후 1:05, 김민지 <…> 작성:"
    re.compile(r"^\s*\d{4}\.\s*\d{1,2}\.\s*\d{1,2}\..{0,300}작성\s*:\s*$", re.S),
    # Naver, Daum and other Korean webmail: "-----Original Message-----" / "----- 원본 메일 -----"
    re.compile(
        r"^\s*-{2,}\s*(?:original message|원본 메일|원본 메시지|forwarded message)\s*-{2,}\s*$",
        re.I,
    ),
    # Outlook: a "From:" / "보낸 사람:" header block after a rule
    re.compile(r"^\s*(?:from|보낸 사람)\s*:\s*.+$", re.I),
    # Outlook's rule line
    re.compile(r"^\s*_{10,}\s*$"),
]

_ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) - {"img"}  # remote images would tell the sender it was read


def thread_subject(subject: str) -> str:
    """A subject without its reply and forward prefixes, spaces folded: what one thread shares."""
    return " ".join(_PREFIX.sub("", subject or "").split())


def is_automatic(headers: Mapping[str, str]) -> bool:
    """Whether a message was sent by a machine: RFC 3834 ``Auto-Submitted``, the headers
    common autoresponders set, or bulk precedence."""
    lowered = {k.lower(): str(v).strip().lower() for k, v in headers.items()}
    if lowered.get("auto-submitted", "no") not in ("", "no"):
        return True
    if "x-autoreply" in lowered or "x-autorespond" in lowered:
        return True
    return lowered.get("precedence", "") in ("auto_reply", "bulk", "junk", "list")


def new_text(text: str) -> str:
    """The part of a reply its author wrote: everything before the quoted history (the whole
    text when no quote is found, or when the quote would leave nothing)."""
    lines = (text or "").replace("\r\n", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        joined = " ".join(lines[i : i + 3])  # a long "On … wrote:" line may be wrapped
        if any(p.match(line) for p in _QUOTE_STARTS) or (
            any(p.match(joined) for p in _QUOTE_STARTS[:3])  # the attribution lines
        ):
            cut = i
            break
        if line.startswith(">") and all(not ln.strip() or ln.startswith(">") for ln in lines[i:]):
            cut = i
            break
    kept = "\n".join(lines[:cut]).strip()
    return kept or (text or "").strip()


def safe_html(html: str) -> str:
    """The HTML of a message with nothing that runs or calls home: no script, style, event
    handler, form, remote image or javascript: link."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer nofollow",
    )
