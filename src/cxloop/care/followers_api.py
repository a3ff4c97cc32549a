"""``/api/v1/care/conversations/{id}/followers``: who follows a conversation; follow and stop
following (oneself, or another member for an admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as FastPath
from fastapi.responses import Response
from pydantic import BaseModel, Field

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.care import followers, service

router = APIRouter(prefix="/api/v1/care", tags=["care"])

Id = Annotated[int, FastPath(ge=1, le=2**53)]


class FollowerIn(BaseModel):
    user_id: int | None = Field(
        default=None,
        ge=1,
        lt=2**53,
        description="Another member (admins only); yourself if left out",
    )


class FollowerOut(BaseModel):
    user_id: int
    name: str


class FollowersOut(BaseModel):
    items: list[FollowerOut]
    next_cursor: str | None = Field(
        default=None,
        description=f"Always null: a conversation has at most {followers.MAX_FOLLOWERS}",
    )


def _followers(session: DbSession, conversation_id: int, workspace_id: int) -> FollowersOut:
    conversation = service.get_conversation(
        session, workspace_id=workspace_id, conversation_id=conversation_id
    )
    rows = followers.followers_of(session, conversation=conversation)
    return FollowersOut(items=[FollowerOut(user_id=f.user_id, name=f.name) for f in rows])


@router.get("/conversations/{conversation_id}/followers", response_model=FollowersOut)
def list_followers(
    conversation_id: Id, principal: ApiPrincipal, session: DbSession
) -> FollowersOut:
    """The members who follow the conversation, by name."""
    require(principal, "care:work")
    return _followers(session, conversation_id, principal.workspace_id)


@router.post("/conversations/{conversation_id}/followers", response_model=FollowersOut)
def add_follower(
    conversation_id: Id,
    principal: ApiPrincipal,
    session: DbSession,
    body: FollowerIn | None = None,
) -> FollowersOut:
    """Follow the conversation (an admin may name another member); the followers after."""
    require(principal, "care:work")
    conversation = service.get_conversation(
        session, workspace_id=principal.workspace_id, conversation_id=conversation_id
    )
    followers.follow(
        session,
        principal=principal,
        conversation=conversation,
        user_id=body.user_id if body else None,
    )
    return _followers(session, conversation_id, principal.workspace_id)


@router.delete("/conversations/{conversation_id}/followers", status_code=204)
def remove_follower(
    conversation_id: Id,
    principal: ApiPrincipal,
    session: DbSession,
    user_id: Annotated[int | None, Query(ge=1, lt=2**53)] = None,
) -> Response:
    """Stop following (an admin may remove another member with ``?user_id=``)."""
    require(principal, "care:work")
    conversation = service.get_conversation(
        session, workspace_id=principal.workspace_id, conversation_id=conversation_id
    )
    followers.unfollow(session, principal=principal, conversation=conversation, user_id=user_id)
    return Response(status_code=204)
