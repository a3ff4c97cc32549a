"""Time helpers: everything is stored in UTC and shown in the workspace time zone (KST default).

Clients send times we cannot trust (a phone whose clock says 9999, a typo in an import), so
the helpers here never overflow: converting a time past the ends of the calendar holds it at
the end instead, and ``event_time`` decides when a client's time is too absurd to keep.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")

# The ends of the calendar Python (and so every column we read back) can hold.
EARLIEST_UTC = datetime.min.replace(tzinfo=UTC)
LATEST_UTC = datetime.max.replace(tzinfo=UTC)
# The window a client's time must fall in to be kept: nothing we record happened before 2000,
# and a clock may run at most a day ahead of ours (time zones set wrong stay within 14 hours).
OLDEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
# Dates a person plans (a due date, a window end) stay before 2100.
LATEST_PLANNED = datetime(2100, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime as UTC; convert an aware one to UTC (held at the calendar's
    ends when the conversion would leave it, e.g. 9999-12-31T23:00-14:00)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return LATEST_UTC if value.year > 1 else EARLIEST_UTC


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` allowed) into an aware UTC datetime (ValueError when
    it is not one; never OverflowError)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return as_utc(datetime.fromisoformat(text))


def is_plausible(value: datetime, *, now: datetime) -> bool:
    """Whether a client's time can be kept: from 2000 to a day after ``now``."""
    moment = as_utc(value)
    return OLDEST_EVENT <= moment <= as_utc(now) + FUTURE_TOLERANCE


def event_time(
    *, received_at: datetime, original: datetime | None, sent_at: datetime | None
) -> datetime | None:
    """When an event happened, by Segment's clock-skew correction
    (``receivedAt − (sentAt − originalTimestamp)``); None when the client's times are absurd
    (outside ``is_plausible``), so the caller keeps ``received_at`` instead."""
    if original is None:
        return received_at
    moment = original
    if sent_at is not None:
        try:
            # The gap between the call and its sending is trusted, the client's idea of the
            # absolute time is not.
            moment = received_at - (sent_at - original)
        except OverflowError:
            return None
    return moment if is_plausible(moment, now=received_at) else None


def occurred_instant(value: datetime) -> datetime:
    """A validator for a client's time of something that happened (from 2000 to tomorrow)."""
    if not is_plausible(value, now=utcnow()):
        raise ValueError("must be a time from 2000 to now")
    return as_utc(value)


def planned_instant(value: datetime) -> datetime:
    """A validator for a time a person plans (a due date): from 2000 to before 2100."""
    if not OLDEST_EVENT <= as_utc(value) < LATEST_PLANNED:
        raise ValueError("must be a time from 2000 to 2099")
    return as_utc(value)


def earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two optional moments (None when both are unknown)."""
    return b if a is None else a if b is None else min(a, b)


def latest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two optional moments (None when both are unknown)."""
    return b if a is None else a if b is None else max(a, b)
