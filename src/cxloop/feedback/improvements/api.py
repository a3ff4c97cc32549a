"""REST API of improvements ("you said, we did"): record what changed, link the responses it
answers (by hand or by a filter), preview who would be told, announce it, and read the record of
who was told by which channel. The request models live here, beside their only user."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.feedback.improvements import announcements, service
from cxloop.feedback.surveys.definition import StorableText
from cxloop.models import Improvement

router = APIRouter(prefix="/api/v1/improvements", tags=["improvements"])

ImprovementId = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Improvement id")]
ResponseId = Annotated[int, FastPath(ge=1, le=2**53, description="Response id")]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=200)]


# --- models ------------------------------------------------------------------------------------


class ImprovementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title_ko: StorableText = Field(default="", max_length=service.TITLE_LENGTH)
    title_en: StorableText = Field(default="", max_length=service.TITLE_LENGTH)
    body_ko: StorableText = Field(default="", max_length=service.BODY_LENGTH)
    body_en: StorableText = Field(default="", max_length=service.BODY_LENGTH)


class ImprovementUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title_ko: StorableText | None = Field(default=None, max_length=service.TITLE_LENGTH)
    title_en: StorableText | None = Field(default=None, max_length=service.TITLE_LENGTH)
    body_ko: StorableText | None = Field(default=None, max_length=service.BODY_LENGTH)
    body_en: StorableText | None = Field(default=None, max_length=service.BODY_LENGTH)


class ImprovementOut(BaseModel):
    id: int
    title_ko: str
    title_en: str
    body_ko: str
    body_en: str
    criteria: dict[str, Any] = Field(description="The filter the responses were last linked by")
    created_at: datetime
    announced_at: datetime | None
    linked_responses: int
    linked_customers: int
    told_customers: int


class ImprovementPage(BaseModel):
    items: list[ImprovementOut]
    next_cursor: str | None


class ResponseFilterIn(BaseModel):
    """Completed responses to link: every condition given must hold."""

    model_config = ConfigDict(extra="forbid")
    survey_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    metric: str | None = Field(
        default=None, description="nps, csat or ces (defaults to the survey's kind)"
    )
    score_min: int | None = Field(default=None, ge=0, le=10)
    score_max: int | None = Field(default=None, ge=0, le=10)
    words: list[Annotated[StorableText, Field(max_length=50)]] = Field(
        default_factory=list, max_length=5, description="Words the comment contains (all)"
    )
    since: datetime | None = None
    until: datetime | None = None


class LinkIn(BaseModel):
    """Link responses by hand (``response_ids``) or by a filter (``filter``), not both."""

    model_config = ConfigDict(extra="forbid")
    response_ids: list[Annotated[int, Field(ge=1, le=2**53)]] | None = Field(
        default=None, max_length=service.MAX_LINK_BY_HAND
    )
    filter: ResponseFilterIn | None = None

    @model_validator(mode="after")
    def _one_way(self) -> LinkIn:
        if (self.response_ids is None) == (self.filter is None):
            raise ValueError("give either response_ids or filter")
        return self


class LinkedOut(BaseModel):
    linked: int = Field(description="Responses linked now (already linked ones not counted)")
    matching: int | None = Field(default=None, description="Responses the filter picks")


class LinkOut(BaseModel):
    id: int
    response_id: int
    survey_id: int
    customer_id: int | None
    nps: int | None
    csat: int | None
    ces: int | None
    comment: str | None
    submitted_at: datetime
    notified_at: datetime | None
    notified_channel: str | None
    widget_shown_at: datetime | None


class LinkPage(BaseModel):
    items: list[LinkOut]
    next_cursor: str | None


class PreviewOut(BaseModel):
    email: int = Field(description="Customers who would get an email now")
    widget_only: int = Field(description="Customers without an email: told in their widget")
    opted_out: int = Field(description="Customers who opted out of service email")
    erased: int = Field(description="Erased customers: never told")
    already_told: int
    anonymous: int = Field(description="Linked responses without a known customer")


class AnnounceOut(BaseModel):
    emailed: int
    widget_only: int
    opted_out: int
    erased: int
    already_told: int
    told_by_channel: dict[str, int]


# --- endpoints ---------------------------------------------------------------------------------


def _load(session: DbSession, principal: Principal, improvement_id: int) -> Improvement:
    return service.get_improvement(
        session, workspace_id=principal.workspace_id, improvement_id=improvement_id
    )


def _out(improvement: Improvement, counts: service.LinkCounts) -> ImprovementOut:
    return ImprovementOut(
        id=improvement.id,
        title_ko=improvement.title_ko,
        title_en=improvement.title_en,
        body_ko=improvement.body_ko,
        body_en=improvement.body_en,
        criteria=improvement.criteria or {},
        created_at=improvement.created_at,
        announced_at=improvement.announced_at,
        linked_responses=counts.responses,
        linked_customers=counts.customers,
        told_customers=counts.told,
    )


def _one(session: DbSession, improvement: Improvement) -> ImprovementOut:
    counts = service.link_counts(
        session, workspace_id=improvement.workspace_id, improvement_ids=[improvement.id]
    )
    return _out(improvement, counts.get(improvement.id, service.LinkCounts()))


@router.get("", response_model=ImprovementPage)
def list_improvements(
    principal: ApiPrincipal, session: DbSession, cursor: Cursor = None, limit: Limit = 30
) -> ImprovementPage:
    """The workspace's improvements, newest first, with cursor pagination."""
    require(principal, "improvements:read")
    rows, next_cursor = service.list_improvements(
        session, workspace_id=principal.workspace_id, cursor=cursor, limit=limit
    )
    counts = service.link_counts(
        session, workspace_id=principal.workspace_id, improvement_ids=[r.id for r in rows]
    )
    return ImprovementPage(
        items=[_out(r, counts.get(r.id, service.LinkCounts())) for r in rows],
        next_cursor=next_cursor,
    )


