"""What the embeddable widgets (survey, chat) share: their calls are open to every origin (CORS;
write keys are public), answer problems as problem+json with the CORS headers, count against
the client address's limit before any work, and take a user id only with its ``userHash``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from cxloop.accounts.widget_identity import verify_user_hash
from cxloop.core.db import run_transaction
from cxloop.core.errors import CxloopError, ValidationFailed, problem
from cxloop.core.http import JSONBytesResponse, client_address
from cxloop.core.i18n import gettext, normalise_locale
from cxloop.core.ratelimit import RateLimited, RateLimiter
from cxloop.core.settings import Settings
from cxloop.models import Workspace

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "86400",
    # Answers depend on the visitor: never kept by a shared cache.
    "Cache-Control": "no-store",
    "Vary": "Authorization",
}


def widget_problem(request: Request, exc: CxloopError) -> JSONBytesResponse:
    headers = dict(CORS)
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONBytesResponse(
        problem(
            exc.status,
            exc.title,
            exc.detail,
            type_slug=exc.type_slug,
            errors=exc.errors,
            instance=request.url.path,
        ),
        status_code=exc.status,
        media_type="application/problem+json",
        headers=headers,
    )


def limit_client(request: Request, rule: str, name: str) -> None:
    """Count this call against the client address's limit ``rule``; RateLimited (429) when
    over, its detail in the visitor's language."""
    limiter: RateLimiter = request.app.state.rate_limiter
    key = (name, client_address(request))
    if not limiter.allow(rule, *key):
        wait = limiter.retry_after(rule, *key)
        lang = normalise_locale(request.query_params.get("locale"))
        minutes = max(1, -(-wait // 60))
        raise RateLimited(
            gettext(lang, "respond.rate_limited_body", minutes=minutes), retry_after=wait
        )


async def widget_answer(
    request: Request, work: Callable[[], Any], *, rule: str, name: str, status: int = 200
) -> Response:
    """Run ``work`` (its own unit of work, run again after a lock conflict) and answer its
    result as JSON, or its problem; counted once against the client's limit first."""
    try:
        await run_in_threadpool(limit_client, request, rule, name)
        result = await run_in_threadpool(run_transaction, work)
    except CxloopError as exc:
        return widget_problem(request, exc)
    return JSONBytesResponse(result, status_code=status, headers=CORS)


async def widget_body(request: Request, model: type[BaseModel], *, limit: int, what: str) -> Any:
    """The call's JSON body as ``model``: refused whole when over ``limit`` bytes (before it
    is parsed) or not what the model says; ``what`` names the widget in the refusal."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ValidationFailed(f"A {what} call's body is at most {limit:,} bytes.")
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise ValidationFailed(
            f"The call's body is not what the {what} expects.",
            errors=[
                {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                for e in exc.errors()[:20]
            ],
        ) from None


def verified_user_id(
    request: Request, workspace: Workspace, user_id: str | None, sent_hash: str | None
) -> str | None:
    """``user_id`` when ``sent_hash`` is its valid ``userHash``, else None (anonymous).
    Decided before any look-up, so nothing tells whether a customer has that user id."""
    if user_id is None:
        return None
    settings: Settings = request.app.state.settings
    if verify_user_hash(workspace, user_id=user_id, sent_hash=sent_hash, settings=settings):
        return user_id
    return None


def script_response(body: bytes) -> Response:
    """A widget's script: small, dependency-free, cacheable for an hour, loadable anywhere."""
    return Response(
        body,
        media_type="application/javascript; charset=utf-8",
        headers={
            "Cache-Control": "public, max-age=3600",
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
        },
    )
