"""The counting contract computed the plain way: person by person, every attempt, every choice
of events (no greedy shortcut), in Python. The funnel engine must agree with it exactly."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from cxloop.journeys.spec import FunnelSpec

MICROS = 1_000_000


@dataclass(frozen=True)
class Ev:
    person: int  # the survivor profile
    ts: int  # microseconds
    eid: int
    name: str
    props: dict[str, Any] = field(default_factory=dict)
    kind: str = "track"

    @property
    def key(self) -> tuple[int, int]:
        return (self.ts, self.eid)


def passes(ev: Ev, event: str, where: list[Any]) -> bool:
    if ev.name != event:
        return False
    for test in where:
        value = ev.props.get(test.key)
        if test.op == "eq":
            if type(value) is not type(test.value) or value != test.value:
                return False
        elif test.op == "neq":
            if type(value) is type(test.value) and value == test.value:
                return False
        else:
            raise NotImplementedError(test.op)
    return True


@dataclass(frozen=True)
class Outcome:
    reached: int
    start: int  # microseconds
    finish: int


def _ordered(spec: FunnelSpec, events: list[Ev], start: int, end: int) -> Outcome | None:
    n = len(spec.steps)
    window = int(spec.window.total_seconds() * MICROS)
    best: Outcome | None = None

    def excluded(path: list[Ev], b: int) -> bool:
        # b is 1-based: the step whose event is path[b - 1]
        for x in spec.exclusions:
            if (x.before_step or n) != b:
                continue
            low, high = path[x.after_step - 1].ts, path[b - 1].ts
            for ev in events:
                if passes(ev, x.event, x.where) and low < ev.ts < high:
                    return True
        return False

    def extend(path: list[Ev]) -> tuple[int, int]:
        """(furthest step, smallest finish at it) reachable from this path."""
        k = len(path)
        result = (k, path[-1].ts)
        if k == n:
            return result
        step = spec.steps[k]
        previous = path[-1]
        anchor = spec.anchor_of(k)
        for ev in events:
            if not passes(ev, step.event, step.where):
                continue
            if ev.ts < previous.ts or ev.ts - path[0].ts > window:
                continue
            if (
                step.within_hours is not None
                and ev.ts - previous.ts > step.within_hours * 3600 * MICROS
            ):
                continue
            if anchor is not None and ev.key <= path[anchor].key:
                continue
            if any(ev.eid == used.eid for used in path):
                continue
            candidate = [*path, ev]
            if excluded(candidate, k + 1):
                continue
            far, finish = extend(candidate)
            if far > result[0] or (far == result[0] and finish < result[1]):
                result = (far, finish)
        return result

    for ev in sorted(events, key=lambda e: e.key):
        if not (start <= ev.ts < end and passes(ev, spec.steps[0].event, spec.steps[0].where)):
            continue
        far, finish = extend([ev])
        if best is None or far > best.reached:
            best = Outcome(far, ev.ts, finish)
    return best


def _strict(spec: FunnelSpec, events: list[Ev], start: int, end: int) -> Outcome | None:
    n = len(spec.steps)
    window = int(spec.window.total_seconds() * MICROS)
    stream = sorted(
        (e for e in events if e.kind in ("track", "page", "screen")), key=lambda e: e.key
    )
    best: Outcome | None = None
    for i, ev in enumerate(stream):
        if not (start <= ev.ts < end and passes(ev, spec.steps[0].event, spec.steps[0].where)):
            continue
        k, finish = 1, ev.ts
        while k < n and i + k < len(stream):
            nxt, previous = stream[i + k], stream[i + k - 1]
            step = spec.steps[k]
            if not passes(nxt, step.event, step.where) or nxt.ts - ev.ts > window:
                break
            if (
                step.within_hours is not None
                and nxt.ts - previous.ts > step.within_hours * 3600 * MICROS
            ):
                break
            k, finish = k + 1, nxt.ts
        if best is None or k > best.reached:
            best = Outcome(k, ev.ts, finish)
    return best


def _unordered(spec: FunnelSpec, events: list[Ev], start: int, end: int) -> Outcome | None:
    window = int(spec.window.total_seconds() * MICROS)
    best: Outcome | None = None
    for anchor in sorted(events, key=lambda e: e.key):
        if not start <= anchor.ts < end:
            continue
        if not any(passes(anchor, s.event, s.where) for s in spec.steps):
            continue
        k, finish = 0, anchor.ts
        for step in spec.steps:
            times = [
                e.ts
                for e in events
                if passes(e, step.event, step.where) and anchor.ts <= e.ts <= anchor.ts + window
            ]
            if not times:
                break
            k, finish = k + 1, max(finish, min(times))
        if k and (best is None or k > best.reached):
            best = Outcome(k, anchor.ts, finish)
    return best


def reference_funnel(
    spec: FunnelSpec, events: list[Ev], start: int, end: int
) -> dict[int, Outcome]:
    """Each person's furthest step (and the start and finish of their chosen attempt)."""
    by_person: dict[int, list[Ev]] = defaultdict(list)
    for ev in events:
        by_person[ev.person].append(ev)
    compute = {"ordered": _ordered, "strict": _strict, "unordered": _unordered}[spec.order]
    found = {}
    for person, own in by_person.items():
        outcome = compute(spec, own, start, end)
        if outcome is not None and outcome.reached >= 1:
            found[person] = outcome
    return found
