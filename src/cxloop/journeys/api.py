"""Journeys over HTTP: funnels (report, the persons behind a step and keeping them as a list
segment, the test of a difference) and retention."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi import Path as FastPath
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.core.errors import ValidationFailed
from cxloop.journeys import saved, service
from cxloop.journeys import stages as journey_stages
from cxloop.journeys.schemas import (
    ChangeOut,
    DropoffPathsIn,
    FunnelCompareIn,
    FunnelIn,
    FunnelOut,
    FunnelPersonsIn,
    FunnelSegmentIn,
    FunnelSegmentOut,
    PathsIn,
    PathsOut,
    PersonsOut,
    PlaceRulesOut,
    RetentionIn,
    RetentionOut,
    SavedFunnelChange,
    SavedFunnelIn,
    SavedFunnelOut,
    SavedFunnelPage,
)
from cxloop.models import SavedFunnel

router = APIRouter(prefix="/api/v1/journeys", tags=["journeys"])

FunnelId = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Saved funnel id")]


@router.post("/funnels/report", response_model=FunnelOut)
def funnel_report(body: FunnelIn, principal: ApiPrincipal, session: DbSession) -> FunnelOut:
    """Persons at each step of a funnel whose first step falls in the period, conversion,
    drop-off, time to convert, the breakdown and conversion over time."""
    require(principal, "journeys:read")
    report = service.run_funnel(
        session,
        workspace_id=principal.workspace_id,
        spec=body.spec,
        start=body.start,
        end=body.end,
        interval=body.interval,
    )
    tz = service.workspace_zone(session, workspace_id=principal.workspace_id)
    return FunnelOut.of(report, tz)


@router.post("/funnels/persons", response_model=PersonsOut)
def funnel_persons(
    body: FunnelPersonsIn, principal: ApiPrincipal, session: DbSession
) -> PersonsOut:
    """A page of the profiles that reached a step (or dropped off just before it)."""
    require(principal, "journeys:read")
    ids = service.funnel_people(
        session,
        workspace_id=principal.workspace_id,
        spec=body.spec,
        start=body.start,
        end=body.end,
        step=body.step,
        dropped=body.dropped,
        value=body.value,
        after=body.after,
        limit=body.limit,
    )
    return PersonsOut(ids=ids, next_after=ids[-1] if len(ids) == body.limit else None)


@router.post("/funnels/segment", response_model=FunnelSegmentOut, status_code=201)
def funnel_segment(
    body: FunnelSegmentIn, principal: ApiPrincipal, session: DbSession
) -> FunnelSegmentOut:
    """Keep every profile that reached a step (or dropped off just before it) as a list
    segment: a snapshot (at most 1,000,000 profiles) that no refresh changes, usable wherever
    a segment is (``segment`` rule conditions, a funnel's ``segment_id``), with the funnel and
    period it came from. ``after`` and ``limit`` are ignored: every page is kept."""
    require(principal, "journeys:read")
    require(principal, "insights:write")
    segment = service.save_funnel_segment(
        session,
        principal=principal,
        spec=body.spec,
        start=body.start,
        end=body.end,
        step=body.step,
        dropped=body.dropped,
        value=body.value,
        name=body.name,
        description=body.description,
    )
    return FunnelSegmentOut.model_validate(segment, from_attributes=True)


@router.post("/funnels/compare", response_model=ChangeOut | None)
def funnel_compare(
    body: FunnelCompareIn, principal: ApiPrincipal, session: DbSession
) -> ChangeOut | None:
    """Whether the funnel's conversion differs between two periods (``before``/``after``) or
    two breakdown values in one period (``period`` and ``values``): a two-proportion z-test;
    null when either side has nobody."""
    require(principal, "journeys:read")
    workspace_id = principal.workspace_id
    if body.before is not None and body.after is not None:
        first, second = (
            service.run_funnel(
                session, workspace_id=workspace_id, spec=body.spec, start=p.start, end=p.end
            )
            for p in (body.before, body.after)
        )
        change = service.compare_periods(first, second)
    elif body.values is not None:
        if body.spec.breakdown is None:
            raise ValidationFailed("Comparing two values needs a breakdown in the funnel.")
        period = body.period or body.before or body.after
        report = service.run_funnel(
            session,
            workspace_id=workspace_id,
            spec=body.spec,
            start=period.start if period else None,
            end=period.end if period else None,
        )
        change = service.compare_values(report, body.values[0], body.values[1])
    else:
        raise ValidationFailed("Give two periods (before and after) or two breakdown values.")
    return ChangeOut.of(change) if change is not None else None


@router.post("/retention", response_model=RetentionOut)
def retention(body: RetentionIn, principal: ApiPrincipal, session: DbSession) -> RetentionOut:
    """The cohort table: persons by the period of their first start event and how many come
    back in each later period."""
    require(principal, "journeys:read")
    report = service.run_retention(
        session, workspace_id=principal.workspace_id, spec=body.spec, start=body.start
    )
    return RetentionOut.of(report)


@router.post("/paths", response_model=PathsOut)
def paths(body: PathsIn, principal: ApiPrincipal, session: DbSession) -> PathsOut:
    """What persons did after (or before) their first anchor event: Sankey nodes and links per
    step, and the most common whole paths."""
    require(principal, "journeys:read")
    report = service.run_paths(
        session,
        workspace_id=principal.workspace_id,
        spec=body.spec,
        start=body.start,
        end=body.end,
    )
    return PathsOut.of(report)


@router.post("/funnels/dropoff-paths", response_model=PathsOut)
def dropoff_paths(body: DropoffPathsIn, principal: ApiPrincipal, session: DbSession) -> PathsOut:
    """What the persons who dropped off before a funnel step did instead, from their event of
    the step before."""
    require(principal, "journeys:read")
    report = service.run_dropoff_paths(
        session,
        workspace_id=principal.workspace_id,
        funnel=body.spec,
        step=body.step,
        steps=body.steps,
        window_hours=body.window_hours,
        cleaning=body.cleaning,
        start=body.start,
        end=body.end,
    )
    return PathsOut.of(report)


@router.get("/stages", response_model=list[PlaceRulesOut])
def list_stages(principal: ApiPrincipal, session: DbSession) -> list[PlaceRulesOut]:
    """The workspace's stages in journey order (an online shop's five until it saves its own)."""
    require(principal, "journeys:read")
    places = journey_stages.stages_of(session, workspace_id=principal.workspace_id)
    return [PlaceRulesOut.of(place) for place in places]


@router.put("/stages", response_model=list[PlaceRulesOut])
def save_stages(
    body: journey_stages.StagesIn, principal: ApiPrincipal, session: DbSession
) -> list[PlaceRulesOut]:
    """Replace the workspace's stages."""
    require(principal, "journeys:write")
    places = journey_stages.save_stages(
        session, principal=principal, workspace_id=principal.workspace_id, stages=body
    )
    return [PlaceRulesOut.of(place) for place in places]


