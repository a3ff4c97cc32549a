"""Insights over HTTP: segments (preview with a live count, save, edit, archive and restore,
members, their CSV and trend; list segments, saved by other domains, deleted here), the model
runs of the registry, and a customer's predictions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi import Path as FastPath
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from cxloop.accounts.access import require, scoped
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.core.csvfile import csv_chunks
from cxloop.core.errors import Conflict, NotFound
from cxloop.core.pagination import newest_first
from cxloop.insights import runs
from cxloop.insights.segments import service as segments
from cxloop.insights.tasks import queue_run
from cxloop.models import (
    Customer,
    CustomerPrediction,
    Identity,
    InsightsModelFit,
    InsightsRun,
    Segment,
)

router = APIRouter(prefix="/api/v1", tags=["insights"])

Cursor = Annotated[str | None, Query(max_length=500)]
SegmentId = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Segment id")]
RunId = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Run id")]
CustomerId = Annotated[int, FastPath(ge=1, le=2**53, description="Customer id")]
Limit = Annotated[int, Query(ge=1, le=200)]
# The rule is validated by the segment rule language (clear 422s naming the field); here only
# its type is fixed.
RuleIn = dict[str, Any]


class CustomerBrief(BaseModel):
    id: int
    display_name: str | None
    email: str | None


class PreviewIn(BaseModel):
    rule: RuleIn
    segment_id: int | None = Field(None, description="The segment being edited, if any")


class PreviewOut(BaseModel):
    count: int
    sample: list[CustomerBrief]
    description: dict[str, str]


class SegmentIn(BaseModel):
    name: str = Field(max_length=segments.MAX_NAME)
    description: str = Field("", max_length=segments.MAX_DESCRIPTION)
    rule: RuleIn


class SegmentPatch(BaseModel):
    name: str | None = Field(None, max_length=segments.MAX_NAME)
    description: str | None = Field(None, max_length=segments.MAX_DESCRIPTION)
    rule: RuleIn | None = None


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str
    kind: Literal["rule", "list"] = Field(
        description="rule: drawn by its rule and kept current; list: a fixed snapshot of "
        "customers, never refreshed"
    )
    rule: dict[str, Any] = Field(description="The rule (empty for a list segment)")
    rule_description: dict[str, str] = Field(
        description="The rule in ko and en; for a list segment, where its members came from"
    )
    origin: dict[str, Any] = Field(
        description="A list segment's origin: source, description (ko, en) and detail"
    )
    members: int
    refreshed_at: datetime | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SegmentPage(BaseModel):
    items: list[SegmentOut]
    next_cursor: str | None


class MemberOut(BaseModel):
    customer: CustomerBrief
    entered_at: datetime


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None


class DayCount(BaseModel):
    day: date
    members: int
    entered: int
    exited: int


class ChangeOut(BaseModel):
    entered: int
    exited: int
    members: int


def _brief(customer: Customer) -> CustomerBrief:
    return CustomerBrief(id=customer.id, display_name=customer.display_name, email=customer.email)


def segment_out(session: DbSession, segment: Segment) -> SegmentOut:
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        kind="list" if segment.kind == "list" else "rule",
        rule=segment.rule,
        rule_description=segments.describe_segment(session, segment=segment),
        origin=segment.origin,
        members=segment.members,
        refreshed_at=segment.refreshed_at,
        archived_at=segment.archived_at,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


@router.post("/segments/preview", response_model=PreviewOut)
def preview_segment(body: PreviewIn, principal: ApiPrincipal, session: DbSession) -> PreviewOut:
    """How many customers a rule matches now, ten of them, and the rule in Korean and English:
    the builder's live count."""
    require(principal, "insights:read")
    found = segments.preview(
        session, workspace_id=principal.workspace_id, rule=body.rule, segment_id=body.segment_id
    )
    return PreviewOut(
        count=found.count,
        sample=[_brief(c) for c in found.sample],
        description=found.description,
    )


@router.get("/segments", response_model=SegmentPage)
def list_segments(
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = 50,
    archived: bool = False,
) -> SegmentPage:
    """The workspace's segments by name (archived ones with ``archived=true``)."""
    require(principal, "insights:read")
    page, more = segments.list_segments(
        session,
        workspace_id=principal.workspace_id,
        archived=archived,
        cursor=cursor,
        limit=limit,
    )
    return SegmentPage(items=[segment_out(session, s) for s in page], next_cursor=more)


@router.post("/segments", response_model=SegmentOut, status_code=201)
def create_segment(body: SegmentIn, principal: ApiPrincipal, session: DbSession) -> SegmentOut:
    """Save a segment; its members are drawn at once (without Segment Entered events)."""
    require(principal, "insights:write")
    segment = segments.create_segment(
        session,
        principal=principal,
        name=body.name,
        description=body.description,
        rule=body.rule,
    )
    return segment_out(session, segment)


