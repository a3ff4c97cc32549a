"""The ASGI application: routers of every domain, the web UI, errors as problem+json."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cxloop import __version__, domains
from cxloop.care.hooks_api import MAX_SOCIAL_BYTES, MAX_TALKTALK_BYTES
from cxloop.core import heap
from cxloop.core.bodylimit import BodyLimit, BodyRule, size_text
from cxloop.core.db import Database, get_database, is_transient
from cxloop.core.errors import CxloopError, problem
from cxloop.core.http import JSONBytesResponse, UnicodeGuard
from cxloop.core.ratelimit import RateLimited, RateLimiter
from cxloop.core.settings import Settings, get_settings
from cxloop.core.spool import Sweeper
from cxloop.events.cors import IngestionCors
from cxloop.events.segment import MAX_BATCH_BYTES, MAX_EVENT_BYTES
from cxloop.help.kakao import MAX_KAKAO_BYTES

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def _problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONBytesResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/v1/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CxloopError)
    async def cxloop_error(request: Request, exc: CxloopError) -> Any:
        if _wants_html(request) and hasattr(app.state, "render_error"):
            return app.state.render_error(request, exc.status, exc.title, exc.detail)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, RateLimited):
            headers = exc.headers
        return _problem_response(
            exc.status,
            problem(
                exc.status,
                exc.title,
                exc.detail,
                type_slug=exc.type_slug,
                errors=exc.errors,
                instance=request.url.path,
            ),
            headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Any:
        errors = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return _problem_response(
            422,
            problem(422, "Validation failed", detail, type_slug="validation-failed", errors=errors),
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if _wants_html(request) and hasattr(app.state, "render_error"):
            return app.state.render_error(
                request, exc.status_code, str(exc.detail), str(exc.detail)
            )
        return _problem_response(
            exc.status_code,
            problem(
                exc.status_code,
                str(exc.detail),
                str(exc.detail),
                type_slug=f"http-{exc.status_code}",
            ),
            dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(OperationalError)
    async def database_busy(request: Request, exc: OperationalError) -> Any:
        # A lock conflict that outlasted its retries: the client may simply try again (SDKs
        # do on 503). Answered here so the connection stays usable for the next request.
        if not is_transient(exc) and "database is locked" not in str(exc.orig):
            return await unexpected(request, exc)
        log.warning("database busy on %s %s: %s", request.method, request.url.path, exc.orig)
        return _problem_response(
            503,
            problem(
                503,
                "Busy",
                "The database is busy with other writes; please retry in a moment.",
                type_slug="busy",
            ),
            {"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _problem_response(
            500,
            problem(
                500,
                "Internal error",
                "Something went wrong on our side; it was logged.",
                type_slug="internal",
            ),
        )


# How long a thread may keep Python's interpreter lock while another waits for it (CPython's
# default is 5 ms). A webhook's answer takes the lock back after each read, write, fsync and
# query, each time behind the background work of the same process (taking mail in, the bus,
# text analysis); at 1 ms that wait stops adding up to a tenth of a second.
SWITCH_INTERVAL_SECONDS = 0.001


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    background: bool = False,
    settle_heap: bool = False,
) -> FastAPI:
    """Build the application; ``background`` starts the job consumer and the bus pump, and
    ``settle_heap`` (the server's own process) sets what is loaded at the start aside from
    garbage collection (``core.heap``)."""
    settings = settings or get_settings()
    database = database or get_database(settings)
    domains.install()
    runner = (
        domains.background(database, settings, run_jobs=not settings.redis_url)
        if background
        else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        # What this process's webhooks accepted and a crash left unhandled is handled here:
        # the spool is on this host's disk, which a worker elsewhere may not see.
        sweeper = Sweeper(database, settings)
        sweeper.start()
        if runner is not None:
            runner.start()
        if settle_heap:
            heap.settle()  # everything loaded by now stays for the life of the process
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
            sweeper.stop()

    app = FastAPI(
        title="cxloop",
        version=__version__,
        description="Customer-experience platform: Segment-compatible ingestion (/v1) and the "
        "REST API (/api/v1). Errors are RFC 9457 problem+json. A request body over its route's "
        f"limit is refused with 413 before it is read: {size_text(MAX_BATCH_BYTES)} a batch "
        f"and {size_text(MAX_EVENT_BYTES)} a call on /v1, "
        f"{size_text(settings.max_import_body_bytes)} for response imports, "
        f"{size_text(settings.max_body_bytes)} elsewhere.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    # Shared by every route that limits tries (sign-in, public survey links, the widget).
    app.state.rate_limiter = RateLimiter(settings.redis_url)
    app.add_middleware(UnicodeGuard)
    install_error_handlers(app)

    for router in domains.routers():
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    try:
        from cxloop.web.views import install_web
    except ImportError:  # the web UI is optional for API-only deployments
        install_web = None  # type: ignore[assignment]
    if install_web is not None:
        install_web(app, settings, domains.pages())
    # Added last but one, so only CORS is outside it: no other middleware, parser or
    # authentication sees more of a body than its route's limit.
    app.add_middleware(
        BodyLimit,
        rules=body_rules(settings),
        default=settings.max_body_bytes,
        max_fields=settings.max_form_fields,
    )
    # Outside the body limit, so its 413 reaches a browser's analytics.js as an answer too.
    app.add_middleware(IngestionCors)
    return app


def body_rules(settings: Settings) -> list[BodyRule]:
    """The body limit of each class of route; other routes take ``max_body_bytes``."""
    return [
        # Segment's limits, 500 KB a batch and 32 KB a call; the routes check them again
        # once a gzip or deflate body is inflated.
        BodyRule(re.compile(r"/v1/(batch|b)/?$"), MAX_BATCH_BYTES),
        BodyRule(re.compile(r"/v1/"), MAX_EVENT_BYTES),
        BodyRule(
            re.compile(r"/api/v1/surveys/[^/]+/responses/import$"),
            settings.max_import_body_bytes,
        ),
        BodyRule(re.compile(r"/hooks/email/"), settings.max_inbound_mail_bytes),
        # Files agents attach to a reply or note (the composer's form also goes to "canned"
        # with them): a message's worth, and room for its text.
        BodyRule(
            re.compile(
                r"/(inbox/\d+/(reply|note|canned)|api/v1/care/conversations/\d+/attachments)$"
            ),
            settings.max_message_attachment_bytes + 1024 * 1024,
        ),
        BodyRule(re.compile(r"/hooks/naver-talktalk/"), MAX_TALKTALK_BYTES),
        BodyRule(re.compile(r"/hooks/kakao/"), MAX_KAKAO_BYTES),
        BodyRule(re.compile(r"/hooks/social/"), MAX_SOCIAL_BYTES),
        BodyRule(re.compile(r"/api/v1/care/inboxes/[^/]+/import$"), settings.max_import_body_bytes),
        # Survey pages and the widget: public, anyone may post there.
        BodyRule(re.compile(r"/(s|p|widget)/"), settings.max_public_body_bytes),
    ]
