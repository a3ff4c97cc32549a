"""Paths: what persons did after (or before) an event, step by step, as the nodes and links of a
Sankey diagram and the most common whole paths.

Contract: each person (one resolved profile) counts once, from their first anchor event in the
period, looking forward (``after``) or back (``before``). Their path is the next
(or previous) ``steps`` events they did within ``window_hours`` of it (track, page and screen
events, in time and then arrival order), each named by its event name (a page or screen without
a name by its type; or pages by their ``path`` or ``url`` property). Cleaning rules rename
events before counting: the first rule whose regular
expression matches the whole name gives the name it maps to, so URLs or variants merge into one.
A path shorter than ``steps`` ended there.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

import numpy as np
import re2
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import BigInteger, and_, case, func, null, or_, select, union_all
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.events.consumers import SYSTEM_CHANNEL
from cxloop.insights.segments.compiler import property_matches
from cxloop.insights.segments.json_sql import JsonPath, json_text
from cxloop.insights.segments.language import Text200
from cxloop.journeys.attempts import Period
from cxloop.journeys.attempts import persons as furthest_attempts
from cxloop.journeys.persons import person_events
from cxloop.journeys.spec import Filters, FunnelSpec
from cxloop.journeys.sql import MICROS, epoch_micros, stored_time, temporary_rows
from cxloop.models import Customer, Event
from cxloop.profiles.identity import survivor_id

_RE2 = re2.Options()
_RE2.log_errors = False  # a refused pattern is the user's error, told in the reply

MAX_STEPS = 10
MAX_RULES = 20
OTHER = "__other__"  # names past a step's limit, counted together
ENDED = "__end__"  # the path ended before this step


class CleaningRule(BaseModel):
    """Events whose name fully matches ``pattern`` are counted as ``name``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: Annotated[str, Field(min_length=1, max_length=200)]
    name: Annotated[str, Field(min_length=1, max_length=120)]

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re2.compile(value, _RE2)
        except re2.error as exc:
            raise ValueError(
                "not a regular expression cxloop runs (RE2 syntax: no backreferences or "
                f"lookarounds): {exc}"
            ) from None
        return value


