"""The follow button of the inbox's conversation pane: the signed-in member follows a
conversation or stops following it (care.followers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from cxloop.accounts.access import require
from cxloop.care import followers
from cxloop.care import service as care
from cxloop.core.errors import NotFound
from cxloop.models import Conversation
from cxloop.web.rendering import redirect
from cxloop.web.session import Page, WebContext, safe_next, verify_csrf

router = APIRouter(prefix="/inbox", include_in_schema=False, dependencies=[Depends(verify_csrf)])

MAX_ID = 2**53
NextField = Annotated[str, Form(alias="next")]


def pane_followers(page: WebContext, conversation: Conversation) -> dict[str, object]:
    """What the conversation pane shows: the followers' names and whether the member follows."""
    rows = followers.followers_of(page.db, conversation=conversation)
    return {"followers": rows, "following": any(f.user_id == page.user.id for f in rows)}


def _toggle(page: WebContext, conversation_id: int, next_url: str, *, follow: bool) -> Response:
    require(page.principal, "care:work")
    if not 1 <= conversation_id < MAX_ID:
        raise NotFound(f"No conversation with id {conversation_id} in this workspace.")
    conversation = care.get_conversation(
        page.db, workspace_id=page.workspace.id, conversation_id=conversation_id
    )
    change = followers.follow if follow else followers.unfollow
    change(page.db, principal=page.principal, conversation=conversation)
    page.flash("success", "followers.followed" if follow else "followers.unfollowed")
    home = f"/inbox/{conversation.id}"
    target = safe_next(next_url, home)
    return redirect(target if target.startswith(home) else home)


@router.post("/{conversation_id:int}/follow")
def follow(page: Page, conversation_id: int, next_url: NextField = "") -> Response:
    """The signed-in member follows the conversation."""
    return _toggle(page, conversation_id, next_url, follow=True)


@router.post("/{conversation_id:int}/unfollow")
def unfollow(page: Page, conversation_id: int, next_url: NextField = "") -> Response:
    """The signed-in member stops following the conversation."""
    return _toggle(page, conversation_id, next_url, follow=False)
