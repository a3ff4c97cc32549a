"""Errors that every layer may raise, rendered as RFC 9457 problem+json by the HTTP layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class CxloopError(Exception):
    """A failure the caller caused or can act on; never a 500."""

    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class ValidationFailed(CxloopError):
    status = 422
    title = "Validation failed"
    type_slug = "validation-failed"


class NotFound(CxloopError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(CxloopError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class AuthenticationFailed(CxloopError):
    status = 401
    title = "Authentication required"
    type_slug = "unauthenticated"


class PermissionDenied(CxloopError):
    status = 403
    title = "Permission denied"
    type_slug = "forbidden"


class ContentTooLarge(CxloopError):
    """The request body is over its route's limit (RFC 9110: 413 Content Too Large)."""

    status = 413
    title = "Content too large"
    type_slug = "content-too-large"


class TooManyRequests(CxloopError):
    status = 429
    title = "Too many requests"
    type_slug = "too-many-requests"


def problem(
    status: int, title: str, detail: str, *, type_slug: str, **extra: Any
) -> dict[str, Any]:
    """An RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": f"https://cxloop.dev/problems/{type_slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v})
    return body


def value_error_code(error: Mapping[str, Any]) -> dict[str, Any]:
    """The ``code`` and ``params`` of one pydantic error (``value.<its type>`` and its context),
    so a page can say it in the reader's language; its English ``msg`` stays the message."""
    context = error.get("ctx") or {}
    return {
        "code": f"value.{error.get('type', 'invalid')}",
        "params": {
            key: value if isinstance(value, str | int | float | bool) else str(value)
            for key, value in context.items()
        },
    }
