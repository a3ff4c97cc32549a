"""Social posts and reviews: mentions and comments become conversations of a ``social`` inbox,
reviews conversations of a ``review`` inbox with their rating, each once by its platform's id.
They come by a signed webhook or by import (``care.imports``); the text is analysed on the bus
like every customer message (sentiment, categories).

The webhook is signed with the inbox's signing secret (derived from the server's secret key and
the inbox's token, never stored): ``X-Cxloop-Timestamp`` holds Unix seconds and
``X-Cxloop-Signature`` is ``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<raw body>``. A
timestamp more than ``TOLERANCE`` away from now is refused, so a captured call cannot be
played again later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from cxloop.care import intake
from cxloop.care.service import storable
from cxloop.care.webhooks import customer_for
from cxloop.core.errors import AuthenticationFailed
from cxloop.core.settings import Settings
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import CareInbox, Customer

KINDS = ("mention", "comment", "review")
# Which kinds each inbox channel takes.
INBOX_KINDS = {"social": ("mention", "comment"), "review": ("review",)}
SIGNATURE_HEADER = "x-cxloop-signature"
TIMESTAMP_HEADER = "x-cxloop-timestamp"
TOLERANCE = timedelta(minutes=5)
MAX_WEBHOOK_ITEMS = 500
MAX_TEXT = 50_000


class ItemError(ValueError):
    """Why an item (a webhook item, an import row) cannot be taken."""


# --- the signature -------------------------------------------------------------------------------


def _secret(key: str, inbox: CareInbox) -> str:
    message = f"cxloop-social-hook\x00{inbox.id}\x00{inbox.token_hash}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signing_secret(inbox: CareInbox, settings: Settings) -> str:
    """The secret a social or review inbox's webhook calls are signed with."""
    return _secret(settings.resolved_secret_key(), inbox)


