"""Journeys over HTTP: funnels (report, the persons behind a step, the test of a difference)
and retention."""

from __future__ import annotations

from fastapi import APIRouter

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.core.errors import ValidationFailed
from cxloop.journeys import service
from cxloop.journeys import stages as journey_stages
from cxloop.journeys.schemas import (
    ChangeOut,
    DropoffPathsIn,
    FunnelCompareIn,
    FunnelIn,
    FunnelOut,
    FunnelPersonsIn,
    JourneyMapOut,
    PathsIn,
    PathsOut,
    PeriodIn,
    PersonsOut,
    PlaceRulesOut,
    RetentionIn,
    RetentionOut,
)

router = APIRouter(prefix="/api/v1/journeys", tags=["journeys"])


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


@router.post("/map", response_model=JourneyMapOut)
def journey_map(body: PeriodIn, principal: ApiPrincipal, session: DbSession) -> JourneyMapOut:
    """The journey map of the period: each stage's persons, how many moved on and how fast, and
    each touchpoint's cell per stage with scores and sentiment (flagged cells lag their
    stage)."""
    require(principal, "journeys:read")
    found = service.run_journey_map(
        session, workspace_id=principal.workspace_id, start=body.start, end=body.end
    )
    tz = service.workspace_zone(session, workspace_id=principal.workspace_id)
    return JourneyMapOut.of(found, tz)


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
