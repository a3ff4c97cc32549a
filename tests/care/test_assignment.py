"""Automatic assignment: round robin and least busy within a team, capacity (open conversations
only), online agents first (offline ones never, or as a fallback), rules by channel, language,
tier, churn risk and category routing to a team or setting a priority, rebalancing when an agent
goes away or comes back, notices to exactly the right members, the admin API, CLI and settings
page, and two workers routing at once never giving one agent more than their capacity."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.accounts.access import Principal
from cxloop.care import assignment, intake, presence, routing
from cxloop.care import service as care
from cxloop.care.texts import MESSAGE_RECEIVED, conversation_message_analysis
from cxloop.channels.adapters import Inbound
from cxloop.core.db import Database
from cxloop.core.timeutil import utcnow
from cxloop.models import (
    AuditEntry,
    CareInbox,
    Conversation,
    ConversationMessage,
    Event,
    Notification,
    OutboundMessage,
    User,
)
from tests.factories import PASSWORD, Tenant, make_customer, make_user, unique
from tests.helpers.cli import Result
from tests.helpers.web import flashes, get, login, post, text_of

# --- helpers -------------------------------------------------------------------------------------


def owner_of(tenant: Tenant) -> Principal:
    return Principal(workspace_id=tenant.id, role="owner", label="test")


def member(
    session: Session, tenant: Tenant, name: str, teams: tuple[str, ...] = ("support",), **kw: Any
) -> User:
    user = make_user(session, workspace=tenant.workspace, role=kw.get("role", "agent"), locale="ko")
    user.display_name = name
    accounts.set_member_teams(session, workspace_id=tenant.id, user_id=user.id, teams=list(teams))
    return user


def online(session: Session, tenant: Tenant, *users: User, ago: timedelta = timedelta()) -> None:
    for user in users:
        presence.seen(session, workspace_id=tenant.id, user_id=user.id, now=utcnow() - ago)


def set_up(session: Session, tenant: Tenant, **settings: Any) -> None:
    settings.setdefault("methods", {"support": "round_robin"})
    routing.set_routing(session, principal=owner_of(tenant), **settings)


def an_inbox(session: Session, tenant: Tenant, team: str = "support") -> CareInbox:
    return care.create_inbox(session, principal=owner_of(tenant), name="고객센터", team=team).inbox


def write(
    session: Session, inbox: CareInbox, sender: str = "", text: str = "배송 문의드립니다"
) -> Conversation:
    number = unique("m")
    received = intake.receive_email(
        session,
        inbox=inbox,
        mail=Inbound(
            channel="email",
            sender=sender or f"{number}@example.com",
            sender_name="",
            recipient="help@shop.example",
            subject=f"문의 {number}",
            text=text,
            html="",
            provider_message_id=f"<{number}@mail.example.com>",
        ),
    )
    assert received is not None
    return received.conversation


def system_notes(session: Session, conversation: Conversation) -> list[str]:
    return list(
        session.scalars(
            select(ConversationMessage.body_text)
            .where(
                ConversationMessage.conversation_id == conversation.id,
                ConversationMessage.author == "system",
            )
            .order_by(ConversationMessage.id)
        )
    )


def notices(session: Session, tenant: Tenant, kind: str) -> list[tuple[int, int]]:
    """(user id, conversation id) of the workspace's notices of ``kind``."""
    rows = session.scalars(
        select(Notification)
        .where(Notification.workspace_id == tenant.id, Notification.kind == kind)
        .order_by(Notification.id)
    )
    return [(n.user_id, n.params["id"]) for n in rows]


# --- methods, capacity, presence -----------------------------------------------------------------


def test_round_robin_goes_round_the_online_agents_of_the_team(
    session: Session, tenant: Tenant
) -> None:
    minji, jun, sora = (member(session, tenant, n) for n in ("김민지", "박준", "이소라"))
    other_team = member(session, tenant, "최다른", teams=("billing",))
    online(session, tenant, minji, jun, sora, other_team)
    set_up(session, tenant)
    inbox = an_inbox(session, tenant)

    assigned = [write(session, inbox).assignee_id for _ in range(4)]

    assert assigned == [minji.id, jun.id, sora.id, minji.id]
    first = session.scalars(
        select(Conversation)
        .where(Conversation.workspace_id == tenant.id)
        .order_by(Conversation.id)
        .limit(1)
    ).one()
    assert system_notes(session, first) == ["배정: 김민지 (라운드 로빈)"]


