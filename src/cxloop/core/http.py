"""HTTP plumbing shared by every router: the request's database session and the client IP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.core.errors import Conflict, ValidationFailed


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def db_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the handler returns, rolled back on error.

    Used with ``scope="function"`` so the commit happens before the response is sent: a
    client never gets a 2xx for a change that did not reach the database.
    """
    try:
        with database_of(request).session() as session:
            yield session
    except IntegrityError:
        raise Conflict(
            "The change conflicts with data saved at the same moment; please retry."
        ) from None
    except DataError as exc:
        # The database refused a value the validation let through (a NUL character, a number
        # out of a column's range): the request's fault, and nothing of it was saved.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "a value cannot be stored"
        raise ValidationFailed(f"A value in the request cannot be stored: {reason}.") from None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


class JSONBytesResponse(JSONResponse):
    """JSON rendered by orjson (datetimes as ISO-8601, non-string keys allowed)."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS, default=_fallback)


def _fallback(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
