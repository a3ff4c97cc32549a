"""Care metrics: volume by channel; first-response, next-response and resolution times on the
wall clock and in business hours (across a weekend and 추석, 2026-09-24..26) with exact medians
and p90s; first-contact resolution and reopen rate; SLA met per target; CSAT with its Wilson
interval; the backlog by age; and the same numbers through the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.accounts.access import Principal
from cxloop.care import intake, sla
from cxloop.care import metrics as care_metrics
from cxloop.care import service as care
from cxloop.care.business_hours import KST, BusinessCalendar
from cxloop.care.durations import OpenTime
from cxloop.core import stats
from cxloop.core.db import Database
from cxloop.models import CareInbox, Conversation, User
from tests.care.test_csat import (
    RESOLVED_AT,
    answer,
    csat_inbox,
    csat_survey,
    email_conversation,
    mail_from,
    owner,
    resolved_and_sent,
)
from tests.factories import Tenant, make_customer, make_user, unique
from tests.helpers.cli import Result
from tests.helpers.web import get, login, text_of

HOUR = 3600.0


def kst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=KST)


START, END = kst(2026, 9, 21), kst(2026, 10, 1)  # Monday 21st to Wednesday 30th
NOW = kst(2026, 10, 1, 12, 0)


@dataclass
class Month:
    """Six conversations started in the period (A–E, G), one just now (H), two agents."""

    email: CareInbox
    chat: CareInbox
    minji: User
    junho: User
    conversations: dict[str, Conversation]


def write(session: Session, inbox: CareInbox, sender: str, number: int, at: datetime) -> None:
    assert intake.receive_email(session, inbox=inbox, mail=mail_from(sender, number), now=at)


def reply(session: Session, tenant: Tenant, conversation: Conversation, at: datetime) -> None:
    care.reply(session, conversation=conversation, principal=owner(tenant), text="네", now=at)


def resolve(session: Session, conversation: Conversation, at: datetime) -> None:
    care.update_conversation(session, conversation=conversation, status="resolved", now=at)


@pytest.fixture
def month(session: Session, tenant: Tenant) -> Month:
    # office hours (Mon–Fri 09–18 KST, public holidays closed); targets in business minutes
    sla.set_policy(
        session,
        workspace_id=tenant.id,
        team="",
        first_response_minutes=120,
        next_response_minutes=60,
        resolution_minutes=600,
    )
    email = csat_inbox(session, tenant, None, team="support")
    chat = csat_inbox(session, tenant, None, channel="chat", team="chat-team")
    minji = make_user(session, workspace=tenant.workspace, role="agent")
    junho = make_user(session, workspace=tenant.workspace, role="agent")
    senders = {name: f"{unique(name.lower())}@example.com" for name in "ABCDGH"}
    c: dict[str, Conversation] = {}

    def start(name: str, at: datetime) -> None:
        c[name] = email_conversation(session, email, at=at, sender=senders[name])

    # A: asked on Wednesday 17:00 before 추석, answered and resolved on Monday after it
    start("A", kst(2026, 9, 23, 17, 0))
    reply(session, tenant, c["A"], kst(2026, 9, 28, 10, 0))
    resolve(session, c["A"], kst(2026, 9, 28, 11, 0))
    # B: two replies, the second an hour late for its next-response target
    start("B", kst(2026, 9, 21, 10, 0))
    reply(session, tenant, c["B"], kst(2026, 9, 21, 10, 30))
    write(session, email, senders["B"], 2, kst(2026, 9, 21, 11, 0))
    reply(session, tenant, c["B"], kst(2026, 9, 21, 13, 0))
    resolve(session, c["B"], kst(2026, 9, 21, 14, 0))
    # C: resolved, reopened by the customer six days later, answered and resolved again
    start("C", kst(2026, 9, 22, 9, 0))
    reply(session, tenant, c["C"], kst(2026, 9, 22, 9, 20))
    resolve(session, c["C"], kst(2026, 9, 22, 9, 30))
    write(session, email, senders["C"], 2, kst(2026, 9, 28, 10, 0))
    reply(session, tenant, c["C"], kst(2026, 9, 28, 11, 0))
    resolve(session, c["C"], kst(2026, 9, 28, 12, 0))
    # D: asked on 추석 itself, never answered
    start("D", kst(2026, 9, 25, 15, 0))
    # E: a chat answered in five minutes, waiting on the customer
    visitor = make_customer(session, workspace=tenant.workspace, user_id=unique("visitor"))
    received = intake.receive_message(
        session, inbox=chat, customer=visitor, text="재고 있나요?", now=kst(2026, 9, 28, 9, 0)
    )
    assert received is not None
    c["E"] = received.conversation
    reply(session, tenant, c["E"], kst(2026, 9, 28, 9, 5))
    # G: the customer answers on Wednesday 17:30; the next reply comes on Monday 09:30
    start("G", kst(2026, 9, 21, 16, 0))
    reply(session, tenant, c["G"], kst(2026, 9, 21, 16, 30))
    write(session, email, senders["G"], 2, kst(2026, 9, 23, 17, 30))
    reply(session, tenant, c["G"], kst(2026, 9, 28, 9, 30))
    # H: just now, after the period
    start("H", kst(2026, 10, 1, 11, 30))
    for name, agent in (("A", minji), ("B", minji), ("C", junho)):
        care.update_conversation(session, conversation=c[name], assignee_id=agent.id)
    return Month(email=email, chat=chat, minji=minji, junho=junho, conversations=c)


def metrics_of(session: Session, tenant: Tenant, **filters: object) -> care_metrics.CareMetrics:
    return care_metrics.care_metrics(
        session,
        workspace_id=tenant.id,
        start=START,
        end=END,
        filters=care_metrics.MetricsFilter(**filters),  # type: ignore[arg-type]
        now=NOW,
    )


def times(metric: care_metrics.TimeMetric) -> tuple[float | None, ...]:
    """n, median and p90 on the wall clock, then in business hours."""
    wall, business = metric.wall, metric.business
    return (wall.n, wall.median, wall.p90, business.n, business.median, business.p90)


def test_response_and_resolution_times_on_the_wall_clock_and_in_business_hours(
    session: Session, tenant: Tenant, month: Month
) -> None:
    result = metrics_of(session, tenant)

    assert result.conversations == 6
    # first response: E 5 min, C 20 min, B and G 30 min, A 113 h (2 business hours over 추석)
    assert times(result.first_response) == pytest.approx(
        (5, 1800.0, 1800.0 + 0.6 * (113 * HOUR - 1800.0), 5, 1800.0, 1800.0 + 0.6 * 5400.0)
    )
    # next response: C 1 h, B 2 h, G 112 h (1 business hour: Wednesday 17:30 to Monday 09:30)
    assert times(result.next_response) == pytest.approx(
        (3, 2 * HOUR, 2 * HOUR + 0.8 * 110 * HOUR, 3, HOUR, HOUR + 0.8 * HOUR)
    )
    # resolution: B 4 h; A 114 h (3 business hours); C 147 h (21: Tue, Wed, Mon morning)
    assert times(result.resolution) == pytest.approx(
        (3, 114 * HOUR, 114 * HOUR + 0.8 * 33 * HOUR, 3, 4 * HOUR, 4 * HOUR + 0.8 * 17 * HOUR)
    )


def test_first_contact_resolution_reopen_rate_and_sla(
    session: Session, tenant: Tenant, month: Month
) -> None:
    result = metrics_of(session, tenant)

    # resolved at least once: A (one reply), B (two replies), C (reopened)
    fcr, reopened = result.first_contact_resolution, result.reopened
    assert (fcr.part, fcr.whole, reopened.part, reopened.whole) == (1, 3, 1, 3)
    assert fcr.estimate == stats.proportion_interval(1, 3, scale=100.0)
    assert {s.target: (s.met, s.due) for s in result.sla} == {
        "first_response": (5, 6),  # D missed it over 추석's end
        "next_response": (2, 3),  # B answered an hour late
        "resolution": (3, 6),  # D, E and G are past due, unresolved
    }
    assert [s.percent for s in result.sla] == pytest.approx([500 / 6, 200 / 3, 50.0])
    assert month.conversations["C"].reopened_count == 1


def test_volume_by_channel_and_the_backlog(session: Session, tenant: Tenant, month: Month) -> None:
    result = metrics_of(session, tenant)

    assert [(v.channel, v.conversations, v.messages_in, v.messages_out) for v in result.volume] == [
        ("chat", 1, 1, 1),
        ("email", 5, 8, 7),
    ]
    backlog = result.backlog
    assert dict(backlog.buckets) == {
        "under_1h": 1,  # H
        "1h_4h": 0,
        "4h_24h": 0,
        "1d_3d": 0,
        "3d_7d": 2,  # D (5 d 21 h) and E (3 d 3 h)
        "over_7d": 1,  # G (9 d 20 h)
    }
    assert (backlog.total, backlog.oldest_id) == (4, month.conversations["G"].id)
    assert backlog.oldest_age == (NOW - kst(2026, 9, 21, 16, 0)).total_seconds()


def test_filters_by_channel_team_and_agent(session: Session, tenant: Tenant, month: Month) -> None:
    chat = metrics_of(session, tenant, channel="chat")
    support = metrics_of(session, tenant, team="support")
    minji = metrics_of(session, tenant, agent_id=month.minji.id)

    assert (chat.conversations, chat.first_response.wall.median) == (1, 300.0)
    assert [v.channel for v in chat.volume] == ["chat"]
    assert chat.backlog.total == 1
    assert support.conversations == 5
    assert (minji.conversations, minji.first_contact_resolution.part) == (2, 1)
    assert minji.first_contact_resolution.whole == 2


def test_csat_overall_and_by_team_with_intervals(session: Session, tenant: Tenant) -> None:
    survey = csat_survey(session, tenant)
    inbox = csat_inbox(session, tenant, survey)
    agent = make_user(session, workspace=tenant.workspace, role="agent")
    for number, score in enumerate([5, 5, 4, 3, 1]):
        at = RESOLVED_AT + timedelta(minutes=number)
        conversation = email_conversation(session, inbox, at=at - timedelta(hours=1))
        care.update_conversation(session, conversation=conversation, assignee_id=agent.id)
        answer(session, survey, resolved_and_sent(session, conversation, at=at), score)

    result = care_metrics.care_metrics(
        session,
        workspace_id=tenant.id,
        start=RESOLVED_AT - timedelta(days=1),
        end=RESOLVED_AT + timedelta(days=1),
        now=RESOLVED_AT + timedelta(days=1),
    )

    assert result.csat == stats.proportion_interval(3, 5, scale=100.0)
    assert result.csat is not None and result.csat.too_few
    assert (round(result.csat.ci_low, 2), round(result.csat.ci_high, 2)) == (23.07, 88.24)
    assert [(g.key, g.estimate.successes, g.estimate.n) for g in result.csat_by_team] == [
        ("support", 3, 5)
    ]
    assert [(g.key, g.estimate.n) for g in result.csat_by_agent] == [(agent.id, 5)]


def test_business_time_is_counted_once_per_calendar_and_agrees_with_the_calendar() -> None:
    calendar = BusinessCalendar.office_hours()
    clock = OpenTime(calendar, kst(2026, 9, 1), kst(2026, 11, 1))
    moments = [kst(2026, 9, 1) + timedelta(hours=7 * i, minutes=13 * i) for i in range(200)]

    for a, b in zip(moments, moments[3:], strict=False):
        assert clock.between(a, b) == calendar.business_time(a, b).total_seconds()
    assert clock.between(kst(2026, 9, 23, 17, 0), kst(2026, 9, 28, 10, 0)) == 2 * HOUR


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2026-09-30T00:00:00Z&until=2026-09-01T00:00:00Z", "until"),
        ("since=2025-01-01T00:00:00Z&until=2026-09-01T00:00:00Z", "since"),
        ("channel=fax", "channel"),
        ("since=1990-01-01T00:00:00Z&until=1990-02-01T00:00:00Z", "since"),
        ("since=9999-12-01T00:00:00Z&until=9999-12-31T00:00:00Z", "until"),
    ],
    ids=["backwards", "too-long", "unknown-channel", "before-2000", "after-2100"],
)
def test_the_api_refuses_a_bad_period_or_filter(
    client: TestClient, tenant: Tenant, query: str, field: str
) -> None:
    reply = client.get(f"/api/v1/care/metrics?{query}", headers=tenant.api)

    assert reply.status_code == 422
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert field in json.dumps(reply.json()["errors"])


def test_the_api_gives_the_same_numbers_to_agents_only(
    client: TestClient, session: Session, tenant: Tenant, month: Month
) -> None:
    query = "since=2026-09-20T15:00:00Z&until=2026-09-30T15:00:00Z"

    reply = client.get(f"/api/v1/care/metrics?{query}", headers=tenant.key("agent"))
    viewer = client.get(f"/api/v1/care/metrics?{query}", headers=tenant.key("viewer"))

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["conversations"] == 6
    assert body["first_response"]["business_hours"] == {
        "n": 5,
        "median_seconds": 1800.0,
        "p90_seconds": pytest.approx(1800.0 + 0.6 * 5400.0),
    }
    assert (body["first_contact_resolution"]["part"], body["reopen_rate"]["whole"]) == (1, 3)
    assert [s["met"] for s in body["sla"]] == [5, 2, 3]
    assert viewer.status_code == 403


def test_the_cli_prints_the_table_and_json(cli: Callable[..., Result], database: Database) -> None:
    slug = unique("care-metrics-")
    assert cli("workspace", "create", "가나다 쇼핑", "--slug", slug).code == 0
    with database.session() as session:
        workspace = accounts.find_workspace(session, slug=slug)
        principal = Principal(workspace_id=workspace.id, role="owner", label="test")
        inbox = care.create_inbox(session, principal=principal, name="고객센터", team="cs").inbox
        conversation = email_conversation(session, inbox, at=kst(2026, 9, 23, 17, 0))
        care.reply(
            session,
            conversation=conversation,
            principal=principal,
            text="네",
            now=kst(2026, 9, 28, 10, 0),
        )
        resolve(session, conversation, kst(2026, 9, 28, 11, 0))

    window = ("--since", "2026-09-21", "--until", "2026-10-01")
    table = cli("care", "metrics", "-w", slug, *window)
    as_json = cli("care", "metrics", "-w", slug, *window, "--channel", "email", "--json")
    bad = cli("care", "metrics", "-w", slug, "--channel", "fax")

    assert table.code == 0, table.err
    assert "first response" in table.out and "4d 17h" in table.out and "2h 00m" in table.out
    body = json.loads(as_json.out)
    assert body["conversations"] == 1
    assert body["resolution"]["business_hours"]["median_seconds"] == 3 * HOUR
    assert body["first_contact_resolution"]["part"] == 1
    assert bad.code == 2 and "channel must be one of" in bad.err and "Traceback" not in bad.err


# --- the page and the CX dashboard's card --------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "phrases"),
    [
        (
            "ko",
            ["상담 지표", "첫 응대 해결률 33.3%", "3건 중 1건", "30분", "1시간 00분", "2일 20시간"],
        ),
        ("en", ["Care metrics", "First-contact resolution 33.3%", "1 of 3", "30 min", "2 d 20 h"]),
    ],
    ids=["korean", "english"],
)
def test_the_page_shows_the_metrics_in_the_agents_language(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    month: Month,
    locale: str,
    phrases: list[str],
) -> None:
    agent = make_user(session, workspace=tenant.workspace, role="agent", locale=locale)
    assert login(client, agent.email).status_code == 303

    page = get(client, "/care/metrics?from=2026-09-21&to=2026-09-30")

    assert page.status_code == 200, page.text
    text = text_of(page)
    for phrase in phrases:
        assert phrase in text, phrase
    for chart in ("care-volume", "care-times", "care-sla", "care-backlog"):
        assert f'aria-labelledby="{chart}-t {chart}-d"' in page.text
    assert f'href="/inbox/{month.conversations["G"].id}"' in page.text  # the oldest waiting


def test_the_page_filters_and_refuses_those_who_do_not_work_conversations(
    client: TestClient, session: Session, tenant: Tenant, month: Month
) -> None:
    viewer = make_user(session, workspace=tenant.workspace, role="viewer")
    agent = make_user(session, workspace=tenant.workspace, role="agent")
    assert login(client, agent.email).status_code == 303

    chat = get(client, "/care/metrics?from=2026-09-21&to=2026-09-30&channel=chat")
    backwards = get(client, "/care/metrics?from=2026-09-30&to=2026-09-01&channel=nope")
    ancient = get(client, "/care/metrics?from=1999-12-01&to=1999-12-31")
    client.cookies.clear()
    assert login(client, viewer.email).status_code == 303
    refused = get(client, "/care/metrics")

    assert chat.status_code == 200
    assert "1 conversations started" in text_of(chat)
    assert '<option value="chat" selected>' in chat.text
    assert backwards.status_code == 200
    assert "The period must run forward" in text_of(backwards)
    assert ancient.status_code == 200 and "The period must run forward" in text_of(ancient)
    assert refused.status_code == 403


def test_the_cx_dashboard_has_a_care_card(
    client: TestClient, session: Session, tenant: Tenant, month: Month
) -> None:
    owner_user = make_user(session, workspace=tenant.workspace, role="owner")
    assert login(client, owner_user.email).status_code == 303

    page = get(client, "/cx?from=2026-09-21&to=2026-09-30")

    assert page.status_code == 200, page.text
    card = page.text[page.text.index('id="care-card"') :]
    card = card[: card.index("</section>")]
    assert 'href="/care/metrics?from=2026-09-21&amp;to=2026-09-30"' in card
    assert "33.3%" in card and ">6<" in card and ">30 min<" in card


def test_a_calendar_never_open_counts_no_business_time() -> None:
    closed = BusinessCalendar(weekly=((),) * 7)
    clock = OpenTime(closed, kst(2026, 9, 1), kst(2026, 10, 1))

    assert clock.between(kst(2026, 9, 2, 9), kst(2026, 9, 9, 18)) == 0.0


def test_the_dashboards_headline_agrees_with_the_full_metrics(
    session: Session, tenant: Tenant, month: Month
) -> None:
    full = metrics_of(session, tenant)

    head = care_metrics.headline(session, workspace_id=tenant.id, start=START, end=END, now=NOW)

    assert (head.conversations, head.backlog) == (6, 4)
    assert (head.first_response, head.resolution) == (full.first_response, full.resolution)
    assert head.first_contact_resolution == full.first_contact_resolution
    assert head.csat is None