def test_least_busy_counts_open_and_pending_conversations(session: Session, tenant: Tenant) -> None:
    minji, jun, sora = (member(session, tenant, n) for n in ("김민지", "박준", "이소라"))
    online(session, tenant, minji, jun, sora)
    inbox = an_inbox(session, tenant)
    for user, status in ((minji, "open"), (minji, "open"), (jun, "pending")):
        conversation = write(session, inbox)
        care.update_conversation(
            session, conversation=conversation, assignee_id=user.id, status=status
        )
    set_up(session, tenant, methods={"support": "least_busy"})

    assigned = [write(session, inbox).assignee_id for _ in range(3)]

    # sora (0), then jun and sora tie at 1 and jun waited longer, then sora (1) before the 2s
    assert assigned == [sora.id, jun.id, sora.id]


def test_capacity_counts_open_conversations_only(session: Session, tenant: Tenant) -> None:
    minji, jun = member(session, tenant, "김민지"), member(session, tenant, "박준")
    online(session, tenant, minji, jun)
    set_up(session, tenant, default_capacity=2, capacities={jun.id: 1})
    inbox = an_inbox(session, tenant)

    first, second, third, fourth = (write(session, inbox) for _ in range(4))

    assert [c.assignee_id for c in (first, second, third, fourth)] == [
        minji.id,
        jun.id,
        minji.id,
        None,
    ]
    care.update_conversation(
        session, conversation=second, status="pending"
    )  # waits on the customer
    report = assignment.sweep(session, workspace_id=tenant.id)
    assert (report.routed, report.assigned, fourth.assignee_id) == (0, 1, jun.id)
    assert system_notes(session, fourth) == ["배정: 박준 (라운드 로빈)"]


@pytest.mark.parametrize(
    ("fallback", "expected"),
    [(False, None), (True, "offline")],
    ids=["offline-never", "offline-as-fallback"],
)
def test_offline_agents_are_skipped_unless_nobody_online_has_room(
    session: Session, tenant: Tenant, fallback: bool, expected: str | None
) -> None:
    minji, away = member(session, tenant, "김민지"), member(session, tenant, "박준")
    online(session, tenant, minji)
    online(session, tenant, away, ago=timedelta(minutes=6))
    set_up(session, tenant, default_capacity=2, offline_fallback=fallback)
    inbox = an_inbox(session, tenant)

    assigned = [write(session, inbox).assignee_id for _ in range(3)]

    assert assigned == [minji.id, minji.id, away.id if expected else None]


def test_an_agent_who_set_themselves_away_gets_nothing_even_as_a_fallback(
    session: Session, tenant: Tenant
) -> None:
    minji = member(session, tenant, "김민지")
    presence.set_available(session, workspace_id=tenant.id, user_id=minji.id, available=False)
    set_up(session, tenant, offline_fallback=True)

    assert write(session, an_inbox(session, tenant)).assignee_id is None


def test_manual_teams_and_workspaces_without_routing_assign_nobody(
    session: Session, tenant: Tenant
) -> None:
    minji = member(session, tenant, "김민지")
    online(session, tenant, minji)
    inbox = an_inbox(session, tenant)
    before = write(session, inbox)
    set_up(session, tenant, methods={"": "manual", "billing": "round_robin"})

    after = write(session, inbox)

    assert (before.assignee_id, after.assignee_id) == (None, None)
    assert assignment.sweep(session, workspace_id=tenant.id).assigned == 0


def test_the_empty_team_is_every_agent(session: Session, tenant: Tenant) -> None:
    minji = member(session, tenant, "김민지", teams=("billing",))
    viewer = member(session, tenant, "구경꾼", teams=(), role="viewer")
    online(session, tenant, minji, viewer)
    set_up(session, tenant, methods={"": "round_robin"})

    assigned = [write(session, an_inbox(session, tenant, team="")).assignee_id for _ in range(2)]

    assert assigned == [minji.id, minji.id]


# --- rules ---------------------------------------------------------------------------------------


