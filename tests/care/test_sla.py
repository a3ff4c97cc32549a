"""SLA clocks on conversations: due times in the team's business hours (Korean holidays
skipped) or on the wall clock, met and missed targets for first response, next response and
resolution, the sweep that records misses and warns once, and the admin API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.care import intake, sla
from cxloop.care import service as care
from cxloop.care.business_hours import KST
from cxloop.channels.adapters import Inbound
from cxloop.models import CareInbox, Conversation, Notification
from tests.factories import Tenant, make_user


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=KST)  # type: ignore[misc]


FRIDAY_BEFORE_SEOLLAL = kst(2026, 2, 13, 17, 0)  # 설날: Monday 16th to Wednesday 18th


def owner(tenant: Tenant) -> Principal:
    return Principal(workspace_id=tenant.id, role="owner", label="test")


def an_inbox(session: Session, tenant: Tenant, team: str = "support") -> CareInbox:
    return care.create_inbox(session, principal=owner(tenant), name="고객센터", team=team).inbox


def customer_mail(number: int, *, answering: str = "") -> Inbound:
    return Inbound(
        channel="email",
        sender="minji@example.com",
        sender_name="김민지",
        recipient="help@shop.example",
        subject="배송 문의",
        text=f"질문 {number}",
        html="",
        provider_message_id=f"<q{number}@mail.example.com>",
        in_reply_to=answering,
    )


def started(session: Session, inbox: CareInbox, at: datetime) -> Conversation:
    received = intake.receive_email(session, inbox=inbox, mail=customer_mail(1), now=at)
    assert received is not None
    return received.conversation


def policy(session: Session, tenant: Tenant, **minutes: Any) -> None:
    values: dict[str, Any] = {
        "first_response_minutes": None,
        "next_response_minutes": None,
        "resolution_minutes": None,
    }
    values.update(minutes)
    sla.set_policy(session, workspace_id=tenant.id, team="", **values)


def test_the_first_response_falls_due_after_the_holidays(session: Session, tenant: Tenant) -> None:
    policy(session, tenant, first_response_minutes=240, resolution_minutes=9 * 60 * 3)
    conversation = started(session, an_inbox(session, tenant), FRIDAY_BEFORE_SEOLLAL)

    assert conversation.first_response_due_at == kst(2026, 2, 19, 12, 0)
    # 27 business hours: Friday's last hour, Thursday and Friday after the holidays, and eight
    # hours of Monday the 23rd
    assert conversation.resolution_due_at == kst(2026, 2, 23, 17, 0)


def test_a_wall_clock_policy_ignores_business_hours(session: Session, tenant: Tenant) -> None:
    sla.set_policy(
        session,
        workspace_id=tenant.id,
        team="support",
        first_response_minutes=240,
        next_response_minutes=None,
        resolution_minutes=None,
        business_hours=False,
    )
    policy(session, tenant, first_response_minutes=1)  # the default, not used by "support"

    conversation = started(session, an_inbox(session, tenant), FRIDAY_BEFORE_SEOLLAL)

    assert conversation.first_response_due_at == FRIDAY_BEFORE_SEOLLAL + timedelta(hours=4)


def test_the_team_hours_decide_the_clock(session: Session, tenant: Tenant) -> None:
    policy(session, tenant, first_response_minutes=60)
    every_day = [[[600, 1320]]] * 7  # 10:00–22:00, seven days
    sla.set_hours(
        session, workspace_id=tenant.id, team="support", weekly=every_day, public_holidays=False
    )

    conversation = started(session, an_inbox(session, tenant), kst(2026, 2, 17, 21, 30))

    assert conversation.first_response_due_at == kst(2026, 2, 18, 10, 30)  # 설날 is open


@pytest.mark.parametrize(
    ("reply_after", "state"),
    [(timedelta(hours=1), "met"), (timedelta(hours=5), "missed")],
    ids=["in-time", "late"],
)
def test_a_reply_meets_or_misses_the_first_response(
    session: Session, tenant: Tenant, reply_after: timedelta, state: str
) -> None:
    policy(session, tenant, first_response_minutes=120)
    start = kst(2026, 12, 7, 10, 0)  # a Monday
    conversation = started(session, an_inbox(session, tenant), start)

    care.reply(
        session,
        conversation=conversation,
        principal=owner(tenant),
        text="확인해 보겠습니다.",
        now=start + reply_after,
    )

    assert (
        sla.states(conversation, warn=timedelta(minutes=30), now=start + timedelta(days=1))[
            "first_response"
        ]
        == state
    )


def test_a_customer_answer_starts_the_next_response_clock(session: Session, tenant: Tenant) -> None:
    policy(session, tenant, first_response_minutes=120, next_response_minutes=60)
    inbox = an_inbox(session, tenant)
    start = kst(2026, 12, 7, 10, 0)
    conversation = started(session, inbox, start)
    care.reply(session, conversation=conversation, principal=owner(tenant), text="네", now=start)

    intake.receive_email(
        session,
        inbox=inbox,
        mail=customer_mail(2, answering="<q1@mail.example.com>"),
        now=start + timedelta(hours=1),
    )
    assert conversation.next_response_due_at == start + timedelta(hours=2)

    care.reply(
        session,
        conversation=conversation,
        principal=owner(tenant),
        text="늦어서 죄송합니다",
        now=start + timedelta(hours=3),
    )
    assert conversation.next_response_due_at is None
    assert conversation.sla_missed == ["next_response"]


def test_resolving_late_misses_and_a_reopening_starts_again(
    session: Session, tenant: Tenant
) -> None:
    policy(session, tenant, resolution_minutes=60)
    inbox = an_inbox(session, tenant)
    start = kst(2026, 12, 7, 10, 0)
    conversation = started(session, inbox, start)

    care.update_conversation(
        session, conversation=conversation, status="resolved", now=start + timedelta(hours=2)
    )
    assert conversation.sla_missed == ["resolution"]

    reopened_at = start + timedelta(hours=3)
    intake.receive_email(
        session,
        inbox=inbox,
        mail=customer_mail(2, answering="<q1@mail.example.com>"),
        now=reopened_at,
    )
    assert conversation.status == "open"
    assert conversation.resolution_due_at == reopened_at + timedelta(hours=1)


def test_the_sweep_warns_once_then_records_the_miss(session: Session, tenant: Tenant) -> None:
    policy(session, tenant, first_response_minutes=60)
    agent = make_user(session, workspace=tenant.workspace, role="agent")
    start = kst(2026, 12, 7, 10, 0)
    conversation = started(session, an_inbox(session, tenant), start)
    care.update_conversation(session, conversation=conversation, assignee_id=agent.id)

    def notices() -> list[Notification]:
        return list(
            session.scalars(
                select(Notification).where(
                    Notification.user_id == agent.id, Notification.kind == "care_sla_first_response"
                )
            )
        )

    early = sla.sweep(session, now=start + timedelta(minutes=20), workspace_id=tenant.id)
    warned = sla.sweep(session, now=start + timedelta(minutes=40), workspace_id=tenant.id)
    again = sla.sweep(session, now=start + timedelta(minutes=45), workspace_id=tenant.id)
    missed = sla.sweep(session, now=start + timedelta(minutes=61), workspace_id=tenant.id)

    assert (early, warned, again) == ((0, 0), (0, 1), (0, 0))
    assert missed[0] >= 1
    assert len(notices()) == 1
    assert notices()[0].link == f"/inbox/{conversation.id}"
    assert conversation.sla_missed == ["first_response"]


# --- the API ------------------------------------------------------------------------------------


def test_admins_set_targets_and_hours_and_agents_see_the_states(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    put = client.put(
        "/api/v1/care/sla",
        json={"first_response_minutes": 240, "resolution_minutes": 2880},
        headers=tenant.api,
    )
    hours = client.put(
        "/api/v1/care/business-hours",
        params={"team": "support"},
        json={"weekly": [[[540, 1080]]] * 5 + [[], []], "closed_days": ["2026-12-31"]},
        headers=tenant.api,
    )
    agent_put = client.put(
        "/api/v1/care/sla", json={"first_response_minutes": 1}, headers=tenant.key("agent")
    )

    assert put.status_code == 200, put.text
    assert put.json()["first_response_minutes"] == 240
    assert hours.status_code == 200, hours.text
    assert hours.json()["closed_days"] == ["2026-12-31"]
    assert isinstance(hours.json()["open_now"], bool)
    assert agent_put.status_code == 403

    conversation = started(session, an_inbox(session, tenant), kst(2026, 12, 7, 10, 0))
    shown = client.get(f"/api/v1/care/conversations/{conversation.id}", headers=tenant.api)
    assert set(shown.json()["sla"]) == {"first_response", "resolution"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weekly": [[[600, 540]]] + [[]] * 6}, "weekly"),
        ({"weekly": [[[0, 600], [500, 700]]] + [[]] * 6}, "weekly"),
        ({"weekly": [[]] * 7, "zone": "Mars/Olympus"}, "zone"),
    ],
    ids=["backwards", "overlapping", "unknown-zone"],
)
def test_business_hours_that_make_no_sense_are_refused(
    client: TestClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = client.put("/api/v1/care/business-hours", json=body, headers=tenant.api)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"] == field for e in response.json()["errors"])


def test_closing_now_lasts_until_the_schedule_changes(client: TestClient, tenant: Tenant) -> None:
    closed = client.post(
        "/api/v1/care/business-hours/override", json={"open": False}, headers=tenant.api
    )
    lifted = client.post(
        "/api/v1/care/business-hours/override", json={"open": None}, headers=tenant.api
    )

    assert closed.status_code == 200, closed.text
    assert closed.json()["open_now"] is False
    assert closed.json()["override_until"] is not None
    assert lifted.json()["override_open"] is None