@router.get("/touchpoints", response_model=list[PlaceRulesOut])
def list_touchpoints(principal: ApiPrincipal, session: DbSession) -> list[PlaceRulesOut]:
    """The workspace's touchpoints (an online shop's until it saves its own)."""
    require(principal, "journeys:read")
    places = journey_stages.touchpoints_of(session, workspace_id=principal.workspace_id)
    return [PlaceRulesOut.of(place) for place in places]


@router.put("/touchpoints", response_model=list[PlaceRulesOut])
def save_touchpoints(
    body: journey_stages.TouchpointsIn, principal: ApiPrincipal, session: DbSession
) -> list[PlaceRulesOut]:
    """Replace the workspace's touchpoints."""
    require(principal, "journeys:write")
    places = journey_stages.save_touchpoints(
        session, principal=principal, workspace_id=principal.workspace_id, touchpoints=body
    )
    return [PlaceRulesOut.of(place) for place in places]


def _saved_funnel(session: Session, principal: Principal, funnel_id: int) -> SavedFunnel:
    """The caller's workspace's saved funnel, or 404."""
    return saved.get_funnel(session, workspace_id=principal.workspace_id, funnel_id=funnel_id)


def _saved_out(funnel: object) -> SavedFunnelOut:
    return SavedFunnelOut.model_validate(funnel, from_attributes=True)


@router.post("/funnels", response_model=SavedFunnelOut, status_code=201)
def save_funnel(body: SavedFunnelIn, principal: ApiPrincipal, session: DbSession) -> SavedFunnelOut:
    """Keep a funnel by name, over its last ``days`` days (on the dashboard if asked)."""
    require(principal, "journeys:write")
    funnel = saved.save_funnel(
        session,
        principal=principal,
        workspace_id=principal.workspace_id,
        name=body.name,
        spec=body.spec,
        days=body.days,
        on_dashboard=body.on_dashboard,
    )
    return _saved_out(funnel)


@router.get("/funnels", response_model=SavedFunnelPage)
def list_saved_funnels(
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    on_dashboard: bool | None = None,
) -> SavedFunnelPage:
    """The saved funnels, newest first."""
    require(principal, "journeys:read")
    page, more = saved.list_funnels(
        session,
        workspace_id=principal.workspace_id,
        on_dashboard=on_dashboard,
        cursor=cursor,
        limit=limit,
    )
    return SavedFunnelPage(items=[_saved_out(f) for f in page], next_cursor=more)


@router.get("/funnels/{funnel_id}", response_model=SavedFunnelOut)
def get_saved_funnel(
    funnel_id: FunnelId, principal: ApiPrincipal, session: DbSession
) -> SavedFunnelOut:
    require(principal, "journeys:read")
    return _saved_out(_saved_funnel(session, principal, funnel_id))


@router.patch("/funnels/{funnel_id}", response_model=SavedFunnelOut)
def change_saved_funnel(
    funnel_id: FunnelId, body: SavedFunnelChange, principal: ApiPrincipal, session: DbSession
) -> SavedFunnelOut:
    """Rename, change, or put on (take off) the dashboard."""
    require(principal, "journeys:write")
    funnel = _saved_funnel(session, principal, funnel_id)
    saved.change_funnel(
        session,
        principal=principal,
        funnel=funnel,
        name=body.name,
        spec=body.spec,
        days=body.days,
        on_dashboard=body.on_dashboard,
    )
    return _saved_out(funnel)


@router.delete("/funnels/{funnel_id}", status_code=204)
def delete_saved_funnel(
    funnel_id: FunnelId, principal: ApiPrincipal, session: DbSession
) -> Response:
    """Delete a saved funnel (its spec stays in the audit log)."""
    require(principal, "journeys:write")
    funnel = _saved_funnel(session, principal, funnel_id)
    saved.delete_funnel(session, principal=principal, funnel=funnel)
    return Response(status_code=204)


@router.post("/funnels/{funnel_id}/report", response_model=FunnelOut)
def saved_funnel_report(
    funnel_id: FunnelId, principal: ApiPrincipal, session: DbSession
) -> FunnelOut:
    """A saved funnel over its last ``days`` days, up to today."""
    require(principal, "journeys:read")
    funnel = _saved_funnel(session, principal, funnel_id)
    report = service.run_saved_funnel(session, funnel=funnel)
    tz = service.workspace_zone(session, workspace_id=principal.workspace_id)
    return FunnelOut.of(report, tz)
