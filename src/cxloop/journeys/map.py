"""The journey map: stages as columns, touchpoints as rows, counted from what customers did.

Contract: a person (one resolved profile) enters a stage at their first event that matches one
of its rules (or the n-th, where a rule says so); their stage at a moment is the furthest stage
(by position) they had entered by then. For the period [start, end):

- a stage's **persons** entered it in the period; they **moved on** when they entered a later
  stage at or after entering it (at any time up to now); the time to the next stage is from
  entering it to the first later stage entered;
- a cell (stage, touchpoint) holds the persons who did one of the touchpoint's events in the
  period while at that stage; they moved on when they entered a later stage at or after it;
- scores are the NPS and CSAT of the "Survey Answered" events at that stage (a cell: those
  whose ``touchpoint`` property is the touchpoint's key), with 95 % intervals;
- sentiment is the mean score (−1..1) of the texts the persons wrote at that stage, from text
  analytics, with its 95 % interval (a cell: texts whose source names the touchpoint's key);
- themes are the current text-analytics themes most often found among those same texts (the top
  three, each with how many of the texts show it; a text may show several).

A cell is flagged when its persons move on less often than the stage's, by a two-proportion
test at the 5 % level (at least 20 persons), or when its sentiment interval lies below zero.

The persons, texts and themes behind a stage or a cell are listed by :mod:`map_drill` from the
same statements (``entries_table``, ``stage_moves``, ``cell_persons``, ``staged_texts``), so
its counts are the map's.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    Table,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Subquery

from cxloop.core.stats import (
    Change,
    EmptySample,
    MeanEstimate,
    NpsEstimate,
    ProportionEstimate,
    compare_proportions,
    csat_from_counts,
    mean_from_summary,
    nps_from_counts,
    proportion_interval,
)
from cxloop.insights.segments.compiler import property_matches
from cxloop.insights.segments.json_sql import JsonPath, json_number, json_text
from cxloop.journeys.attempts import Period
from cxloop.journeys.funnels import Times, durations
from cxloop.journeys.persons import person_events
from cxloop.journeys.sql import MICROS, epoch_micros, micros, stored_time, temporary_table
from cxloop.journeys.stages import EventRule, Place
from cxloop.models import Customer, Event
from cxloop.profiles.identity import survivor_id
from cxloop.text.analytics.placed import placed_texts, theme_members, theme_names

SURVEY_ANSWERED = "Survey Answered"  # as feedback logs completed answers
MIN_FLAG_PERSONS = 20
TOP_THEMES = 3


@dataclass(frozen=True, slots=True)
class ThemeCount:
    """A theme found in the texts of a stage or cell, and in how many of them."""

    id: int
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Feeling:
    """Scores and sentiment of one stage or cell."""

    nps: NpsEstimate | None
    csat: ProportionEstimate | None
    sentiment: MeanEstimate | None


@dataclass(frozen=True, slots=True)
class StageColumn:
    place: Place
    persons: int
    moved_on: int
    time_to_next: Times
    feeling: Feeling
    themes: tuple[ThemeCount, ...] = ()

    @property
    def conversion(self) -> float | None:
        return self.moved_on / self.persons if self.persons else None

    @property
    def texts(self) -> int:
        """How many analysed texts were written at the stage."""
        return self.feeling.sentiment.n if self.feeling.sentiment else 0


@dataclass(frozen=True, slots=True)
class MapCell:
    stage: str
    touchpoint: str
    persons: int
    moved_on: int
    feeling: Feeling
    behind: Change | None  # its moving on against the stage's, when flagged by it
    flagged: bool
    themes: tuple[ThemeCount, ...] = ()

    @property
    def conversion(self) -> float | None:
        return self.moved_on / self.persons if self.persons else None

    @property
    def texts(self) -> int:
        """How many analysed texts were written at the cell."""
        return self.feeling.sentiment.n if self.feeling.sentiment else 0


@dataclass(frozen=True, slots=True)
class JourneyMap:
    period: Period
    stages: tuple[StageColumn, ...]
    touchpoints: tuple[Place, ...]
    cells: dict[tuple[str, str], MapCell]


def _rule_matches(rule: EventRule) -> Any:
    if rule.page:
        return Event.type.in_(("page", "screen"))
    return and_(
        Event.name == rule.event, *(property_matches(Event.properties, f) for f in rule.where)
    )


def _entries_query(stages: list[Place], workspace_id: int) -> Select[Any]:
    """(person, stage, entered): when each person entered each stage, if ever (up to now: a
    person of the period may move on after it)."""
    person = survivor_id()
    parts = []
    # Only the entry's own time is turned into microseconds, not every event's (on SQLite that
    # is text arithmetic per row; the stored times order as the times do).
    for index, stage in enumerate(stages):
        for rule in stage.rules:
            base = person_events(workspace_id, stream_only=True).where(_rule_matches(rule))
            if rule.nth == 1:
                part = base.add_columns(
                    person.label("person"),
                    literal(index, Integer()).label("stage"),
                    epoch_micros(func.min(Event.timestamp)).label("entered"),
                ).group_by(person)
            else:
                ranked = base.add_columns(
                    person.label("person"),
                    Event.timestamp.label("at"),
                    func.row_number()
                    .over(partition_by=person, order_by=(Event.timestamp, Event.id))
                    .label("n"),
                ).subquery()
                part = select(
                    ranked.c.person,
                    literal(index, Integer()).label("stage"),
                    epoch_micros(ranked.c.at).label("entered"),
                ).where(ranked.c.n == rule.nth)
            parts.append(part)
    every = union_all(*parts).subquery("every_entry")
    return select(
        every.c.person, every.c.stage, func.min(every.c.entered).label("entered")
    ).group_by(every.c.person, every.c.stage)


ENTRY_COLUMNS = [("person", BigInteger()), ("stage", Integer()), ("entered", BigInteger())]


def _stage_at(entries: Table, person: Any, moment: Any) -> Any:
    """The furthest stage the person had entered by ``moment`` (NULL: none yet)."""
    return (
        select(func.max(entries.c.stage))
        .where(entries.c.person == person, entries.c.entered <= moment)
        .scalar_subquery()
    )


@contextmanager
def entries_table(session: Session, *, workspace_id: int, stages: list[Place]) -> Iterator[Table]:
    """When each person entered each stage (``person``, ``stage`` index, ``entered``
    microseconds), in a temporary table for the map's queries."""
    query = _entries_query(stages, workspace_id)
    with temporary_table(
        session, "journey_entries", ENTRY_COLUMNS, query, index=("person", "entered")
    ) as entries:
        yield entries