def analyse(session: Session, tenant: Tenant) -> None:
    """Run the message analysis on the workspace's messages, as the bus would."""
    logged = session.scalars(
        select(Event).where(Event.workspace_id == tenant.id, Event.name == MESSAGE_RECEIVED)
    ).all()
    conversation_message_analysis.handle(session, list(logged))


RULES = [
    {"name": "VIP", "tiers": ["vip"], "team": "vip", "priority": "high"},
    {"name": "Leaving", "churn_risk_min": 0.7, "priority": "urgent"},
    {"name": "SMS", "channels": ["sms"], "team": "mobile"},
]


@pytest.mark.parametrize(
    ("traits", "team", "priority", "notes"),
    [
        (
            {"tier": "VIP"},
            "vip",
            "high",
            [
                "규칙 'VIP': vip 팀으로 보냈습니다",
                "규칙 'VIP': 우선순위 높음",
                "배정: 한비서 (라운드 로빈)",
            ],
        ),
        (
            {"churn_risk": 0.82},
            "support",
            "urgent",
            ["규칙 'Leaving': 우선순위 긴급", "배정: 김민지 (라운드 로빈)"],
        ),
        ({"tier": "basic", "churn_risk": 0.3}, "support", "normal", ["배정: 김민지 (라운드 로빈)"]),
    ],
    ids=["tier-to-vip-team", "churn-risk-urgent", "no-rule"],
)
def test_rules_by_tier_and_churn_risk_route_and_set_priority(
    session: Session,
    tenant: Tenant,
    traits: dict[str, Any],
    team: str,
    priority: str,
    notes: list[str],
) -> None:
    minji = member(session, tenant, "김민지")
    vip_agent = member(session, tenant, "한비서", teams=("vip",))
    online(session, tenant, minji, vip_agent)
    set_up(session, tenant, methods={"": "round_robin"}, rules=RULES)
    make_customer(session, workspace=tenant.workspace, email="minji@example.com", traits=traits)

    conversation = write(session, an_inbox(session, tenant), sender="minji@example.com")

    assert (conversation.team, conversation.priority) == (team, priority)
    assert conversation.assignee_id == (vip_agent.id if team == "vip" else minji.id)
    assert system_notes(session, conversation) == notes


def test_a_channel_rule_routes_sms_but_not_email(session: Session, tenant: Tenant) -> None:
    minji = member(session, tenant, "김민지", teams=("mobile", "support"))
    online(session, tenant, minji)
    set_up(session, tenant, methods={"": "round_robin"}, rules=RULES)
    sms = care.create_inbox(
        session, principal=owner_of(tenant), name="문자", channel="sms", team="support"
    ).inbox
    customer = make_customer(session, workspace=tenant.workspace, phone="+821012345678")

    texted = intake.receive_message(
        session, inbox=sms, customer=customer, text="배송 언제 와요?", contact="+821012345678"
    )
    mailed = write(session, an_inbox(session, tenant))

    assert texted is not None
    assert (texted.conversation.team, mailed.team) == ("mobile", "support")


def test_language_and_category_rules_wait_for_the_first_message_analysis(
    session: Session, tenant: Tenant
) -> None:
    minji = member(session, tenant, "김민지", teams=("support",))
    billing = member(session, tenant, "정회계", teams=("billing",))
    global_agent = member(session, tenant, "Alex", teams=("global",))
    online(session, tenant, minji, billing, global_agent)
    rules = [
        {"name": "English", "languages": ["en"], "team": "global"},
        {"name": "Refunds", "categories": ["payment_refund"], "team": "billing"},
    ]
    set_up(session, tenant, methods={"": "round_robin"}, rules=rules)
    inbox = an_inbox(session, tenant)

    refund = write(session, inbox, text="환불 요청드립니다. 카드 결제를 취소해 주세요.")
    english = write(session, inbox, text="Where is my order? It has not arrived yet.")
    question = write(session, inbox, text="매장 영업시간이 궁금합니다.")
    waiting = [(c.team, c.assignee_id) for c in (refund, english, question)]
    analyse(session, tenant)

    assert waiting == [("support", None)] * 3  # nobody assigned before the analysis
    assert [(c.team, c.assignee_id) for c in (refund, english, question)] == [
        ("billing", billing.id),
        ("global", global_agent.id),
        ("support", minji.id),
    ]
    assert system_notes(session, refund) == [
        "규칙 'Refunds': billing 팀으로 보냈습니다",
        "배정: 정회계 (라운드 로빈)",
    ]