def signature(secret: str, *, timestamp: str, body: bytes) -> str:
    """The ``X-Cxloop-Signature`` value of a call: ``sha256=<hex>`` over ``timestamp.body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    inbox: CareInbox,
    *,
    headers: Mapping[str, str],
    body: bytes,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """AuthenticationFailed unless the call is signed with the inbox's secret (under the
    current secret key or a previous one) and its timestamp is recent."""
    stamp = headers.get(TIMESTAMP_HEADER, "").strip()
    sent = headers.get(SIGNATURE_HEADER, "").strip()
    if not stamp.isdigit() or len(stamp) > 12 or not sent:
        raise AuthenticationFailed("The call needs X-Cxloop-Timestamp and X-Cxloop-Signature.")
    moment = now or utcnow()
    if abs(moment.timestamp() - int(stamp)) > TOLERANCE.total_seconds():
        raise AuthenticationFailed("The timestamp is too old or in the future (replay?).")
    matched = False
    for key in settings.secret_keys():
        expected = signature(_secret(key, inbox), timestamp=stamp, body=body)
        matched |= hmac.compare_digest(expected.encode(), sent.encode())
    if not matched:
        raise AuthenticationFailed("The signature does not match the body.")


# --- items ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SocialItem:
    id: str
    kind: str
    platform: str
    author_name: str
    author_handle: str
    author_url: str
    text: str
    rating: int | None
    url: str
    posted_at: datetime | None


def text_field(raw: Mapping[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    """Field ``name`` of an item as text (a number becomes text), at most ``limit`` long."""
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise ItemError(f"{name} is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ItemError(f"{name} must be text")
    text = storable(str(value)).strip()
    if len(text) > limit:
        raise ItemError(f"{name} is longer than {limit:,} characters")
    return text


def parse_time(value: object, *, zone: ZoneInfo, name: str) -> datetime | None:
    """An ISO 8601 time (one without an offset is in ``zone``), or None when empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ItemError(f"{name} must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ItemError(f"{name} is not an ISO 8601 time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return as_utc(moment)


def _url(raw: Mapping[str, Any], name: str) -> str:
    url = text_field(raw, name, 2000)
    if url and not url.lower().startswith(("https://", "http://")):
        raise ItemError(f"{name} must be an http(s) address")
    return url


def _rating(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ItemError("rating must be a whole number from 1 to 5")
    return value


def parse_item(raw: object, *, zone: ZoneInfo) -> SocialItem:
    """An item as the webhook and the JSON import send it (``author`` an object, or CSV's
    ``author_name``/``author_handle``/``author_url`` columns); ItemError says what is wrong."""
    if not isinstance(raw, Mapping):
        raise ItemError("an item is a JSON object")
    author = raw.get("author")
    if author is None:
        author = {k: raw.get(f"author_{k}") for k in ("name", "handle", "url")}
    if not isinstance(author, Mapping):
        raise ItemError("author must be an object with name, handle and url")
    kind = text_field(raw, "kind", 16, required=True).lower()
    if kind not in KINDS:
        raise ItemError(f"kind must be one of {', '.join(KINDS)}")
    platform = text_field(raw, "platform", 32, required=True).lower()
    if not all(ch.isascii() and (ch.isalnum() or ch in "_-.") for ch in platform):
        raise ItemError("platform is a short name such as naver_place or instagram")
    rating = _rating(raw.get("rating"))
    if kind == "review" and rating is None:
        raise ItemError("a review needs its rating (1 to 5)")
    if kind != "review" and rating is not None:
        raise ItemError(f"a {kind} has no rating")
    text = text_field(raw, "text", MAX_TEXT)
    if not text and kind != "review":
        raise ItemError(f"a {kind} needs its text")
    return SocialItem(
        id=text_field(raw, "id", 200, required=True),
        kind=kind,
        platform=platform,
        author_name=text_field(author, "name", 200),
        author_handle=text_field(author, "handle", 200).lstrip("@"),
        author_url=_url(author, "url"),
        text=text,
        rating=rating,
        url=_url(raw, "url"),
        posted_at=parse_time(raw.get("posted_at"), zone=zone, name="posted_at"),
    )


def _author(session: Session, inbox: CareInbox, item: SocialItem) -> Customer:
    """The author's profile: by their handle on the platform, or (with no handle) one of
    their own for this item, so what they wrote is still analysed and answered."""
    handle = item.author_handle.lower() or f"item:{item.id}"
    customer = customer_for(
        session, inbox=inbox, kind="social", value=f"{item.platform}:{handle}"[:320]
    )
    if not customer.display_name and item.author_name:
        customer.display_name = item.author_name[:200]
    return customer


def message_id_of(item: SocialItem) -> str:
    """The id a social item is stored under (once per workspace)."""
    return f"social:{item.platform}:{item.id}"


def take_item(
    session: Session, *, inbox: CareInbox, item: SocialItem, now: datetime | None = None
) -> intake.Received:
    """Take a mention, comment or review into the author's conversation in ``inbox``; the
    same item again is found, not stored twice."""
    kinds = INBOX_KINDS.get(inbox.channel, ())
    if item.kind not in kinds:
        raise ItemError(
            f"a {item.kind} goes to a {'review' if item.kind == 'review' else 'social'} inbox"
        )
    details: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind,
        "platform": item.platform,
        "author": {"name": item.author_name, "handle": item.author_handle, "url": item.author_url},
    }
    if item.rating is not None:
        details["rating"] = item.rating
    if item.url:
        details["url"] = item.url
    subject = f"{item.platform} ★{item.rating}" if item.rating else f"{item.platform} {item.kind}"
    received = intake.receive_message(
        session,
        inbox=inbox,
        customer=_author(session, inbox, item),
        text=item.text,
        contact=(item.author_url or item.author_handle or item.author_name)[:320],
        channel_message_id=message_id_of(item),
        subject=subject,
        sent_at=item.posted_at,
        details={"social": details},
        now=now,
    )
    assert received is not None  # a customer's message always has a conversation
    return received


# --- the webhook ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemResult:
    id: str
    status: Literal["stored", "duplicate", "unreadable"]
    conversation_id: int | None = None
    message_id: int | None = None
    error: str = ""


def take_webhook(
    session: Session, *, inbox: CareInbox, payload: bytes, zone: ZoneInfo
) -> list[ItemResult]:
    """A verified webhook body (one item, a list, or ``{"items": [...]}``) taken item by item;
    what cannot be read (the body, or an item) is kept raw with the reason for the agents."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return [_unreadable(session, inbox, payload, "", "The body is not JSON.")]
    items = body.get("items") if isinstance(body, Mapping) and "items" in body else body
    items = items if isinstance(items, list) else [items]
    if len(items) > MAX_WEBHOOK_ITEMS:
        return [
            _unreadable(
                session, inbox, payload, "", f"More than {MAX_WEBHOOK_ITEMS} items in one call."
            )
        ]
    results: list[ItemResult] = []
    for raw in items:
        raw_id = str(raw.get("id") or "")[:200] if isinstance(raw, Mapping) else ""
        try:
            with session.begin_nested():
                received = take_item(session, inbox=inbox, item=parse_item(raw, zone=zone))
        except ItemError as exc:
            dumped = json.dumps(raw, ensure_ascii=False, default=str).encode()
            results.append(_unreadable(session, inbox, dumped, raw_id, str(exc)))
            continue
        results.append(
            ItemResult(
                id=raw_id,
                status="stored" if received.created else "duplicate",
                conversation_id=received.conversation.id,
                message_id=received.message.id,
            )
        )
    return results


def _unreadable(
    session: Session, inbox: CareInbox, raw: bytes, item_id: str, reason: str
) -> ItemResult:
    kept = intake.keep_unreadable(session, inbox=inbox, raw=raw, problem=reason)
    return ItemResult(
        id=item_id,
        status="unreadable",
        conversation_id=kept.conversation_id,
        message_id=kept.id,
        error=reason,
    )