def stage_moves(entries: Table, period: Period) -> Subquery:
    """(person, stage, entered, next_entered): each stage entered in the period and the first
    later stage entered at or after it (NULL: not moved on)."""
    start, end = micros(period.start), micros(period.end)
    later = aliased(entries)
    next_entry = (
        select(func.min(later.c.entered))
        .where(
            later.c.person == entries.c.person,
            later.c.stage > entries.c.stage,
            later.c.entered >= entries.c.entered,
        )
        .scalar_subquery()
    )
    return (
        select(
            entries.c.person,
            entries.c.stage,
            entries.c.entered,
            next_entry.label("next_entered"),
        )
        .where(entries.c.entered >= start, entries.c.entered < end)
        .subquery("moves")
    )


def _stage_columns(
    session: Session, entries: Table, stages: list[Place], period: Period
) -> list[tuple[int, int, Times]]:
    moves = stage_moves(entries, period)
    # One pass over the moves: each is a person of its stage, moved on when it has a gap.
    persons = [0] * len(stages)
    gaps: list[list[float]] = [[] for _ in stages]
    for stage, seconds in session.execute(
        select(moves.c.stage, (moves.c.next_entered - moves.c.entered) / float(MICROS))
    ):
        persons[stage] += 1
        if seconds is not None:
            gaps[stage].append(float(seconds))
    return [(persons[i], len(gaps[i]), durations(gaps[i])) for i in range(len(stages))]


