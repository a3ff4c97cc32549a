"""Paths against the plain per-person walk, on random streams with merged profiles, ties at one
instant, identify calls between steps and cleaning rules that merge names."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from cxloop.journeys.paths import PathSpec, path_report
from cxloop.journeys.sql import micros
from tests.journeys.reference import MICROS, Ev, passes
from tests.journeys.test_funnel_contract import PERIOD, _load, events_strategy

RULES = [{"pattern": "[CD]", "name": "C or D"}]


def reference_paths(
    spec: PathSpec, events: list[Ev], start: int, end: int
) -> Counter[tuple[str, ...]]:
    window = int(spec.window_hours * 3600 * MICROS)
    rename = {"C": "C or D", "D": "C or D"} if spec.cleaning else {}
    by_person: dict[int, list[Ev]] = defaultdict(list)
    for ev in events:
        by_person[ev.person].append(ev)
    found: Counter[tuple[str, ...]] = Counter()
    for own in by_person.values():
        anchors = sorted(
            (e for e in own if passes(e, spec.event, spec.where) and start <= e.ts < end),
            key=lambda e: e.key,
        )
        if not anchors:
            continue
        anchor = anchors[0]
        stream = [e for e in own if e.kind in ("track", "page", "screen")]
        if spec.direction == "after":
            walk = sorted(
                (e for e in stream if e.key > anchor.key and e.ts <= anchor.ts + window),
                key=lambda e: e.key,
            )
        else:
            walk = sorted(
                (e for e in stream if e.key < anchor.key and e.ts >= anchor.ts - window),
                key=lambda e: e.key,
                reverse=True,
            )
        found[tuple(rename.get(e.name, e.name) for e in walk[: spec.steps])] += 1
    return found


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=events_strategy,
    event=st.sampled_from(["A", "B"]),
    direction=st.sampled_from(["after", "before"]),
    steps=st.integers(1, 4),
    hours=st.sampled_from([1.0, 24.0, 48.0]),
    clean=st.booleans(),
)
def test_paths_match_the_per_person_walk(
    session: Session, rows: Any, event: str, direction: str, steps: int, hours: float, clean: bool
) -> None:
    spec = PathSpec(
        event=event,
        direction=direction,
        steps=steps,
        window_hours=hours,
        cleaning=RULES if clean else [],
        top_paths=100,
    )
    example = session.begin_nested()
    try:
        events = _load(session, rows)
        report = path_report(
            session, workspace_id=session.info["workspace_id"], spec=spec, period=PERIOD
        )
    finally:
        example.rollback()
    expected = reference_paths(spec, events, micros(PERIOD.start), micros(PERIOD.end))
    assert dict(report.top) == dict(expected)
    assert report.persons == sum(expected.values())
    first_step = {n.name: n.persons for n in report.nodes if n.step == 1}
    assert sum(first_step.values()) == report.persons