@router.get("/segments/{segment_id}", response_model=SegmentOut)
def get_segment(segment_id: SegmentId, principal: ApiPrincipal, session: DbSession) -> SegmentOut:
    require(principal, "insights:read")
    segment = segments.get_segment(
        session, workspace_id=principal.workspace_id, segment_id=segment_id
    )
    return segment_out(session, segment)


@router.patch("/segments/{segment_id}", response_model=SegmentOut)
def update_segment(
    segment_id: SegmentId, body: SegmentPatch, principal: ApiPrincipal, session: DbSession
) -> SegmentOut:
    """Rename, describe or redefine a segment; a new rule moves members in and out at once
    (with Segment Entered / Exited events). A list segment's rule is not edited (409)."""
    require(principal, "insights:write")
    segment = segments.update_segment(
        session,
        principal=principal,
        segment_id=segment_id,
        name=body.name,
        description=body.description,
        rule=body.rule,
    )
    return segment_out(session, segment)


@router.post("/segments/{segment_id}/archive", response_model=SegmentOut)
def archive_segment(
    segment_id: SegmentId, principal: ApiPrincipal, session: DbSession
) -> SegmentOut:
    """Stop keeping a segment (undo with ``restore``); 409 while another segment uses it."""
    require(principal, "insights:write")
    segment = segments.archive_segment(session, principal=principal, segment_id=segment_id)
    return segment_out(session, segment)


@router.post("/segments/{segment_id}/restore", response_model=SegmentOut)
def restore_segment(
    segment_id: SegmentId, principal: ApiPrincipal, session: DbSession
) -> SegmentOut:
    require(principal, "insights:write")
    segment = segments.restore_segment(session, principal=principal, segment_id=segment_id)
    return segment_out(session, segment)


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: SegmentId, principal: ApiPrincipal, session: DbSession) -> Response:
    """Delete a list segment and its members (409 for a rule segment, which is archived, and
    while another segment's rule names it)."""
    require(principal, "insights:write")
    segments.delete_segment(session, principal=principal, segment_id=segment_id)
    return Response(status_code=204)


@router.post("/segments/{segment_id}/refresh", response_model=ChangeOut)
def refresh_segment(
    segment_id: SegmentId, principal: ApiPrincipal, session: DbSession
) -> ChangeOut:
    """Bring the members up to date now, announcing who entered and who left (409 for a list
    segment, whose members are fixed)."""
    require(principal, "insights:write")
    segment = segments.get_segment(
        session, workspace_id=principal.workspace_id, segment_id=segment_id
    )
    if segment.archived_at is not None:
        raise Conflict("The segment is archived; restore it first.")
    if segment.kind == "list":
        raise Conflict(segments.LIST_NOT_REFRESHED)
    change = segments.refresh_segment(session, segment=segment)
    return ChangeOut(entered=change.entered, exited=change.exited, members=change.members)


