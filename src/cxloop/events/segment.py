"""Validation and normalisation of Segment Tracking API messages (the wire format)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from cxloop.core.errors import ValidationFailed
from cxloop.core.jsonutil import TooDeep, path_text
from cxloop.core.timeutil import event_time, parse_iso

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TYPES = ("identify", "track", "page", "screen", "group", "alias")
# Where an event keeps the times it was sent with when they were too absurd to use.
OUT_OF_RANGE_KEY = "timestampOutOfRange"


@dataclass(slots=True)
class Message:
    """One validated message, timestamps corrected and in UTC."""

    type: str
    message_id: str
    user_id: str | None
    anonymous_id: str | None
    name: str | None
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    timestamp: datetime
    channel: str
    group_id: str | None = None
    previous_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _fail(
    index: int | None, type_: str | None, message: str, field_name: str = ""
) -> ValidationFailed:
    where = f"event {index}" if index is not None else "event"
    if type_:
        where += f" ({type_})"
    return ValidationFailed(
        f"{where}: {message}",
        errors=[{"index": index, "field": field_name, "message": message}],
    )


def too_deep(exc: TooDeep) -> ValidationFailed:
    """The Segment-style error for a body nested too deep: which event, and where in it."""
    path = exc.path
    index = path[1] if len(path) >= 2 and path[0] == "batch" and isinstance(path[1], int) else None
    inside = path[2:] if index is not None else path
    where = path_text(inside) or "the top level"
    return _fail(
        index,
        None,
        f"nested deeper than {exc.limit} levels at {where}",
        path_text(inside),
    )


def _id(value: Any, name: str, index: int | None, type_: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(index, type_, f"'{name}' must be a string or a number", name)
    text = str(value) if not isinstance(value, float) or not value.is_integer() else str(int(value))
    if len(text) > 320:
        raise _fail(index, type_, f"'{name}' is longer than 320 characters", name)
    return text


def _obj(raw: dict[str, Any], name: str, index: int | None, type_: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(index, type_, f"'{name}' must be an object", name)
    return value


def _time(raw: dict[str, Any], name: str, index: int | None, type_: str) -> datetime | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _fail(index, type_, f"'{name}' must be an ISO-8601 string", name)
    try:
        return parse_iso(value)
    except ValueError:
        raise _fail(
            index, type_, f"'{name}' is not an ISO-8601 timestamp: {value[:40]!r}", name
        ) from None


def channel_of(context: dict[str, Any]) -> str:
    """Where the event came from: web, ios, android, server, or the context's own channel."""
    explicit = context.get("channel")
    if isinstance(explicit, str) and explicit.strip():
        value = explicit.strip().lower()[:32]
        return "web" if value == "browser" else value
    library = context.get("library")
    name = library.get("name", "") if isinstance(library, dict) else ""
    name = name.lower() if isinstance(name, str) else ""
    if "ios" in name or "swift" in name:
        return "ios"
    if "android" in name or "kotlin" in name:
        return "android"
    if "analytics.js" in name or "analytics-next" in name or "browser" in name:
        return "web"
    if "react-native" in name or "flutter" in name:
        return "mobile"
    return "server"


def parse_message(
    raw: Any,
    *,
    type_: str | None,
    index: int | None,
    received_at: datetime,
    batch_context: dict[str, Any] | None = None,
    batch_sent_at: datetime | None = None,
    strict_time: bool = False,
) -> Message:
    """Validate one message; ``type_`` is the endpoint's type (None inside a batch).

    A time outside 2000 … a day after ``received_at`` is replaced by ``received_at``, or
    refused when ``strict_time`` (imports, where a bad date is a mistake to report)."""
    if not isinstance(raw, dict):
        raise _fail(index, None, "must be a JSON object")
    kind = type_ or raw.get("type")
    if kind not in TYPES:
        raise _fail(index, None, f"'type' must be one of {', '.join(TYPES)}", "type")
    if index is not None and len(orjson.dumps(raw)) > MAX_EVENT_BYTES:
        raise _fail(index, kind, "larger than 32 KB", "")
    user_id = _id(raw.get("userId"), "userId", index, kind)
    anonymous_id = _id(raw.get("anonymousId"), "anonymousId", index, kind)
    if user_id is None and anonymous_id is None:
        raise _fail(index, kind, "needs a 'userId' or an 'anonymousId'", "userId")
    properties = _obj(raw, "properties", index, kind)
    traits = _obj(raw, "traits", index, kind)
    context = _obj(raw, "context", index, kind)
    if batch_context:
        context = {**batch_context, **context}
    if kind == "identify" and isinstance(context.get("traits"), dict):
        # RudderStack's SDKs send an identify's traits in context.traits, and analytics.js
        # repeats the known ones there: they are the call's traits, the top level winning.
        traits = {**context["traits"], **traits}
    name: str | None = None
    group_id = previous_id = None
    if kind == "track":
        event = raw.get("event")
        if not isinstance(event, str) or not event.strip():
            raise _fail(index, kind, "'event' (the event name) is required", "event")
        name = event.strip()[:200]
    elif kind in ("page", "screen"):
        value = raw.get("name")
        if value is not None and not isinstance(value, str):
            raise _fail(index, kind, "'name' must be a string", "name")
        name = value[:200] if value else None
    elif kind == "group":
        group_id = _id(raw.get("groupId"), "groupId", index, kind)
        if group_id is None:
            raise _fail(index, kind, "'groupId' is required", "groupId")
    elif kind == "alias":
        previous_id = _id(raw.get("previousId"), "previousId", index, kind)
        if previous_id is None or user_id is None:
            raise _fail(index, kind, "'previousId' and 'userId' are required", "previousId")

    message_id = raw.get("messageId")
    if message_id is None or message_id == "":
        message_id = str(uuid.uuid4())
    elif not isinstance(message_id, str | int) or isinstance(message_id, bool):
        raise _fail(index, kind, "'messageId' must be a string", "messageId")
    message_id = str(message_id)
    if len(message_id) > 128:
        raise _fail(index, kind, "'messageId' is longer than 128 characters", "messageId")

    original_field = "originalTimestamp" if raw.get("originalTimestamp") else "timestamp"
    original = _time(raw, original_field, index, kind)
    sent_at = _time(raw, "sentAt", index, kind) or batch_sent_at
    corrected = event_time(received_at=received_at, original=original, sent_at=sent_at)
    if corrected is None:
        if strict_time:
            raise _fail(
                index,
                kind,
                f"'{original_field}' is out of range (from 2000 to now): "
                f"{str(raw.get(original_field))[:40]!r}",
                original_field,
            )
        # As Segment does: an absurd time (a clock at 9999, before 2000, or days ahead of
        # ours) gives way to the time we received the event; what was sent stays visible.
        sent = {
            original_field: raw.get(original_field),
            "sentAt": raw.get("sentAt") or (batch_sent_at and batch_sent_at.isoformat()),
        }
        context = {**context, OUT_OF_RANGE_KEY: {k: str(v)[:64] for k, v in sent.items() if v}}
        corrected = received_at
    timestamp = corrected
    return Message(
        type=kind,
        message_id=message_id,
        user_id=user_id,
        anonymous_id=anonymous_id,
        name=name,
        properties=properties,
        traits=traits,
        context=context,
        timestamp=timestamp,
        channel=channel_of(context),
        group_id=group_id,
        previous_id=previous_id,
    )