def _touch_rows(workspace_id: int, touchpoints: list[Place], period: Period) -> Any:
    """(person, at, touchpoint): each event of a touchpoint in the period, its time as stored."""
    person = survivor_id()
    parts = [
        person_events(workspace_id, stream_only=True)
        .add_columns(
            person.label("person"),
            Event.timestamp.label("at"),
            literal(index, Integer()).label("touchpoint"),
        )
        .where(
            Event.timestamp >= period.start,
            Event.timestamp < period.end,
            or_(*(_rule_matches(rule) for rule in place.rules)),
        )
        for index, place in enumerate(touchpoints)
    ]
    return union_all(*parts).subquery("touches")


def _stage_times(entries: Table, stage_count: int) -> Subquery:
    """(person, entered_0 … entered_{n-1}, last): one row per person with when they entered
    each stage (NULL: never), in the log's stored form so that the touches are compared as
    they are stored, and the furthest stage they ever entered."""
    return (
        select(
            entries.c.person,
            *(
                stored_time(func.min(case((entries.c.stage == index, entries.c.entered)))).label(
                    f"entered_{index}"
                )
                for index in range(stage_count)
            ),
            func.max(entries.c.stage).label("last"),
        )
        .group_by(entries.c.person)
        .subquery("stage_times")
    )


def cell_persons(
    entries: Table,
    stage_count: int,
    touchpoints: list[Place],
    workspace_id: int,
    period: Period,
) -> Subquery:
    """(stage, touchpoint index, person, moved): each person who did a touchpoint's event in the
    period at a stage, once per (stage, touchpoint), moved 1 when they entered a later stage at
    or after any of those events."""
    touches = _touch_rows(workspace_id, touchpoints, period)
    times = _stage_times(entries, stage_count)
    # The stage at the moment is the furthest entered by then; each touch meets its person's
    # entry times once (a hash join) instead of probing the entries per touch. ``+ 0`` keeps
    # SQLite from indexing the million touches to join them (it indexes the persons instead).
    at_moment = case(
        *(
            (times.c[f"entered_{index}"] <= touches.c.at, index)
            for index in reversed(range(stage_count))
        ),
        else_=None,
    )
    staged = (
        select(
            touches.c.person,
            touches.c.touchpoint,
            at_moment.label("stage"),
            times.c.last,
        )
        .join(times, times.c.person == touches.c.person + 0)
        .subquery("staged")
    )
    # Every stage after the one at the moment was entered after the moment (else it would be
    # the stage at the moment), so moving on at or after it is having entered any later stage.
    marked = (
        select(
            staged.c.person,
            staged.c.touchpoint,
            staged.c.stage,
            case((staged.c.stage < staged.c.last, 1), else_=0).label("moved"),
        )
        .where(staged.c.stage.is_not(None))
        .subquery("marked")
    )
    return (
        select(
            marked.c.stage,
            marked.c.touchpoint,
            marked.c.person,
            func.max(marked.c.moved).label("moved"),
        )
        .group_by(marked.c.stage, marked.c.touchpoint, marked.c.person)
        .subquery("per_person")
    )


def _cells(
    session: Session,
    entries: Table,
    stage_count: int,
    touchpoints: list[Place],
    workspace_id: int,
    period: Period,
) -> dict[tuple[int, int], tuple[int, int]]:
    per_person = cell_persons(entries, stage_count, touchpoints, workspace_id, period)
    return {
        (int(stage), int(tp)): (int(n), int(moved or 0))
        for stage, tp, n, moved in session.execute(
            select(
                per_person.c.stage,
                per_person.c.touchpoint,
                func.count(),
                func.sum(per_person.c.moved),
            ).group_by(per_person.c.stage, per_person.c.touchpoint)
        )
    }


def staged_texts(entries: Table, workspace_id: int, period: Period) -> Subquery:
    """(analysis_id, occurred_at, score, touchpoint key or NULL, stage): the analysed texts
    written in the period by a known customer, at the stage the writer was at (NULL: none)."""
    texts = placed_texts(workspace_id=workspace_id, start=period.start, end=period.end).subquery(
        "texts"
    )
    owner = aliased(Customer)
    text_person = survivor_id(owner)
    return (
        select(
            texts.c.analysis_id,
            texts.c.occurred_at,
            texts.c.score,
            texts.c.touchpoint,
            _stage_at(entries, text_person, epoch_micros(texts.c.occurred_at)).label("stage"),
        )
        .select_from(texts)
        .join(owner, owner.id == texts.c.customer_id)
        .subquery("staged_texts")
    )