def test_without_the_analysis_the_sweep_routes_by_what_is_known(
    session: Session, tenant: Tenant
) -> None:
    minji = member(session, tenant, "김민지")
    online(session, tenant, minji)
    rules = [{"name": "Refunds", "categories": ["payment_refund"], "team": "billing"}]
    set_up(session, tenant, rules=rules)
    conversation = write(session, an_inbox(session, tenant), text="환불해 주세요")

    too_soon = assignment.sweep(session, workspace_id=tenant.id)
    later = assignment.sweep(session, workspace_id=tenant.id, now=utcnow() + timedelta(minutes=3))

    assert (too_soon.routed, later.routed, later.assigned) == (0, 1, 0)
    assert (conversation.team, conversation.assignee_id) == ("support", minji.id)


def test_a_rule_to_another_team_starts_that_teams_sla(session: Session, tenant: Tenant) -> None:
    from cxloop.care import sla

    sla.set_policy(
        session,
        workspace_id=tenant.id,
        team="vip",
        first_response_minutes=30,
        next_response_minutes=None,
        resolution_minutes=None,
        business_hours=False,
    )
    set_up(session, tenant, rules=RULES)
    make_customer(
        session, workspace=tenant.workspace, email="vip@example.com", traits={"tier": "vip"}
    )

    conversation = write(session, an_inbox(session, tenant), sender="vip@example.com")

    assert conversation.first_response_due_at is not None
    assert conversation.first_response_due_at - conversation.created_at == timedelta(minutes=30)


# --- rebalancing ---------------------------------------------------------------------------------


def test_an_agent_going_away_hands_on_conversations_waiting_for_a_first_reply(
    session: Session, tenant: Tenant
) -> None:
    minji, jun = member(session, tenant, "김민지"), member(session, tenant, "박준")
    online(session, tenant, minji, jun)
    set_up(session, tenant)
    inbox = an_inbox(session, tenant)
    waiting, _juns, answered = (write(session, inbox) for _ in range(3))
    assert (waiting.assignee_id, answered.assignee_id) == (minji.id, minji.id)
    care.reply(
        session,
        conversation=answered,
        principal=Principal(workspace_id=tenant.id, role="agent", user_id=minji.id),
        text="확인해 보겠습니다.",
    )
    care.update_conversation(session, conversation=answered, status="open")

    moved = presence.set_available(
        session, workspace_id=tenant.id, user_id=minji.id, available=False
    )

    assert moved == 1
    assert (waiting.assignee_id, answered.assignee_id) == (jun.id, minji.id)
    assert system_notes(session, waiting)[-1] == "재배정: 김민지 → 박준 (김민지 님 자리 비움)"
    # back: she takes what waits, up to her capacity
    nobody_had_room = write(session, an_inbox(session, tenant, team="solo"))
    set_up(session, tenant, methods={"support": "round_robin", "solo": "round_robin"})
    accounts.set_member_teams(
        session, workspace_id=tenant.id, user_id=minji.id, teams=["support", "solo"]
    )
    assert nobody_had_room.assignee_id is None
    assert (
        presence.set_available(session, workspace_id=tenant.id, user_id=minji.id, available=True)
        == 1
    )
    assert nobody_had_room.assignee_id == minji.id
    assert system_notes(session, nobody_had_room) == [
        "배정: 김민지 (복귀한 상담원에게 기다리던 대화)"
    ]


