"""REST API of survey invitations: invite chosen customers by email or personal link (the
links are returned once), and list a survey's invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.core.settings import Settings
from cxloop.feedback.distribution import service as distribution
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import Invitation

router = APIRouter(prefix="/api/v1/surveys", tags=["invitations"])

SurveyId = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Survey id")]
InvitationStatus = Literal["scheduled", "sent", "opened", "answered", "expired", "skipped"]


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_ids: list[Annotated[int, Field(ge=1, le=2**53)]] = Field(
        min_length=1, max_length=distribution.MAX_INVITE_BATCH
    )
    channel: Literal["email", "link"] = Field(
        description="email: cxloop emails each customer their link; link: you share the links"
    )
    hidden: dict[str, Any] = Field(
        default_factory=dict,
        max_length=30,
        description="Values of the survey's hidden fields carried with every answer",
    )


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    survey_id: int
    customer_id: int
    channel: str
    status: str
    skip_reason: str | None = Field(
        default=None, description="Why a skipped invitation was not sent (fatigue, opted_out, …)"
    )
    trigger_event_id: int | None
    send_at: datetime
    sent_at: datetime | None
    reminded_at: datetime | None
    expires_at: datetime
    created_at: datetime


class IssuedOut(InvitationOut):
    link: str | None = Field(
        description="The personal link, shown only in this reply; null when skipped"
    )


class IssuedPage(BaseModel):
    items: list[IssuedOut]
    invited: int = Field(description="Invitations sent (not skipped)")
    skipped: int


class InvitationPage(BaseModel):
    items: list[InvitationOut]
    next_cursor: str | None


def _fields(invitation: Invitation) -> dict[str, Any]:
    reason = invitation.hidden.get("skip_reason") if invitation.status == "skipped" else None
    return {
        **{
            name: getattr(invitation, name)
            for name in InvitationOut.model_fields
            if name != "skip_reason"
        },
        "skip_reason": reason,
    }


@router.post(
    "/{survey_id}/invitations", response_model=IssuedPage, status_code=status.HTTP_201_CREATED
)
def invite(
    survey_id: SurveyId,
    body: InviteIn,
    request: Request,
    principal: ApiPrincipal,
    session: DbSession,
) -> IssuedPage:
    """Invite customers to a live survey now. Each gets one personal link (returned here
    once); by email, cxloop sends it in the customer's language. A customer invited within the
    workspace's fatigue window, without an email address, or who opted out of service email
    is skipped, with the reason."""
    require(principal, "invitations:write")
    survey = survey_service.get_survey(
        session, workspace_id=principal.workspace_id, survey_id=survey_id
    )
    settings: Settings = request.app.state.settings
    issued = distribution.invite_customers(
        session,
        survey=survey,
        customer_ids=body.customer_ids,
        channel=body.channel,
        hidden=body.hidden,
        settings=settings,
    )
    items = [IssuedOut(**_fields(i.invitation), link=i.link) for i in issued]
    skipped = sum(1 for item in items if item.status == "skipped")
    return IssuedPage(items=items, invited=len(items) - skipped, skipped=skipped)


@router.get("/{survey_id}/invitations", response_model=InvitationPage)
def list_invitations(
    survey_id: SurveyId,
    principal: ApiPrincipal,
    session: DbSession,
    status: InvitationStatus | None = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InvitationPage:
    """The survey's invitations, newest first, with cursor pagination (links are not shown
    again)."""
    require(principal, "invitations:read")
    survey = survey_service.get_survey(
        session, workspace_id=principal.workspace_id, survey_id=survey_id
    )
    rows, next_cursor = distribution.list_invitations(
        session, survey=survey, status=status, customer_id=customer_id, cursor=cursor, limit=limit
    )
    return InvitationPage(
        items=[InvitationOut(**_fields(row)) for row in rows], next_cursor=next_cursor
    )