@dataclass
class _Tally:
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    satisfied: int = 0
    rated: int = 0
    texts: int = 0
    total: float = 0.0
    squares: float = 0.0
    themes: Counter[int] = field(default_factory=Counter)

    def feeling(self) -> Feeling:
        nps = csat = sentiment = None
        if self.promoters + self.passives + self.detractors:
            nps = nps_from_counts(
                promoters=self.promoters, passives=self.passives, detractors=self.detractors
            )
        if self.rated:
            csat = csat_from_counts(satisfied=self.satisfied, total=self.rated)
        if self.texts:
            mean = self.total / self.texts
            variance = (
                max(self.squares - self.texts * mean * mean, 0.0) / (self.texts - 1)
                if self.texts > 1
                else 0.0
            )
            sentiment = mean_from_summary(
                n=self.texts, mean=mean, std=math.sqrt(variance), bounds=(-1.0, 1.0)
            )
        return Feeling(nps=nps, csat=csat, sentiment=sentiment)


def _count_if(condition: Any) -> Any:
    """How many rows of the group meet ``condition`` (NULL, as for a missing score, is not)."""
    return func.sum(case((condition, 1), else_=0))


def _scores(
    session: Session,
    entries: Table,
    touchpoints: list[Place],
    workspace_id: int,
    period: Period,
) -> dict[tuple[int, int | None], _Tally]:
    """Tallies by (stage, touchpoint index); touchpoint None is the whole stage."""
    tallies: dict[tuple[int, int | None], _Tally] = defaultdict(_Tally)
    keys = {place.key: index for index, place in enumerate(touchpoints)}
    person = survivor_id()
    ts = epoch_micros(Event.timestamp)
    nps = json_number(*JsonPath.of("nps").args(Event.properties))
    csat = json_number(*JsonPath.of("csat").args(Event.properties))
    place = json_text(*JsonPath.of("touchpoint").args(Event.properties))
    answers = (
        person_events(workspace_id)
        .add_columns(
            person.label("person"),
            ts.label("ts"),
            nps.label("nps"),
            csat.label("csat"),
            place.label("place"),
        )
        .where(
            Event.name == SURVEY_ANSWERED,
            Event.timestamp >= period.start,
            Event.timestamp < period.end,
        )
        .subquery("answers")
    )
    staged = select(
        _stage_at(entries, answers.c.person, answers.c.ts).label("stage"),
        answers.c.nps,
        answers.c.csat,
        answers.c.place,
    ).subquery("staged_answers")
    counted = (
        select(
            staged.c.stage,
            staged.c.place,
            _count_if(staged.c.nps >= 9),
            _count_if(staged.c.nps <= 6),
            _count_if(and_(staged.c.nps > 6, staged.c.nps < 9)),
            _count_if(staged.c.csat >= 4),
            func.count(staged.c.csat),
        )
        .where(staged.c.stage.is_not(None))
        .group_by(staged.c.stage, staged.c.place)
    )
    for at, where, promoters, detractors, passives, satisfied, rated in session.execute(counted):
        targets: list[tuple[int, int | None]] = [(int(at), None)]
        if where in keys:
            targets.append((int(at), keys[where]))
        for key in targets:
            tally = tallies[key]
            tally.promoters += int(promoters)
            tally.detractors += int(detractors)
            tally.passives += int(passives)
            tally.satisfied += int(satisfied)
            tally.rated += int(rated)
    texts = staged_texts(entries, workspace_id, period)
    for at, score, where in session.execute(
        select(texts.c.stage, texts.c.score, texts.c.touchpoint)
    ):
        if at is None or score is None:
            continue
        places: list[tuple[int, int | None]] = [(int(at), None)]
        if where in keys:
            places.append((int(at), keys[where]))
        for key in places:
            tally = tallies[key]
            tally.texts += 1
            tally.total += float(score)
            tally.squares += float(score) ** 2
    # Themes counted in the database: a few rows per stage, touchpoint and theme.
    members = theme_members(workspace_id=workspace_id).subquery("members")
    for at, where, theme, count in session.execute(
        select(texts.c.stage, texts.c.touchpoint, members.c.theme_id, func.count())
        .join(members, members.c.analysis_id == texts.c.analysis_id)
        .where(texts.c.stage.is_not(None))
        .group_by(texts.c.stage, texts.c.touchpoint, members.c.theme_id)
    ):
        tallies[(int(at), None)].themes[int(theme)] += int(count)
        if where in keys:
            tallies[(int(at), keys[where])].themes[int(theme)] += int(count)
    return tallies


