"""The demo's stories, found the way a user finds them: through funnels, paths and retention.

The demo is built once for the module into the real (committed) test database, as
tests/system/test_demo.py builds it, at a size where its stories are more than noise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.core.timeutil import KST
from cxloop.demo import build_demo
from cxloop.demo.calendar import demo_now
from cxloop.demo.stories import (
    APP_PAYMENT_LOOP,
    FAILURE_REASONS,
    INCIDENT_DAYS,
    PAYMENT_FAILED,
    incident_days,
)
from cxloop.demo.team import remove_demo_workspace
from cxloop.journeys import service as journeys
from cxloop.journeys.funnels import FunnelGroup, FunnelReport
from cxloop.journeys.paths import ENDED
from cxloop.journeys.retention import RetentionReport, RetentionSpec
from cxloop.journeys.spec import FunnelSpec
from cxloop.models import CareInbox, Conversation, Event, Workspace

MEMBERS = 400
SEED = 3
CHECKOUT = [{"event": "Checkout Started"}, {"event": "Order Completed"}]
MOBILE = {"key": "platform", "op": "in", "value": ["ios", "android"]}


BUILT = datetime(2026, 12, 6, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Demo:
    workspace_id: int
    now: datetime
    today: date  # the build's day (KST): the demo's year ends the day before
    incident: tuple[date, date]  # first and last day


@pytest.fixture(scope="module")
def demo(database: Database) -> Iterator[Demo]:
    # A fixed day, so the demo's random year (dated from its build) is the same on every run.
    now = demo_now(BUILT)
    build_demo(database, customers=MEMBERS, seed=SEED, now=now)
    with database.session() as session:
        workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == "demo"))
    assert workspace_id is not None
    yield Demo(workspace_id, now, now.astimezone(KST).date(), incident_days(now))
    # Its follow-ups fell overdue long ago: jobs of later tests that look at every workspace
    # must not find them.
    with database.session() as session:
        remove_demo_workspace(session)


@pytest.fixture
def db(database: Database, demo: Demo) -> Iterator[Session]:
    with database.session() as session:
        yield session


def _funnel(db: Session, demo: Demo, start: date, end: date, **spec: Any) -> FunnelReport:
    return journeys.run_funnel(
        db,
        workspace_id=demo.workspace_id,
        spec=FunnelSpec.model_validate({"steps": CHECKOUT, **spec}),
        start=start,
        end=end,
        now=demo.now,
    )


def _conversion(group: FunnelGroup) -> float:
    rate = group.steps[-1].from_first
    assert rate is not None
    return rate


def test_mobile_checkout_converts_far_below_the_web(db: Session, demo: Demo) -> None:
    # The year before the incident, broken down by the platform the checkout started on.
    first_day = demo.today - timedelta(days=364)
    before_incident = demo.incident[0] - timedelta(days=1)
    report = _funnel(db, demo, first_day, before_incident, breakdown={"key": "platform"})

    groups = {g.value: g for g in report.breakdown}
    assert set(groups) == {"web", "ios", "android"}
    web = _conversion(groups["web"])
    mobile_started = sum(groups[p].steps[0].persons for p in ("ios", "android"))
    mobile_ordered = sum(groups[p].steps[-1].persons for p in ("ios", "android"))
    assert web >= 0.85
    assert mobile_ordered / mobile_started <= 0.8 * web
    for app in ("ios", "android"):
        change = journeys.compare_values(report, "web", app)
        assert change is not None and change.significant and change.difference <= -0.2, app


def test_the_payment_incident_collapses_conversion_and_support_chats_spike(
    db: Session, demo: Demo
) -> None:
    first, last = demo.incident
    weeks = timedelta(days=INCIDENT_DAYS)
    before = _funnel(db, demo, first - weeks, first - timedelta(days=1))
    during = _funnel(db, demo, first, last)
    after = _funnel(db, demo, last + timedelta(days=1), last + weeks)

    rate = _conversion(during.overall)
    assert rate <= 2 / 3 * _conversion(before.overall)
    assert rate <= 2 / 3 * _conversion(after.overall)
    fell, recovered = (
        journeys.compare_periods(before, during),
        journeys.compare_periods(during, after),
    )
    assert fell is not None and fell.significant and fell.difference < 0
    assert recovered is not None and recovered.significant and recovered.difference > 0

    # Payments fail only in the incident, for the gateway's reasons, and shoppers ask why.
    ws = demo.workspace_id
    failed = db.execute(
        select(Event.timestamp, Event.properties).where(
            Event.workspace_id == ws, Event.name == "Payment Failed"
        )
    ).all()
    assert failed
    assert {_day(at) for at, _ in failed} <= _days(first, last)
    assert {p["reason"] for _, p in failed} <= {reason for reason, _ in FAILURE_REASONS}
    chats = db.execute(
        select(Event.timestamp, Event.properties).where(
            Event.workspace_id == ws, Event.name == "Support Chat Started"
        )
    ).all()
    about_failures = [at for at, p in chats if p["topic"] == PAYMENT_FAILED]
    assert about_failures and {_day(at) for at in about_failures} <= _days(first, last)
    assert any(p["topic"] == APP_PAYMENT_LOOP for _, p in chats)

    # The chat inbox: a spike of conversations in the incident's days.
    opened = db.scalars(
        select(Conversation.created_at)
        .join(CareInbox, CareInbox.id == Conversation.inbox_id)
        .where(
            Conversation.workspace_id == ws,
            Conversation.channel == "chat",
            ~CareInbox.bot_answers_first,
        )
    ).all()
    month_start = demo.today - timedelta(days=30)
    in_incident = sum(1 for at in opened if _day(at) in _days(first, last))
    elsewhere = sum(1 for at in opened if _day(at) >= month_start) - in_incident
    assert in_incident / INCIDENT_DAYS >= 1.5 * elsewhere / (30 - INCIDENT_DAYS)


def test_mobile_shoppers_who_drop_off_loop_back_to_the_cart_and_open_the_chat(
    db: Session, demo: Demo
) -> None:
    funnel = FunnelSpec.model_validate(
        {"steps": [{"event": "Checkout Started", "where": [MOBILE]}, {"event": "Order Completed"}]}
    )
    paths = journeys.run_dropoff_paths(
        db,
        workspace_id=demo.workspace_id,
        funnel=funnel,
        step=2,
        steps=10,
        start=demo.today - timedelta(days=364),
        end=demo.today - timedelta(days=1),
    )

    assert paths.persons >= 30
    # The most common path goes round: payment, back to the cart, checkout again.
    common, persons = paths.top[0]
    assert common[:2] == ("Payment Info Entered", "Cart") and persons >= 0.15 * paths.persons
    looped = sum(n for path, n in paths.top if "Checkout Started" in path)
    assert looped >= 0.4 * paths.persons
    chatting = sum(node.persons for node in paths.nodes if node.name == "Support Chat Started")
    assert chatting >= 0.1 * paths.persons
    assert all(node.name != "Order Completed" for node in paths.nodes)
    assert any(node.name == ENDED for node in paths.nodes)


def _retention(db: Session, demo: Demo, source: str) -> RetentionReport:
    spec = RetentionSpec.model_validate(
        {
            "start_event": "Signed Up",
            "start_where": [{"key": "marketing_source", "value": source}],
            "period": "week",
            "periods": 8,
            "cohorts": 52,
        }
    )
    return journeys.run_retention(
        db,
        workspace_id=demo.workspace_id,
        spec=spec,
        start=demo.today - timedelta(days=364),
        now=demo.now,
    )


def test_members_from_naver_search_come_back_far_more_than_those_from_instagram(
    db: Session, demo: Demo
) -> None:
    naver, instagram = _retention(db, demo, "naver_search"), _retention(db, demo, "instagram")

    assert sum(c.persons for c in naver.cohorts) >= 10
    assert sum(c.persons for c in instagram.cohorts) >= 10
    assert _mean(naver) >= 2 * _mean(instagram)


def _mean(report: RetentionReport) -> float:
    """The weekly retention of weeks 1 to 8, averaged."""
    weeks = [rate for rate in report.average if rate is not None]
    return sum(weeks) / len(weeks)


def _day(at: datetime) -> date:
    return at.replace(tzinfo=at.tzinfo or UTC).astimezone(KST).date()


def _days(first: date, last: date) -> set[date]:
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}