@pytest.mark.parametrize(
    ("others_online", "fallback", "expected"),
    [(True, False, "jun"), (False, False, None), (False, True, "minji")],
    ids=["to-an-online-agent", "back-to-the-queue", "kept-as-fallback"],
)
def test_five_quiet_minutes_hand_waiting_work_on(
    session: Session, tenant: Tenant, others_online: bool, fallback: bool, expected: str | None
) -> None:
    minji, jun = member(session, tenant, "김민지"), member(session, tenant, "박준")
    online(session, tenant, minji, ago=timedelta(minutes=3))
    set_up(session, tenant, offline_fallback=fallback)
    conversation = write(session, an_inbox(session, tenant))
    assert conversation.assignee_id == minji.id
    if others_online:
        online(session, tenant, jun)

    quiet = presence.notice_quiet(
        session, workspace_id=tenant.id, now=utcnow() + timedelta(minutes=3)
    )
    again = presence.notice_quiet(
        session, workspace_id=tenant.id, now=utcnow() + timedelta(minutes=4)
    )

    assert (quiet, again) == (1, 0)  # noticed once
    people = {"jun": jun.id, "minji": minji.id, None: None}
    assert conversation.assignee_id == people[expected]
    if expected is None:
        assert system_notes(session, conversation)[-1] == (
            "배정 해제: 김민지 님이 자리를 비워 대기 중인 대화로 돌아갔습니다"
        )


def test_an_agent_seen_again_takes_waiting_work(session: Session, tenant: Tenant) -> None:
    minji = member(session, tenant, "김민지")
    set_up(session, tenant, default_capacity=2)
    inbox = an_inbox(session, tenant)
    conversations = [write(session, inbox) for _ in range(3)]
    conversations[1].priority = "urgent"
    session.flush()

    online(session, tenant, minji)

    assert [c.assignee_id for c in conversations] == [minji.id, minji.id, None]  # urgent first
    assert [c.id for c in conversations if c.assignee_id] == [
        conversations[0].id,
        conversations[1].id,
    ]


# --- notices ------------------------------------------------------------------------------------


def test_the_assignee_and_the_rest_of_the_team_are_told(
    session: Session, tenant: Tenant, client: TestClient
) -> None:
    minji, jun = member(session, tenant, "김민지"), member(session, tenant, "박준")
    billing = member(session, tenant, "정회계", teams=("billing",))
    admin = member(session, tenant, "관리자", teams=(), role="admin")
    online(session, tenant, minji)
    set_up(session, tenant)

    conversation = write(session, an_inbox(session, tenant))

    assert conversation.assignee_id == minji.id
    assert notices(session, tenant, "care_assigned") == [(minji.id, conversation.id)]
    assert notices(session, tenant, "care_new_conversation") == [(jun.id, conversation.id)]
    mailed = session.scalars(
        select(OutboundMessage.recipient).where(OutboundMessage.workspace_id == tenant.id)
    ).all()
    assert mailed == [minji.email]  # team notices in the app only (the default)
    # by hand: the member given it is told; taking it oneself tells nobody
    response = client.patch(
        f"/api/v1/care/conversations/{conversation.id}",
        json={"assignee_id": jun.id},
        headers=tenant.api,
    )
    assert response.status_code == 200, response.text
    care.update_conversation(session, conversation=conversation, assignee_id=billing.id)
    assignment.tell_assigned(
        session, conversation=conversation, assignee_id=billing.id, by_user_id=billing.id
    )
    assert notices(session, tenant, "care_assigned") == [
        (minji.id, conversation.id),
        (jun.id, conversation.id),
    ]
    assert admin.id not in {uid for uid, _ in notices(session, tenant, "care_new_conversation")}


def test_team_notices_by_email_or_not_at_all(session: Session, tenant: Tenant) -> None:
    minji = member(session, tenant, "김민지")
    set_up(session, tenant, methods={}, team_notices="email")
    inbox = an_inbox(session, tenant)
    write(session, inbox)
    set_up(session, tenant, methods={}, team_notices="off")
    write(session, inbox)

    assert [uid for uid, _ in notices(session, tenant, "care_new_conversation")] == [minji.id]
    mailed = session.scalars(
        select(OutboundMessage.subject).where(OutboundMessage.workspace_id == tenant.id)
    ).all()
    assert len(mailed) == 1 and "support 팀에 새 대화" in mailed[0]


def test_old_conversations_tell_nobody(session: Session, tenant: Tenant) -> None:
    member(session, tenant, "김민지")
    inbox = an_inbox(session, tenant)
    received = intake.receive_email(
        session,
        inbox=inbox,
        mail=Inbound(
            channel="email",
            sender="old@example.com",
            sender_name="",
            recipient="help@shop.example",
            subject="지난달 문의",
            text="예전 문의",
            html="",
            provider_message_id=f"<{unique('old')}@mail.example.com>",
        ),
        now=utcnow() - timedelta(days=20),
    )

    assert received is not None
    assert notices(session, tenant, "care_new_conversation") == []


