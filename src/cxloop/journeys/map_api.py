"""The journey map over HTTP: the grid with each stage's and cell's top themes, and the
persons and texts behind a stage or a cell (cursor pages whose totals are the map's counts)."""

from __future__ import annotations

from fastapi import APIRouter

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.journeys import map_drill, service
from cxloop.journeys.map_schemas import (
    MapPersonsIn,
    MapPersonsOut,
    MapVerbatimsIn,
    MapVerbatimsOut,
    ThemedJourneyMapOut,
)
from cxloop.journeys.schemas import PeriodIn

router = APIRouter(prefix="/api/v1/journeys", tags=["journeys"])


@router.post("/map", response_model=ThemedJourneyMapOut)
def journey_map_with_themes(
    body: PeriodIn, principal: ApiPrincipal, session: DbSession
) -> ThemedJourneyMapOut:
    """The journey map of the period: each stage's persons, how many moved on and how fast, and
    each touchpoint's cell per stage with scores, sentiment and the top themes of what was
    written there (flagged cells lag their stage)."""
    require(principal, "journeys:read")
    found = service.run_journey_map(
        session, workspace_id=principal.workspace_id, start=body.start, end=body.end
    )
    tz = service.workspace_zone(session, workspace_id=principal.workspace_id)
    return ThemedJourneyMapOut.of(found, tz)


@router.post("/map/persons", response_model=MapPersonsOut)
def journey_map_persons(
    body: MapPersonsIn, principal: ApiPrincipal, session: DbSession
) -> MapPersonsOut:
    """A page of the profiles behind a stage (or, with ``touchpoint``, a cell) of the map, in
    id order: all, those who moved on, or those who dropped; with the stage's or cell's
    totals."""
    require(principal, "journeys:read")
    page = map_drill.map_persons(
        session,
        workspace_id=principal.workspace_id,
        start=body.start,
        end=body.end,
        stage=body.stage,
        touchpoint=body.touchpoint,
        outcome=body.outcome,
        after=body.after,
        limit=body.limit,
    )
    return MapPersonsOut.of(page)


@router.post("/map/verbatims", response_model=MapVerbatimsOut)
def journey_map_verbatims(
    body: MapVerbatimsIn, principal: ApiPrincipal, session: DbSession
) -> MapVerbatimsOut:
    """A page of the texts written at a stage (or cell) of the map, newest first, each with
    its sentiment and themes (only one theme's, when asked); with how many there are."""
    require(principal, "journeys:read")
    page = map_drill.map_verbatims(
        session,
        workspace_id=principal.workspace_id,
        start=body.start,
        end=body.end,
        stage=body.stage,
        touchpoint=body.touchpoint,
        theme=body.theme,
        cursor=body.cursor,
        limit=body.limit,
    )
    return MapVerbatimsOut.of(page)
