"""Agents' live inbox: ``GET /inbox/live`` streams the workspace's care events (server-sent
events: a conversation changed, someone is typing) to every open inbox screen, which reloads
the panes they touch; ``POST /inbox/{id}/typing`` tells the others an agent is writing in a
conversation (and a chat visitor, that the team is)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cxloop.accounts.access import require
from cxloop.care import live as care_live
from cxloop.care import service as care
from cxloop.core.http import database_of
from cxloop.core.ratelimit import RateLimiter
from cxloop.web.care.chat import events
from cxloop.web.session import Page, verify_csrf, web_context

router = APIRouter(prefix="/inbox", include_in_schema=False, dependencies=[Depends(verify_csrf)])

TYPING_LIMIT = "40 per minute"


@router.get("/live")
async def agents_live(request: Request) -> Response:
    """The workspace's care events, live, for a signed-in agent."""
    database = database_of(request)

    def who() -> int:
        with database.session(write_on_demand=True) as db:
            page = web_context(request, db)
            require(page.principal, "care:work")
            return page.workspace.id

    workspace_id = await run_in_threadpool(who)
    return StreamingResponse(
        events(request, care_live.agents_topic(workspace_id)),
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