# --- API, CLI and the settings page --------------------------------------------------------------


def test_the_routing_api_reads_replaces_and_audits(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    minji = member(session, tenant, "김민지")
    online(session, tenant, minji)
    body = {
        "methods": {"": "least_busy", "support": "round_robin"},
        "default_capacity": 6,
        "offline_fallback": True,
        "team_notices": "email",
        "rules": [{"name": "VIP", "tiers": ["VIP"], "team": "vip", "priority": "high"}],
        "capacities": [{"user_id": minji.id, "capacity": 3}],
    }

    put = client.put("/api/v1/care/routing", json=body, headers=tenant.api)
    got = client.get("/api/v1/care/routing", headers=tenant.api)

    assert put.status_code == 200, put.text
    assert got.json() == put.json()
    shown = got.json()
    assert (shown["configured"], shown["methods"], shown["default_capacity"]) == (
        True,
        {"": "least_busy", "support": "round_robin"},
        6,
    )
    assert shown["rules"][0] | {"tiers": ["vip"]} == shown["rules"][0]
    [agent] = shown["agents"]
    assert (agent["user_id"], agent["online"], agent["capacity"], agent["open"]) == (
        minji.id,
        True,
        3,
        0,
    )
    entry = session.scalars(
        select(AuditEntry).where(
            AuditEntry.workspace_id == tenant.id, AuditEntry.action == "care.routing_update"
        )
    ).one()
    assert entry.detail["rules"] == ["VIP"] and entry.detail["capacities"] == {str(minji.id): 3}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rules": [{"name": "x", "channels": ["fax"], "team": "a"}]}, "rules[0].channels"),
        (
            {"rules": [{"name": "x", "categories": ["nonsense"], "team": "a"}]},
            "rules[0].categories",
        ),
        ({"rules": [{"name": "x", "tiers": ["vip"]}]}, "rules[0].team"),
        ({"capacities": [{"user_id": 999_999_999, "capacity": 2}]}, "capacities"),
    ],
    ids=["unknown-channel", "unknown-category", "no-action", "not-a-member"],
)
def test_bad_routing_is_a_problem_not_a_change(
    client: TestClient, tenant: Tenant, change: dict[str, Any], field: str
) -> None:
    response = client.put("/api/v1/care/routing", json=change, headers=tenant.api)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == field
    assert client.get("/api/v1/care/routing", headers=tenant.api).json()["configured"] is False


def test_agents_cannot_read_or_change_routing(client: TestClient, tenant: Tenant) -> None:
    agent_key = tenant.key("agent")

    assert client.get("/api/v1/care/routing", headers=agent_key).status_code == 403
    assert client.put("/api/v1/care/routing", json={}, headers=agent_key).status_code == 403
    assert client.get("/api/v1/care/routing", headers=tenant.api).json()["configured"] is False


