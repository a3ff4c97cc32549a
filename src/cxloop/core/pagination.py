"""Keyset (cursor) pagination: opaque cursors and the newest-first page used by timelines.

A cursor is the sort key of the last row shown, base64 of a JSON list whose last value is the
row id. Cursors are checked before they reach a query, so a forged one is a 422, not a 500.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import parse_iso

T = TypeVar("T")
BAD_CURSOR = "The cursor is not one this server handed out."


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """The values of a cursor made by ``encode_cursor``: strings, then a row id last."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed(BAD_CURSOR) from exc
    # A forged cursor must not reach the query: a wrong type or an id past 64 bits is a 500.
    if (
        not isinstance(values, list)
        or len(values) != size
        or not all(isinstance(v, str) for v in values[:-1])
        or isinstance(values[-1], bool)
        or not isinstance(values[-1], int)
        or not 0 <= values[-1] < 2**63
    ):
        raise ValidationFailed(BAD_CURSOR)
    return values


def newest_first(
    session: Session,
    query: Select[tuple[T]],
    *,
    time: InstrumentedAttribute[datetime],
    id: InstrumentedAttribute[int],
    cursor: str | None,
    limit: int,
) -> tuple[list[T], str | None]:
    """One page of ``query`` ordered by ``time`` then ``id``, newest first, after ``cursor``."""
    return _by_time(session, query, time=time, id=id, cursor=cursor, limit=limit, newest=True)


def oldest_first(
    session: Session,
    query: Select[tuple[T]],
    *,
    time: InstrumentedAttribute[datetime],
    id: InstrumentedAttribute[int],
    cursor: str | None,
    limit: int,
) -> tuple[list[T], str | None]:
    """One page of ``query`` ordered by ``time`` then ``id``, oldest first, after ``cursor``."""
    return _by_time(session, query, time=time, id=id, cursor=cursor, limit=limit, newest=False)


def _by_time(
    session: Session,
    query: Select[tuple[T]],
    *,
    time: InstrumentedAttribute[datetime],
    id: InstrumentedAttribute[int],
    cursor: str | None,
    limit: int,
    newest: bool,
) -> tuple[list[T], str | None]:
    if newest:
        query = query.order_by(time.desc(), id.desc())
    else:
        query = query.order_by(time.asc(), id.asc())
    if cursor:
        moment, last_id = decode_cursor(cursor, 2)
        try:
            pivot = parse_iso(moment)
        except (ValueError, AttributeError):
            raise ValidationFailed(BAD_CURSOR) from None
        if newest:
            query = query.where(or_(time < pivot, and_(time == pivot, id < last_id)))
        else:
            query = query.where(or_(time > pivot, and_(time == pivot, id > last_id)))
    rows = list(session.scalars(query.limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor([getattr(last, time.key).isoformat(), getattr(last, id.key)])