@router.get("/segments/{segment_id}/members", response_model=MemberPage)
def segment_members(
    segment_id: SegmentId,
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> MemberPage:
    require(principal, "insights:read")
    page, more = segments.members_page(
        session,
        workspace_id=principal.workspace_id,
        segment_id=segment_id,
        cursor=cursor,
        limit=limit,
    )
    return MemberPage(
        items=[MemberOut(customer=_brief(c), entered_at=at) for c, at in page], next_cursor=more
    )


MEMBER_CSV_HEADER = ("customer_id", "user_id", "name", "email", "phone", "entered_at")


@router.get("/segments/{segment_id}/members.csv", response_class=Response)
def segment_members_csv(
    segment_id: SegmentId, principal: ApiPrincipal, session: DbSession
) -> StreamingResponse:
    """Every member as CSV (UTF-8 with BOM): id, user id, name, email, phone, since when."""
    require(principal, "insights:export")
    segment = segments.get_segment(
        session, workspace_id=principal.workspace_id, segment_id=segment_id
    )
    rows = list(segments.member_rows(session, segment=segment))
    return StreamingResponse(
        csv_chunks(MEMBER_CSV_HEADER, rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="segment-{segment.id}.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/segments/{segment_id}/trend", response_model=list[DayCount])
def segment_trend(
    segment_id: SegmentId,
    principal: ApiPrincipal,
    session: DbSession,
    days: Annotated[int, Query(ge=1, le=730)] = 90,
) -> list[DayCount]:
    """Members, entered and exited per day the segment was refreshed."""
    require(principal, "insights:read")
    segment = segments.get_segment(
        session, workspace_id=principal.workspace_id, segment_id=segment_id
    )
    return [
        DayCount(day=c.day, members=c.members, entered=c.entered, exited=c.exited)
        for c in segments.trend(session, segment=segment, days=days)
    ]


# --- runs and predictions ---------------------------------------------------------------------


class RunIn(BaseModel):
    as_of: datetime | None = Field(None, description="Use only data before this moment")
    horizon_days: int = Field(runs.DEFAULT_HORIZON_DAYS, ge=1, le=runs.MAX_HORIZON_DAYS)


class FitOut(BaseModel):
    kind: str
    window_start: datetime | None
    window_end: datetime | None
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    activated: bool
    note: str


class RunOut(BaseModel):
    id: int
    status: str
    trigger: str
    as_of: datetime
    horizon_days: int
    currency: str
    customers: int
    summary: dict[str, Any]
    error: str
    created_at: datetime
    finished_at: datetime | None
    fits: list[FitOut] = []


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None


def run_out(run: InsightsRun, fits: list[InsightsModelFit] | None = None) -> RunOut:
    return RunOut(
        id=run.id,
        status=run.status,
        trigger=run.trigger,
        as_of=run.as_of,
        horizon_days=run.horizon_days,
        currency=run.currency,
        customers=run.customers,
        summary=run.summary,
        error=run.error,
        created_at=run.created_at,
        finished_at=run.finished_at,
        fits=[
            FitOut(
                kind=f.kind,
                window_start=f.window_start,
                window_end=f.window_end,
                parameters=f.parameters,
                metrics=f.metrics,
                activated=f.activated,
                note=f.note,
            )
            for f in fits or []
        ],
    )


@router.post("/insights/runs", response_model=RunOut, status_code=202)
def request_run(body: RunIn, principal: ApiPrincipal, session: DbSession) -> RunOut:
    """Queue a run of every customer model as of ``as_of`` (default now); a worker executes
    it. Poll ``GET /insights/runs/{id}`` for its status and figures."""
    require(principal, "insights:write")
    run = runs.start_run(
        session,
        principal=principal,
        workspace_id=principal.workspace_id,
        as_of=body.as_of,
        horizon_days=body.horizon_days,
    )
    queue_run(session, run.id)
    return run_out(run)


@router.get("/insights/runs", response_model=RunPage)
def list_runs(
    principal: ApiPrincipal, session: DbSession, cursor: Cursor = None, limit: Limit = 20
) -> RunPage:
    """The workspace's runs, newest first."""
    require(principal, "insights:read")
    page, more = newest_first(
        session,
        scoped(select(InsightsRun), InsightsRun, principal.workspace_id),
        time=InsightsRun.created_at,
        id=InsightsRun.id,
        cursor=cursor,
        limit=limit,
    )
    return RunPage(items=[run_out(r) for r in page], next_cursor=more)


@router.get("/insights/runs/{run_id}", response_model=RunOut)
def get_run(run_id: RunId, principal: ApiPrincipal, session: DbSession) -> RunOut:
    """A run with each of its models: window, parameters, figures, and whether it is in use."""
    require(principal, "insights:read")
    run = session.scalar(
        scoped(select(InsightsRun), InsightsRun, principal.workspace_id).where(
            InsightsRun.id == run_id
        )
    )
    if run is None:
        raise NotFound("No such insights run.")
    fits = list(
        session.scalars(
            select(InsightsModelFit)
            .where(InsightsModelFit.run_id == run.id)
            .order_by(InsightsModelFit.id)
        )
    )
    return run_out(run, fits)


class PredictionOut(BaseModel):
    customer_id: int
    user_id: str | None
    run_id: int | None
    rfm_cell: str | None
    cluster: int | None
    p_alive: float | None
    expected_purchases: dict[str, float | None]
    clv: dict[str, float | None]
    clv_percentile: float | None
    churn_risk: float | None
    churn_reasons: list[Any]
    recommendations: list[Any]
    segments: list[dict[str, Any]]


@router.get("/customers/{customer_id}/predictions", response_model=PredictionOut)
def customer_predictions(
    customer_id: CustomerId, principal: ApiPrincipal, session: DbSession
) -> PredictionOut:
    """A customer's current scores (the last run's) and the segments they are in."""
    require(principal, "insights:read")
    customer = session.scalar(
        scoped(select(Customer), Customer, principal.workspace_id).where(Customer.id == customer_id)
    )
    if customer is None:
        raise NotFound("No such customer.")
    found = session.get(CustomerPrediction, (principal.workspace_id, customer_id))
    user_id = session.scalar(
        select(Identity.value)
        .where(Identity.customer_id == customer_id, Identity.kind == "user_id")
        .order_by(Identity.id)
        .limit(1)
    )
    memberships = segments.segments_of_customer(
        session, workspace_id=principal.workspace_id, customer_id=customer_id
    )
    return PredictionOut(
        customer_id=customer_id,
        user_id=user_id,
        run_id=found.run_id if found else None,
        rfm_cell=found.rfm_cell if found else None,
        cluster=found.cluster if found else None,
        p_alive=found.p_alive if found else None,
        expected_purchases={
            f"{m}m": getattr(found, f"expected_purchases_{m}m") if found else None
            for m in runs.CLV_HORIZONS
        },
        clv={f"{m}m": getattr(found, f"clv_{m}m") if found else None for m in runs.CLV_HORIZONS},
        clv_percentile=found.clv_percentile if found else None,
        churn_risk=found.churn_risk if found else None,
        churn_reasons=found.churn_reasons if found else [],
        recommendations=found.recommendations if found else [],
        segments=[
            {"id": s.id, "name": s.name, "entered_at": at.isoformat()} for s, at in memberships
        ],
    )
