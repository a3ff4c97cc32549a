"""The survey-trigger bus consumer: reads tracked events and schedules an invitation for every
live survey whose trigger they match (event name and property filters), at the event's time
plus the survey's delay.

At most one invitation exists per survey and triggering event (a unique constraint), so a
replay of the log or a restart in the middle of a batch never invites anyone twice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cxloop.core.timeutil import as_utc, is_plausible, utcnow
from cxloop.feedback.distribution.service import (
    create_invitation,
    distribution_of,
    is_sampled,
    survey_hidden,
)
from cxloop.feedback.settings import DistributionSettings, PropertyFilter
from cxloop.models import Customer, Event, Invitation, Survey, Workspace
from cxloop.profiles.activity import survivor_of

log = logging.getLogger(__name__)
_MISSING = object()


# --- property filters --------------------------------------------------------------------------


def property_at(properties: Any, path: str) -> Any:
    """The value at a dotted path (``products.0.category``); _MISSING when there is none."""
    value = properties
    for part in path.split("."):
        if isinstance(value, dict):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _number(value: Any) -> float | None:
    """A number from a number or numeric text ("50000"); None otherwise (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.replace(",", "").strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    a, b = _number(actual), _number(expected)
    if (
        a is not None
        and b is not None
        and not (isinstance(actual, str) and isinstance(expected, str))
    ):
        return a == b
    return bool(actual == expected)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "in":
        return isinstance(expected, list) and any(_equal(actual, item) for item in expected)
    if op == "==":
        return _equal(actual, expected)
    if op == "!=":
        return not _equal(actual, expected)
    a, b = _number(actual), _number(expected)
    if a is None or b is None:
        return False
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def filter_matches(properties: dict[str, Any], condition: PropertyFilter) -> bool:
    """Whether the event's properties satisfy one filter (a missing property never does; a
    list property matches when one of its items does, and ``!=`` when none equals)."""
    actual = property_at(properties, condition.property)
    if actual is _MISSING or actual is None:
        return False
    op, expected = condition.op, condition.value
    if isinstance(actual, list):
        items = [item for item in actual if not isinstance(item, dict | list)]
        if op == "!=":
            return not any(_equal(item, expected) for item in items)
        return any(_compare(item, op, expected) for item in items)
    if isinstance(actual, dict):
        return False
    return _compare(actual, op, expected)


# --- the properties a trigger filter can name ----------------------------------------------

PROPERTY_SAMPLE = 200  # the latest events of a name the picker reads
MAX_PROPERTY_PATHS = 60


@dataclass(frozen=True)
class ObservedProperty:
    """A dotted path the filters can name, how many sampled events had it and one value."""

    path: str
    count: int
    example: Any


def _leaves(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    # A list is read at its first item: the filters name one position (``products.0.x``).
    if depth > 5:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(key, str) and key and "." not in key:
                yield from _leaves(inner, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, list):
        if value and path:
            yield from _leaves(value[0], f"{path}.0", depth + 1)
    elif path:
        yield path, value


def observed_properties(
    session: Session, *, workspace_id: int, event_name: str
) -> list[ObservedProperty]:
    """The property paths seen on the workspace's latest events of this name, most common
    first, each with the latest non-empty value as an example."""
    if not event_name:
        return []
    rows = session.scalars(
        select(Event.properties)
        .where(Event.workspace_id == workspace_id, Event.type == "track", Event.name == event_name)
        .order_by(Event.timestamp.desc())
        .limit(PROPERTY_SAMPLE)
    )
    counts: dict[str, int] = {}
    examples: dict[str, Any] = {}
    for properties in rows:
        for path, value in _leaves(properties or {}, ""):
            counts[path] = counts.get(path, 0) + 1
            if path not in examples and value not in (None, ""):
                examples[path] = value
    ranked = sorted(counts, key=lambda path: (-counts[path], path))[:MAX_PROPERTY_PATHS]
    return [ObservedProperty(path, counts[path], examples.get(path)) for path in ranked]


def observed_event_names(session: Session, *, workspace_id: int, limit: int = 2000) -> list[str]:
    """The names among the workspace's latest tracked events (the ones a trigger matches),
    for the trigger's suggestions."""
    latest = (
        select(Event.name)
        .where(Event.workspace_id == workspace_id, Event.type == "track", Event.name.is_not(None))
        .order_by(Event.timestamp.desc())
        .limit(limit)
        .subquery()
    )
    return sorted({name for name in session.scalars(select(latest.c.name)) if name})


def trigger_matches(dist: DistributionSettings, event_name: str, properties: Any) -> bool:
    """Whether an event with this name and these properties triggers the survey."""
    trigger = dist.trigger
    if trigger is None or trigger.event != event_name:
        return False
    props = properties if isinstance(properties, dict) else {}
    return all(filter_matches(props, condition) for condition in trigger.where)


# --- the consumer ------------------------------------------------------------------------------


def _channel(dist: DistributionSettings, customer: Customer) -> str | None:
    """Email when the survey goes by email and the customer has an address, else the widget;
    a survey shared only by link has no one to hand a triggered invitation to."""
    if "email" in dist.channels and customer.email:
        return "email"
    if "widget" in dist.channels:
        return "widget"
    if "email" in dist.channels:
        return "email"  # skipped as no_email, and recorded as such
    return None


class SurveyTriggers:
    """Schedules invitations for live surveys triggered by tracked events."""

    name = "survey_triggers"
    columns: tuple[str, ...] | None = (
        "workspace_id",
        "customer_id",
        "type",
        "name",
        "timestamp",
        "properties",
    )

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        tracks = [e for e in events if e.type == "track" and e.name]
        if not tracks:
            return
        triggered = _triggered_surveys(session, {e.workspace_id for e in tracks})
        if not triggered:
            return
        matches = [
            (event, survey, dist)
            for event in tracks
            for survey, dist in triggered.get((event.workspace_id, event.name or ""), [])
            if trigger_matches(dist, event.name or "", event.properties)
        ]
        if not matches:
            return
        done = set(
            session.execute(
                select(Invitation.survey_id, Invitation.trigger_event_id).where(
                    Invitation.workspace_id.in_({e.workspace_id for e, _s, _d in matches}),
                    Invitation.trigger_event_id.in_({e.id for e, _s, _d in matches}),
                )
            ).tuples()
        )
        workspaces = {
            w.id: w
            for w in session.scalars(
                select(Workspace).where(Workspace.id.in_({e.workspace_id for e, _s, _d in matches}))
            )
        }
        customers = {
            c.id: c
            for c in session.scalars(
                select(Customer).where(
                    Customer.workspace_id.in_(workspaces),
                    Customer.id.in_({e.customer_id for e, _s, _d in matches}),
                )
            )
        }
        now = utcnow()
        for event, survey, dist in matches:
            if (survey.id, event.id) in done:
                continue
            customer = survivor_of(session, customers.get(event.customer_id))
            if customer is None or customer.workspace_id != survey.workspace_id:
                continue
            channel = _channel(dist, customer)
            if channel is None:
                continue
            if not is_plausible(event.timestamp, now=now):
                # A time stored before ingestion checked them (year 9999): no survey is due,
                # and its arithmetic must not stop this consumer.
                continue
            send_at = as_utc(event.timestamp) + timedelta(minutes=dist.delay_minutes)
            if send_at + timedelta(days=dist.expires_days) <= now:
                continue  # an old event (an import, a replay): its survey would be over already
            rate = dist.sample_rate
            sampled = is_sampled(survey_id=survey.id, customer_id=customer.id, rate=rate)
            hidden = survey_hidden(
                session,
                survey,
                {"touchpoint": event.name, "channel": channel, **_scalars(event.properties)},
            )
            try:
                with session.begin_nested():
                    create_invitation(
                        session,
                        survey=survey,
                        workspace=workspaces[survey.workspace_id],
                        customer=customer,
                        channel=channel,
                        send_at=send_at,
                        trigger_event_id=event.id,
                        hidden=hidden,
                        now=now,
                        skip=None if sampled else "not_sampled",
                    )
            except IntegrityError:
                # Another worker invited for this event meanwhile: the one invitation stands.
                log.info("survey %s already invited for event %s", survey.id, event.id)
            done.add((survey.id, event.id))


def _scalars(properties: Any) -> dict[str, Any]:
    if not isinstance(properties, dict):
        return {}
    return {k: v for k, v in properties.items() if isinstance(k, str)}


def _triggered_surveys(
    session: Session, workspace_ids: set[int]
) -> dict[tuple[int, str], list[tuple[Survey, DistributionSettings]]]:
    """Live surveys with a trigger, by (workspace, event name)."""
    found: dict[tuple[int, str], list[tuple[Survey, DistributionSettings]]] = {}
    for survey in session.scalars(
        select(Survey)
        .where(Survey.workspace_id.in_(workspace_ids), Survey.status == "live")
        .order_by(Survey.id)
    ):
        try:
            dist = distribution_of(survey)
        except Exception:  # settings stored before a rule changed: skip, never stop the bus
            log.warning("survey %s has invalid distribution settings", survey.id)
            continue
        if dist.trigger is not None:
            found.setdefault((survey.workspace_id, dist.trigger.event), []).append((survey, dist))
    return found


survey_triggers = SurveyTriggers()
