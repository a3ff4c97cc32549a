"""The persons and the texts behind a stage or a cell of the journey map, a page at a time.

A stage's persons entered it in the period (moved on: entered a later stage at or after it); a
cell's persons did one of the touchpoint's events there while at the stage (moved on: entered a
later stage at or after one of them). Its texts are the analysed texts its writers wrote at the
stage (a cell: whose source names the touchpoint), newest first, optionally only those of one
theme. Both come from the map's own statements (:mod:`cxloop.journeys.map`), so the totals
here are the map's counts: persons, moved on, texts and a theme's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import Table, and_, case, func, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from cxloop.core.errors import ValidationFailed
from cxloop.core.pagination import BAD_CURSOR, decode_cursor, encode_cursor
from cxloop.core.timeutil import parse_iso
from cxloop.journeys import service
from cxloop.journeys.attempts import Period
from cxloop.journeys.map import cell_persons, entries_table, stage_moves, staged_texts
from cxloop.journeys.stages import Place, stages_of, touchpoints_of
from cxloop.text.analytics.placed import (
    ThemeName,
    theme_members,
    theme_names,
    verbatims_by_id,
)
from cxloop.text.analytics.service import Verbatim

Outcome = Literal["all", "moved_on", "dropped"]
OUTCOMES: tuple[Outcome, ...] = ("all", "moved_on", "dropped")
MAX_PERSONS_PAGE = 1000
MAX_TEXTS_PAGE = 200


@dataclass(frozen=True, slots=True)
class Spot:
    """What is drilled into: a stage (its index in journey order), and a touchpoint for a cell."""

    stage: Place
    index: int
    touchpoint: Place | None


@dataclass(frozen=True, slots=True)
class PersonsPage:
    spot: Spot
    persons: int  # everyone behind the stage or cell, whatever the page shows
    moved_on: int
    ids: list[tuple[int, bool]]  # (profile id, moved on), in id order
    next_after: int | None

    @property
    def dropped(self) -> int:
        return self.persons - self.moved_on


@dataclass(frozen=True, slots=True)
class PlacedVerbatim:
    verbatim: Verbatim
    themes: tuple[ThemeName, ...]


@dataclass(frozen=True, slots=True)
class TextsPage:
    spot: Spot
    texts: int  # every text behind the stage or cell (of the theme, when one is asked)
    theme: ThemeName | None
    items: list[PlacedVerbatim]
    next_cursor: str | None


def locate(
    stages: list[Place], touchpoints: list[Place], *, stage: str, touchpoint: str | None
) -> Spot:
    """The stage and touchpoint of these keys, or a 422 naming the known ones."""
    index = next((i for i, place in enumerate(stages) if place.key == stage), None)
    if index is None:
        known = ", ".join(place.key for place in stages)
        raise ValidationFailed(
            f"No stage {stage!r} in this workspace (known: {known}).",
            errors=[{"field": "stage", "message": f"unknown stage; known: {known}"}],
        )
    if touchpoint is None:
        return Spot(stages[index], index, None)
    place = next((p for p in touchpoints if p.key == touchpoint), None)
    if place is None:
        known = ", ".join(p.key for p in touchpoints)
        raise ValidationFailed(
            f"No touchpoint {touchpoint!r} in this workspace (known: {known}).",
            errors=[{"field": "touchpoint", "message": f"unknown touchpoint; known: {known}"}],
        )
    return Spot(stages[index], index, place)


def _question(
    session: Session,
    *,
    workspace_id: int,
    start: date | None,
    end: date | None,
    stage: str,
    touchpoint: str | None,
) -> tuple[Period, list[Place], Spot]:
    """The period of the local days [start, end], the workspace's stages and the spot asked."""
    tz = service.workspace_zone(session, workspace_id=workspace_id)
    period = service.period_of_dates(start=start, end=end, tz=tz)
    stages = stages_of(session, workspace_id=workspace_id)
    touchpoints = touchpoints_of(session, workspace_id=workspace_id)
    return period, stages, locate(stages, touchpoints, stage=stage, touchpoint=touchpoint)