class PathSpec(BaseModel):
    """Paths from (``after``) or to (``before``) an event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Text200
    where: Filters = []
    direction: Literal["after", "before"] = "after"
    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 5
    window_hours: Annotated[float, Field(gt=0, le=24 * 31)] = 24
    cleaning: Annotated[list[CleaningRule], Field(max_length=MAX_RULES)] = []
    per_step: Annotated[int, Field(ge=2, le=30)] = 8  # names shown per step, the rest "other"
    # Pages and screens named by their name, or by their ``path`` / ``url`` property.
    page_label: Literal["name", "path", "url"] = "name"
    top_paths: Annotated[int, Field(ge=1, le=100)] = 20


@dataclass(frozen=True, slots=True)
class PathNode:
    step: int  # 1 = the first event after (or before) the anchor
    name: str  # OTHER for the rest, ENDED where paths stopped
    persons: int


@dataclass(frozen=True, slots=True)
class PathLink:
    step: int  # from this step to the next
    source: str
    target: str
    persons: int


@dataclass(frozen=True, slots=True)
class PathReport:
    spec: PathSpec
    persons: int  # persons with an anchor event in the period
    nodes: tuple[PathNode, ...]
    links: tuple[PathLink, ...]
    top: tuple[tuple[tuple[str, ...], int], ...]  # whole paths (cleaned), most persons first


def _rename(spec: PathSpec) -> Any:
    rules = [(re2.compile(rule.pattern, _RE2), rule.name) for rule in spec.cleaning]
    cache: dict[str, str] = {}

    def rename(name: str | None) -> str:
        if name is None:
            return ENDED
        if name not in cache:
            cache[name] = next((to for rx, to in rules if rx.fullmatch(name)), name)
        return cache[name]

    return rename


def _sequences(
    session: Session,
    spec: PathSpec,
    *,
    workspace_id: int,
    period: Period,
    origins: Any | None = None,
) -> list[tuple[tuple[str | None, ...], int]]:
    """(names at steps 1..N, persons) grouped in the database."""
    person = survivor_id()
    window = int(spec.window_hours * 3600 * MICROS)
    after = spec.direction == "after"
    if origins is None:
        anchor_rank = (
            func.row_number()
            .over(partition_by=person, order_by=(Event.timestamp, Event.id))
            .label("rank")
        )
        ranked = (
            person_events(workspace_id)
            .add_columns(
                person.label("person"),
                Event.timestamp.label("at"),
                Event.id.label("eid"),
                anchor_rank,
            )
            .where(
                Event.name == spec.event,
                *(property_matches(Event.properties, f) for f in spec.where),
                Event.timestamp >= period.start,
                Event.timestamp < period.end,
            )
            .subquery("anchored")
        )
        # The exact time of the first anchor alone (not of every anchor event: on SQLite that
        # is text arithmetic per row).
        origins = (
            select(ranked.c.person, epoch_micros(ranked.c.at).label("ts"), ranked.c.eid)
            .where(ranked.c.rank == 1)
            .cte("origins")
        )
    # Each origin's moment and the window's far end in the log's stored form, so that the
    # events are compared as they are stored: on SQLite, converting every event's time to
    # microseconds was most of the work, and a CTE there computes the bounds once per origin.
    # PostgreSQL converts cheaply and plans better with the origins inlined.
    timed = select(
        origins.c.person,
        origins.c.eid,
        stored_time(origins.c.ts).label("at"),
        stored_time(origins.c.ts + window if after else origins.c.ts - window).label("edge"),
    )
    if session.get_bind().dialect.name == "postgresql":
        origins = timed.subquery("origin_times")
    else:
        origins = timed.cte("origin_times")
    at = Event.timestamp
    bounds = (
        and_(
            at <= origins.c.edge,
            or_(at > origins.c.at, and_(at == origins.c.at, Event.id > origins.c.eid)),
        )
        if after
        else and_(
            at >= origins.c.edge,
            or_(at < origins.c.at, and_(at == origins.c.at, Event.id < origins.c.eid)),
        )
    )
    low = period.start if after else period.start - _hours(spec.window_hours)
    high = period.end + _hours(spec.window_hours) if after else period.end
    order = (Event.timestamp, Event.id) if after else (Event.timestamp.desc(), Event.id.desc())
    label: Any = func.coalesce(Event.name, Event.type)
    if spec.page_label != "name":
        address = json_text(*JsonPath.of(spec.page_label).args(Event.properties))
        label = case(
            (Event.type.in_(("page", "screen")), func.coalesce(address, Event.name, Event.type)),
            else_=label,
        )
    following = (
        person_events(workspace_id, stream_only=True)
        .add_columns(
            origins.c.person,
            label.label("name"),
            func.row_number().over(partition_by=origins.c.person, order_by=order).label("step"),
        )
        .join(origins, and_(origins.c.person == person, *_profiles_of(session, origins)))
        .where(
            Event.channel != SYSTEM_CHANNEL,
            Event.timestamp >= low,
            Event.timestamp <= high,
            bounds,
        )
        .subquery("following")
    )
    # The persons with a step, one row each; those without one (their path ended at once) are
    # counted as the origins left over, not found by joining the origins to the steps: SQLite
    # joins a materialised subquery without an index, once per origin.
    walked = (
        select(
            following.c.person,
            *(
                func.max(case((following.c.step == k, following.c.name))).label(f"s{k}")
                for k in range(1, spec.steps + 1)
            ),
        )
        .where(following.c.step <= spec.steps)
        .group_by(following.c.person)
        .cte("walked")
    )
    columns = [walked.c[f"s{k}"] for k in range(1, spec.steps + 1)]
    ended = select(func.count()).select_from(origins).scalar_subquery() - (
        select(func.count()).select_from(walked).scalar_subquery()
    )
    counted = union_all(
        select(*columns, func.count().label("persons")).group_by(*columns),
        select(*(null() for _ in columns), ended),
    )
    return [
        (tuple(row[:-1]), int(row[-1]))
        for row in session.execute(counted)
        if row[-1]  # nobody's path ended at once
    ]


def _profiles_of(session: Session, origins: Any) -> list[Any]:
    """SQLite: the origin's own profile or one merged into it, spelled so that it finds each
    origin's events through the customer index; joined on the survivor alone, SQLite scans the
    period's log once per origin. PostgreSQL hashes the log once instead, which is faster than
    an index walk per origin (it guesses far too few origins to choose it well)."""
    if session.get_bind().dialect.name == "postgresql":
        return []
    return [or_(Customer.id == origins.c.person, Customer.merged_into_id == origins.c.person)]


def _hours(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _node_order(node: PathNode) -> tuple[bool, int, str]:
    return (node.name in (OTHER, ENDED), -node.persons, node.name)


def _report(spec: PathSpec, sequences: list[tuple[tuple[str | None, ...], int]]) -> PathReport:
    rename = _rename(spec)
    cleaned: Counter[tuple[str, ...]] = Counter()
    for names, persons in sequences:
        walked: list[str] = []
        for name in names:
            if name is None:
                break
            walked.append(rename(name))
        cleaned[tuple(walked)] += persons
    total = sum(cleaned.values())
    # The names shown at each step: the most common there; the rest merge into OTHER.
    at_step: list[Counter[str]] = [Counter() for _ in range(spec.steps)]
    for path, persons in cleaned.items():
        for i, name in enumerate(path):
            at_step[i][name] += persons
    shown = [{name for name, _ in counts.most_common(spec.per_step)} for counts in at_step]

    def node_name(i: int, path: tuple[str, ...]) -> str:
        if i >= len(path):
            return ENDED
        return path[i] if path[i] in shown[i] else OTHER

    nodes: Counter[tuple[int, str]] = Counter()
    links: Counter[tuple[int, str, str]] = Counter()
    for path, persons in cleaned.items():
        for i in range(spec.steps):
            name = node_name(i, path)
            nodes[(i + 1, name)] += persons
            if name == ENDED:
                break
            if i + 1 < spec.steps:
                links[(i + 1, name, node_name(i + 1, path))] += persons
    by_step: dict[int, list[PathNode]] = defaultdict(list)
    for (step, name), persons in nodes.items():
        by_step[step].append(PathNode(step=step, name=name, persons=persons))
    ordered_nodes = tuple(
        node
        for step in sorted(by_step)
        for node in sorted(
            by_step[step], key=lambda n: (n.name in (OTHER, ENDED), -n.persons, n.name)
        )
    )
    ordered_links = tuple(
        PathLink(step=step, source=source, target=target, persons=persons)
        for (step, source, target), persons in sorted(
            links.items(), key=lambda item: (item[0][0], -item[1], item[0][1], item[0][2])
        )
    )
    top = tuple(sorted(cleaned.items(), key=lambda item: (-item[1], item[0]))[: spec.top_paths])
    return PathReport(spec=spec, persons=total, nodes=ordered_nodes, links=ordered_links, top=top)


def path_report(
    session: Session, *, workspace_id: int, spec: PathSpec, period: Period
) -> PathReport:
    """The paths of the persons whose anchor event falls in ``period``."""
    return _report(spec, _sequences(session, spec, workspace_id=workspace_id, period=period))


def paths_from(
    session: Session,
    *,
    workspace_id: int,
    spec: PathSpec,
    period: Period,
    origins: Any,
) -> PathReport:
    """The paths after (or before) given moments: ``origins`` (a subquery) has ``person``,
    ``ts`` (microseconds) and ``eid`` (events at that moment with a higher id come after it)."""
    return _report(
        spec,
        _sequences(session, spec, workspace_id=workspace_id, period=period, origins=origins),
    )


def dropoff_paths(
    session: Session,
    *,
    workspace_id: int,
    funnel: FunnelSpec,
    period: Period,
    step: int,
    spec: PathSpec,
) -> PathReport:
    """What the persons who reached ``step - 1`` of a funnel and no further did next, from
    their event of that step (``spec.event`` names it; its direction is ``after``)."""
    if not 2 <= step <= len(funnel.steps):
        raise ValidationFailed(f"step must be between 2 and {len(funnel.steps)}.")
    found = furthest_attempts(session, funnel, workspace_id=workspace_id, period=period)
    stopped = found.reached == step - 1
    # Their event of that step (its id is 0 where the engine keeps none: unordered funnels).
    at = found.times[step - 2][stopped]
    ids = found.ids[step - 2][stopped] if step - 1 <= len(found.ids) else np.zeros_like(at)
    rows = zip(found.person[stopped].tolist(), at.tolist(), ids.tolist(), strict=True)
    columns = [("person", BigInteger()), ("ts", BigInteger()), ("eid", BigInteger())]
    # Indexed: SQLite would otherwise scan all the origins for each event it reads.
    with temporary_rows(session, "dropoff_origins", columns, rows, index=("person",)) as origins:
        # A step may come a whole funnel window after the period's last start.
        reach = Period(period.start, period.end + funnel.window)
        return paths_from(
            session, workspace_id=workspace_id, spec=spec, period=reach, origins=origins
        )