def test_a_lead_sets_a_member_away_through_the_api(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    minji, jun = member(session, tenant, "김민지"), member(session, tenant, "박준")
    viewer = member(session, tenant, "구경꾼", role="viewer")
    online(session, tenant, minji, jun)
    set_up(session, tenant)
    conversation = write(session, an_inbox(session, tenant))

    away = client.put(
        f"/api/v1/care/agents/{minji.id}/presence", json={"available": False}, headers=tenant.api
    )
    not_an_agent = client.put(
        f"/api/v1/care/agents/{viewer.id}/presence", json={"available": False}, headers=tenant.api
    )
    nobody = client.put(
        "/api/v1/care/agents/999999999/presence", json={"available": False}, headers=tenant.api
    )

    assert away.status_code == 200, away.text
    assert (away.json()["available"], away.json()["online"]) == (False, False)
    assert (not_an_agent.status_code, nobody.status_code) == (422, 404)
    session.expire_all()
    assert session.get(Conversation, conversation.id).assignee_id == jun.id  # type: ignore[union-attr]
    assert session.scalars(
        select(AuditEntry.detail).where(
            AuditEntry.workspace_id == tenant.id, AuditEntry.action == "care.agent_presence"
        )
    ).all() == [{"available": False}]


def test_routing_from_the_cli(cli: Callable[..., Result], database: Database, slug: str) -> None:
    with database.session() as session:
        workspace = accounts.find_workspace(session, slug=slug)
        user = accounts.create_user(
            session, email=f"{unique('cli-agent')}@example.com", password=PASSWORD
        )
        accounts.add_member(session, workspace=workspace, user=user, role="agent")
        email, workspace_id = user.email, workspace.id

    results = [
        cli("care", "routing", "method", "-w", slug, "least_busy", "--team", "support"),
        cli(
            "care",
            "routing",
            "settings",
            "-w",
            slug,
            "--default-capacity",
            "7",
            "--offline-fallback",
        ),
        cli(
            "care",
            "routing",
            "rule-add",
            "-w",
            slug,
            "--name",
            "VIP",
            "--tier",
            "vip",
            "--priority",
            "high",
        ),
        cli(
            "care",
            "routing",
            "rule-add",
            "-w",
            slug,
            "--name",
            "SMS",
            "--channel",
            "sms",
            "--team",
            "mobile",
            "--position",
            "1",
        ),
        cli("care", "routing", "capacity", "-w", slug, email, "4"),
        cli("care", "routing", "presence", "-w", slug, email, "--away"),
    ]
    shown = cli("care", "routing", "show", "-w", slug)
    removed = cli("care", "routing", "rule-remove", "-w", slug, "VIP")
    missing = cli("care", "routing", "rule-remove", "-w", slug, "VIP")
    bad = cli("care", "routing", "method", "-w", slug, "lottery")

    assert [r.code for r in results] == [0] * 6, [r.err for r in results]
    assert "default capacity 7" in shown.out and "away" in shown.out and "least_busy" in shown.out
    with database.session() as session:
        config = routing.config_for(session, workspace_id=workspace_id)
        assert [r.name for r in config.rules] == ["SMS"]
        assert (config.default_capacity, config.offline_fallback) == (7, True)
        [agent] = presence.agents_of(session, workspace_id=workspace_id)
        assert (agent.capacity, agent.available) == (4, False)
    assert removed.code == 0
    assert missing.code != 0 and "No rule named 'VIP'" in missing.err
    assert bad.code != 0 and "method is one of" in bad.err and "Traceback" not in bad.err


def test_the_settings_page_shows_agents_and_saves_methods_and_rules(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    admin = member(session, tenant, "관리자", teams=(), role="admin")
    minji = member(session, tenant, "김민지")
    online(session, tenant, minji)
    assert login(client, admin.email).status_code == 303

    page = get(client, "/settings/routing")
    saved = post(
        client,
        "/settings/routing",
        {
            "default_capacity": "5",
            "offline_fallback": "0",
            "team_notices": "app",
            "method-default": "round_robin",
            "team-0": "billing",
            "method-0": "least_busy",
            "team-1": "",
            "method-1": "",
            f"capacity-{minji.id}": "2",
            "rule-0-name": "VIP",
            "rule-0-tiers": "vip, gold",
            "rule-0-team": "vip",
            "rule-0-priority": "high",
            "rule-0-position": "2",
            "rule-1-name": "Refunds",
            "rule-1-categories": "payment_refund",
            "rule-1-team": "billing",
            "rule-1-position": "1",
        },
    )
    again = get(client, "/settings/routing")
    bad = post(
        client,
        "/settings/routing",
        {
            "default_capacity": "many",
            "rule-0-name": "X",
            "rule-0-channels": "fax",
            "rule-0-team": "a",
        },
    )

    assert page.status_code == 200
    assert "김민지" in text_of(page) and "접속 중" in text_of(page)
    assert (saved.status_code, saved.headers["location"]) == (303, "/settings/routing")
    config = routing.config_for(session, workspace_id=tenant.id)
    assert dict(config.methods) == {"": "round_robin", "billing": "least_busy"}
    assert [(r.name, r.tiers, r.team) for r in config.rules] == [
        ("Refunds", (), "billing"),
        ("VIP", ("vip", "gold"), "vip"),
    ]
    assert bad.status_code == 422 and 'id="routing-error"' in bad.text
    assert 'value="many"' in bad.text  # what was typed is shown again
    assert ("success", "자동 배정 설정을 저장했습니다.") in flashes(again)
    assert f'name="capacity-{minji.id}" value="2"' in again.text


def test_a_rules_channels_and_categories_are_ticked_by_name(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    admin = member(session, tenant, "관리자", teams=(), role="admin")
    assert login(client, admin.email).status_code == 303

    empty = get(client, "/settings/routing")
    saved = post(
        client,
        "/settings/routing",
        {
            "default_capacity": "5",
            "rule-0-name": "Refunds by mail",
            "rule-0-channels": ["email", "chat"],  # type: ignore[dict-item]
            "rule-0-categories": "payment_refund",
            "rule-0-team": "billing",
        },
    )
    again = get(client, "/settings/routing")

    # the blank rule offers every channel and category by its name, none ticked
    assert 'name="rule-0-channels" value="talktalk"> 네이버 톡톡' in empty.text
    assert 'name="rule-0-categories" value="payment_refund"> 결제/환불' in empty.text
    assert saved.status_code == 303
    [rule] = routing.config_for(session, workspace_id=tenant.id).rules
    assert (rule.channels, rule.categories, rule.team) == (
        ("email", "chat"),
        ("payment_refund",),
        "billing",
    )
    assert 'name="rule-0-channels" value="email" checked> 이메일' in again.text
    assert 'name="rule-0-channels" value="sms"> 문자' in again.text
    assert 'name="rule-0-categories" value="payment_refund" checked> 결제/환불' in again.text


def test_agents_cannot_open_the_settings_page(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    agent = member(session, tenant, "김민지")
    assert login(client, agent.email).status_code == 303

    assert get(client, "/settings/routing").status_code == 403
    assert post(client, "/settings/routing", {"default_capacity": "1"}).status_code == 403
    assert routing.config_for(session, workspace_id=tenant.id).since is None


# --- two workers at once -------------------------------------------------------------------------


def test_two_workers_routing_at_once_never_exceed_capacity(database: Database) -> None:
    with database.session() as session:
        workspace = accounts.create_workspace(session, name="동시 배정", slug=unique("race-"))
        user = accounts.create_user(
            session, email=f"{unique('race')}@example.com", password=PASSWORD
        )
        accounts.add_member(session, workspace=workspace, user=user, role="agent")
        accounts.set_member_teams(
            session, workspace_id=workspace.id, user_id=user.id, teams=["support"]
        )
        principal = Principal(workspace_id=workspace.id, role="owner", label="test")
        routing.set_routing(
            session, principal=principal, methods={"support": "manual"}, default_capacity=3
        )
        presence.seen(session, workspace_id=workspace.id, user_id=user.id)
        inbox = care.create_inbox(
            session, principal=principal, name="고객센터", team="support"
        ).inbox
        ids = [write(session, inbox).id for _ in range(16)]
        routing.set_routing(
            session, principal=principal, methods={"support": "round_robin"}, default_capacity=3
        )
        workspace_id, agent_id = workspace.id, user.id
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def work(mine: list[int]) -> None:
        try:
            start.wait(timeout=10)
            for conversation_id in mine:
                with database.session() as session:
                    config = routing.config_for(session, workspace_id=workspace_id)
                    conversation = session.get(Conversation, conversation_id)
                    assert conversation is not None
                    assignment.assign_next(session, conversation, config=config, now=utcnow())
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(ids[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    with database.session() as session:
        assigned = session.scalars(
            select(Conversation.id).where(
                Conversation.workspace_id == workspace_id, Conversation.assignee_id == agent_id
            )
        ).all()
        assert len(assigned) == 3


def test_a_nul_character_in_routing_is_kept_as_a_replacement(
    client: TestClient, tenant: Tenant
) -> None:
    body = r'{"rules": [{"name": "V\u0000IP", "tiers": ["v\u0000ip"], "team": "v\u0000ip"}]}'

    response = client.put(
        "/api/v1/care/routing",
        content=body,
        headers={**tenant.api, "Content-Type": "application/json"},
    )

    assert response.status_code == 200, response.text
    [rule] = response.json()["rules"]
    assert (rule["name"], rule["tiers"], rule["team"]) == ("V\ufffdIP", ["v\ufffdip"], "v\ufffdip")
