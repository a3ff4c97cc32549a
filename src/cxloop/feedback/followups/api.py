"""REST API of follow-ups: the tasks unhappy answers create, listed, read and worked to closure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as FastPath

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.core.timeutil import utcnow
from cxloop.feedback.followups import service
from cxloop.feedback.followups.schemas import (
    FollowUpOut,
    FollowUpPage,
    FollowUpStatus,
    FollowUpUpdate,
)
from cxloop.feedback.surveys.definition import StorableText
from cxloop.models import FollowUp

router = APIRouter(prefix="/api/v1/follow-ups", tags=["follow-ups"])

FollowUpId = Annotated[int, FastPath(ge=1, le=2**53, description="Follow-up id")]


def _out(follow_up: FollowUp) -> FollowUpOut:
    return FollowUpOut.model_validate(
        {
            **{
                name: getattr(follow_up, name)
                for name in FollowUpOut.model_fields
                if name != "overdue"
            },
            "overdue": service.is_overdue(follow_up, now=utcnow()),
        }
    )


@router.get("", response_model=FollowUpPage)
def list_follow_ups(
    principal: ApiPrincipal,
    session: DbSession,
    status: FollowUpStatus | None = None,
    team: Annotated[StorableText | None, Query(max_length=64)] = None,
    assignee_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    overdue: Annotated[bool, Query(description="Only open ones past their due time")] = False,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FollowUpPage:
    """The workspace's follow-ups, soonest due first, filterable, with cursor pagination."""
    require(principal, "followups:read")
    rows, next_cursor = service.list_follow_ups(
        session,
        workspace_id=principal.workspace_id,
        status=status,
        team=team,
        assignee_id=assignee_id,
        overdue=overdue,
        cursor=cursor,
        limit=limit,
    )
    return FollowUpPage(items=[_out(f) for f in rows], next_cursor=next_cursor)


@router.get("/{follow_up_id}", response_model=FollowUpOut)
def get_follow_up(
    follow_up_id: FollowUpId, principal: ApiPrincipal, session: DbSession
) -> FollowUpOut:
    """One follow-up."""
    require(principal, "followups:read")
    return _out(
        service.get_follow_up(
            session, workspace_id=principal.workspace_id, follow_up_id=follow_up_id
        )
    )


@router.patch("/{follow_up_id}", response_model=FollowUpOut)
def update_follow_up(
    follow_up_id: FollowUpId, body: FollowUpUpdate, principal: ApiPrincipal, session: DbSession
) -> FollowUpOut:
    """Change a follow-up's status, assignee (a workspace member; null unassigns), note or due
    time; done or dismissed stamps closed_at, reopening clears it."""
    require(principal, "followups:write")
    follow_up = service.get_follow_up(
        session, workspace_id=principal.workspace_id, follow_up_id=follow_up_id
    )
    service.update_follow_up(
        session,
        follow_up=follow_up,
        status=body.status,
        assignee_id=body.assignee_id if "assignee_id" in body.model_fields_set else service.UNSET,
        note=body.note,
        due_at=body.due_at,
        actor_id=principal.user_id,
    )
    return _out(follow_up)