@router.post("", response_model=ImprovementOut, status_code=status.HTTP_201_CREATED)
def create_improvement(
    body: ImprovementCreate, principal: ApiPrincipal, session: DbSession
) -> ImprovementOut:
    """Record an improvement: a title and a text in Korean, English or both."""
    require(principal, "improvements:write")
    improvement = service.create_improvement(
        session,
        workspace_id=principal.workspace_id,
        title_ko=body.title_ko,
        title_en=body.title_en,
        body_ko=body.body_ko,
        body_en=body.body_en,
        created_by_id=principal.user_id,
    )
    return _one(session, improvement)


@router.get("/{improvement_id}", response_model=ImprovementOut)
def get_improvement(
    improvement_id: ImprovementId, principal: ApiPrincipal, session: DbSession
) -> ImprovementOut:
    """One improvement with its counts."""
    require(principal, "improvements:read")
    return _one(session, _load(session, principal, improvement_id))


@router.patch("/{improvement_id}", response_model=ImprovementOut)
def update_improvement(
    improvement_id: ImprovementId,
    body: ImprovementUpdate,
    principal: ApiPrincipal,
    session: DbSession,
) -> ImprovementOut:
    """Change the texts (customers already told keep what they were told)."""
    require(principal, "improvements:write")
    improvement = _load(session, principal, improvement_id)
    service.update_improvement(
        session,
        improvement=improvement,
        title_ko=body.title_ko,
        title_en=body.title_en,
        body_ko=body.body_ko,
        body_en=body.body_en,
    )
    return _one(session, improvement)


@router.post("/{improvement_id}/links", response_model=LinkedOut)
def link_responses(
    improvement_id: ImprovementId, body: LinkIn, principal: ApiPrincipal, session: DbSession
) -> LinkedOut:
    """Link responses by id, or every completed response a filter picks (the filter is kept
    on the improvement)."""
    require(principal, "improvements:write")
    improvement = _load(session, principal, improvement_id)
    if body.response_ids is not None:
        return LinkedOut(
            linked=service.link_responses(
                session, improvement=improvement, response_ids=body.response_ids
            )
        )
    assert body.filter is not None
    criteria = service.parse_criteria(
        session,
        workspace_id=principal.workspace_id,
        raw=body.filter.model_dump(exclude_defaults=True),
    )
    matching = service.count_matching(
        session, workspace_id=principal.workspace_id, criteria=criteria
    )
    linked = service.link_by_filter(session, improvement=improvement, criteria=criteria)
    return LinkedOut(linked=linked, matching=matching)


@router.get("/{improvement_id}/links", response_model=LinkPage)
def list_links(
    improvement_id: ImprovementId,
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> LinkPage:
    """The linked responses, newest link first, with whether and how each customer was told."""
    require(principal, "improvements:read")
    improvement = _load(session, principal, improvement_id)
    rows, next_cursor = service.linked_responses(
        session, improvement=improvement, cursor=cursor, limit=limit
    )
    return LinkPage(
        items=[
            LinkOut(
                id=link.id,
                response_id=response.id,
                survey_id=response.survey_id,
                customer_id=link.customer_id,
                nps=response.nps,
                csat=response.csat,
                ces=response.ces,
                comment=response.comment,
                submitted_at=response.submitted_at,
                notified_at=link.notified_at,
                notified_channel=link.notified_channel,
                widget_shown_at=link.widget_shown_at,
            )
            for link, response in rows
        ],
        next_cursor=next_cursor,
    )


@router.delete("/{improvement_id}/links/{response_id}", status_code=status.HTTP_204_NO_CONTENT)
def unlink_response(
    improvement_id: ImprovementId,
    response_id: ResponseId,
    principal: ApiPrincipal,
    session: DbSession,
) -> None:
    """Unlink a response whose customer has not been told yet (a told one is a 409)."""
    require(principal, "improvements:write")
    improvement = _load(session, principal, improvement_id)
    service.unlink_response(session, improvement=improvement, response_id=response_id)


@router.get("/{improvement_id}/preview", response_model=PreviewOut)
def preview(
    improvement_id: ImprovementId, principal: ApiPrincipal, session: DbSession
) -> PreviewOut:
    """How many customers an announcement now would tell, and why the others would not be."""
    require(principal, "improvements:read")
    plan = announcements.announcement_plan(
        session, improvement=_load(session, principal, improvement_id)
    )
    return PreviewOut(
        email=len(plan.email),
        widget_only=len(plan.widget_only),
        opted_out=len(plan.opted_out),
        erased=plan.erased,
        already_told=plan.already_told,
        anonymous=plan.anonymous,
    )


@router.post("/{improvement_id}/announce", response_model=AnnounceOut)
def announce(
    improvement_id: ImprovementId, principal: ApiPrincipal, session: DbSession
) -> AnnounceOut:
    """Tell the linked customers (email where allowed, else their widget); nobody twice."""
    require(principal, "improvements:announce")
    improvement = _load(session, principal, improvement_id)
    result = announcements.announce(session, improvement=improvement, principal=principal)
    return AnnounceOut(
        emailed=result.emailed,
        widget_only=result.widget_only,
        opted_out=result.opted_out,
        erased=result.erased,
        already_told=result.already_told,
        told_by_channel=announcements.told_by_channel(session, improvement=improvement),
    )
