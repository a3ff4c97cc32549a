"""Agents' live inbox: ``GET /inbox/live`` streams the workspace's care events (server-sent
events: a conversation changed, someone is typing) to every open inbox screen, which reloads
the panes they touch (an agent with the stream open counts as online, see care.presence);
``POST /inbox/{id}/typing`` tells the others an agent is writing in a conversation (and a chat
visitor, that the team is)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cxloop.accounts.access import require
from cxloop.care import live as care_live
from cxloop.care import presence
from cxloop.care import service as care
from cxloop.core.http import database_of
from cxloop.core.ratelimit import RateLimiter
from cxloop.web.care.chat import events
from cxloop.web.session import Page, verify_csrf, web_context

router = APIRouter(prefix="/inbox", include_in_schema=False, dependencies=[Depends(verify_csrf)])

TYPING_LIMIT = "40 per minute"
SEEN_EVERY = 60.0  # seconds between an open stream's "still here" (online means seen in 5 min)


@router.get("/live")
async def agents_live(request: Request) -> Response:
    """The workspace's care events, live, for a signed-in agent."""
    database = database_of(request)

    def who() -> tuple[int, int]:
        with database.session(write_on_demand=True) as db:
            page = web_context(request, db)
            require(page.principal, "care:work")
            return page.workspace.id, page.user.id

    workspace_id, user_id = await run_in_threadpool(who)

    def still_here() -> None:
        with database.session() as db:
            presence.seen(db, workspace_id=workspace_id, user_id=user_id)

    async def stream() -> AsyncIterator[bytes]:
        # An agent who keeps the live inbox open is at work, though the page is never reloaded.
        last = time.monotonic()
        async for chunk in events(request, care_live.agents_topic(workspace_id)):
            yield chunk
            if time.monotonic() - last >= SEEN_EVERY:
                last = time.monotonic()
                await run_in_threadpool(still_here)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/{conversation_id:int}/typing")
def agent_typing(page: Page, conversation_id: int) -> Response:
    """The signed-in agent is writing in this conversation."""
    require(page.principal, "care:work")
    limiter: RateLimiter = page.request.app.state.rate_limiter
    if not limiter.allow(TYPING_LIMIT, "inbox-typing", str(page.user.id)):
        return JSONResponse({"success": False})
    conversation = care.get_conversation(
        page.db, workspace_id=page.workspace.id, conversation_id=conversation_id
    )
    care_live.typing(
        workspace_id=page.workspace.id,
        conversation=conversation,
        who="agent",
        name=page.user.display_name or page.user.email,
        user_id=page.user.id,
    )
    return JSONResponse({"success": True})