def _limit_time(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = '{service.QUERY_SECONDS}s'"))


def _persons_of(
    entries: Table, stage_count: int, spot: Spot, workspace_id: int, period: Period
) -> Subquery:
    """(person, moved) of the stage or cell."""
    if spot.touchpoint is None:
        moves = stage_moves(entries, period)
        return (
            select(
                moves.c.person,
                case((moves.c.next_entered.is_not(None), 1), else_=0).label("moved"),
            )
            .where(moves.c.stage == spot.index)
            .subquery("drilled")
        )
    rows = cell_persons(entries, stage_count, [spot.touchpoint], workspace_id, period)
    return select(rows.c.person, rows.c.moved).where(rows.c.stage == spot.index).subquery("drilled")


def map_persons(
    session: Session,
    *,
    workspace_id: int,
    start: date | None,
    end: date | None,
    stage: str,
    touchpoint: str | None = None,
    outcome: Outcome = "all",
    after: int | None = None,
    limit: int = 100,
) -> PersonsPage:
    """A page of the profiles behind a stage (or cell) of the map of the local days
    [start, end], in id order after ``after``: all of them, those who moved on, or those who
    did not; with the totals of the stage or cell."""
    if outcome not in OUTCOMES:
        raise ValidationFailed(
            "outcome must be all, moved_on or dropped.",
            errors=[{"field": "outcome", "message": "all, moved_on or dropped"}],
        )
    period, stages, spot = _question(
        session, workspace_id=workspace_id, start=start, end=end, stage=stage, touchpoint=touchpoint
    )
    limit = max(1, min(limit, MAX_PERSONS_PAGE))
    _limit_time(session)
    with entries_table(session, workspace_id=workspace_id, stages=stages) as entries:
        drilled = _persons_of(entries, len(stages), spot, workspace_id, period)
        persons, moved = session.execute(
            select(func.count(), func.coalesce(func.sum(drilled.c.moved), 0))
        ).one()
        page = select(drilled.c.person, drilled.c.moved)
        if outcome != "all":
            page = page.where(drilled.c.moved == (1 if outcome == "moved_on" else 0))
        if after is not None:
            page = page.where(drilled.c.person > after)
        rows = session.execute(page.order_by(drilled.c.person).limit(limit)).all()
    ids = [(int(person), bool(moved_on)) for person, moved_on in rows]
    return PersonsPage(
        spot=spot,
        persons=int(persons),
        moved_on=int(moved),
        ids=ids,
        next_after=ids[-1][0] if len(ids) == limit else None,
    )


def map_verbatims(
    session: Session,
    *,
    workspace_id: int,
    start: date | None,
    end: date | None,
    stage: str,
    touchpoint: str | None = None,
    theme: int | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> TextsPage:
    """A page of the texts written at a stage (or cell) of the map of the local days
    [start, end], newest first (only those of ``theme``, when given), each with its words and
    themes; with how many there are in all."""
    period, stages, spot = _question(
        session, workspace_id=workspace_id, start=start, end=end, stage=stage, touchpoint=touchpoint
    )
    named: ThemeName | None = None
    if theme is not None:
        named = theme_names(session, workspace_id=workspace_id, ids=[theme]).get(theme)
        if named is None:
            raise ValidationFailed(
                f"No current theme {theme} in this workspace.",
                errors=[{"field": "theme", "message": "unknown theme"}],
            )
    pivot = _pivot(cursor)
    limit = max(1, min(limit, MAX_TEXTS_PAGE))
    _limit_time(session)
    with entries_table(session, workspace_id=workspace_id, stages=stages) as entries:
        texts = staged_texts(entries, workspace_id, period)
        scope = [texts.c.stage == spot.index]
        if spot.touchpoint is not None:
            scope.append(texts.c.touchpoint == spot.touchpoint.key)
        if named is not None:
            members = theme_members(workspace_id=workspace_id, theme_id=named.id).subquery()
            scope.append(texts.c.analysis_id.in_(select(members.c.analysis_id)))
        total = int(session.scalar(select(func.count()).select_from(texts).where(*scope)) or 0)
        page = select(texts.c.analysis_id, texts.c.occurred_at).where(*scope)
        if pivot is not None:
            moment, last = pivot
            page = page.where(
                or_(
                    texts.c.occurred_at < moment,
                    and_(texts.c.occurred_at == moment, texts.c.analysis_id < last),
                )
            )
        rows = session.execute(
            page.order_by(texts.c.occurred_at.desc(), texts.c.analysis_id.desc()).limit(limit + 1)
        ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    found = verbatims_by_id(
        session, workspace_id=workspace_id, ids=[int(analysis) for analysis, _ in rows]
    )
    names = theme_names(
        session, workspace_id=workspace_id, ids=sorted({t for _, ids in found for t in ids})
    )
    items = [
        PlacedVerbatim(verbatim, tuple(names[t] for t in ids if t in names))
        for verbatim, ids in found
    ]
    next_cursor = None
    if more and rows:
        analysis, occurred = rows[-1]
        next_cursor = encode_cursor([occurred.isoformat(), int(analysis)])
    return TextsPage(spot=spot, texts=total, theme=named, items=items, next_cursor=next_cursor)


def _pivot(cursor: str | None) -> tuple[Any, int] | None:
    """The (time, id) a cursor of :func:`map_verbatims` continues after, or a 422."""
    if not cursor:
        return None
    moment, last = decode_cursor(cursor, 2)
    try:
        return parse_iso(moment), int(last)
    except (ValueError, AttributeError):
        raise ValidationFailed(BAD_CURSOR) from None