def _top_themes(
    tallies: dict[tuple[int, int | None], _Tally], session: Session, workspace_id: int
) -> dict[tuple[int, int | None], tuple[ThemeCount, ...]]:
    """The most frequent themes of each stage and cell (ties by label), with their labels."""
    seen = {theme for tally in tallies.values() for theme in tally.themes}
    names = theme_names(session, workspace_id=workspace_id, ids=sorted(seen))
    tops: dict[tuple[int, int | None], tuple[ThemeCount, ...]] = {}
    for key, tally in tallies.items():
        counted = [
            ThemeCount(theme, names[theme].label, count)
            for theme, count in tally.themes.items()
            if theme in names
        ]
        counted.sort(key=lambda t: (-t.count, t.label, t.id))
        tops[key] = tuple(counted[:TOP_THEMES])
    return tops


def _feeling(tallies: dict[tuple[int, int | None], _Tally], key: tuple[int, int | None]) -> Feeling:
    tally = tallies.get(key)
    return tally.feeling() if tally is not None else Feeling(None, None, None)


def _behind(cell: tuple[int, int], stage: tuple[int, int]) -> Change | None:
    persons, moved = cell
    stage_persons, stage_moved = stage
    if persons < MIN_FLAG_PERSONS or not stage_persons:
        return None
    try:
        change = compare_proportions(
            proportion_interval(stage_moved, stage_persons), proportion_interval(moved, persons)
        )
    except EmptySample:
        return None
    return change if change.significant and change.difference < 0 else None


def journey_map(
    session: Session,
    *,
    workspace_id: int,
    stages: list[Place],
    touchpoints: list[Place],
    period: Period,
) -> JourneyMap:
    """The map of ``period`` (see the module's contract)."""
    with entries_table(session, workspace_id=workspace_id, stages=stages) as entries:
        columns = _stage_columns(session, entries, stages, period)
        cells = _cells(session, entries, len(stages), touchpoints, workspace_id, period)
        tallies = _scores(session, entries, touchpoints, workspace_id, period)
    themes = _top_themes(tallies, session, workspace_id)
    stage_rows = tuple(
        StageColumn(
            place=place,
            persons=persons,
            moved_on=moved,
            time_to_next=times,
            feeling=_feeling(tallies, (i, None)),
            themes=themes.get((i, None), ()),
        )
        for i, (place, (persons, moved, times)) in enumerate(zip(stages, columns, strict=True))
    )
    found: dict[tuple[str, str], MapCell] = {}
    for (s, t), (persons, moved) in cells.items():
        feeling = _feeling(tallies, (s, t))
        behind = _behind((persons, moved), (stage_rows[s].persons, stage_rows[s].moved_on))
        unhappy = feeling.sentiment is not None and feeling.sentiment.ci_high < 0
        found[(stages[s].key, touchpoints[t].key)] = MapCell(
            stage=stages[s].key,
            touchpoint=touchpoints[t].key,
            persons=persons,
            moved_on=moved,
            feeling=feeling,
            behind=behind,
            flagged=behind is not None or unhappy,
            themes=themes.get((s, t), ()),
        )
    return JourneyMap(period=period, stages=stage_rows, touchpoints=tuple(touchpoints), cells=found)
