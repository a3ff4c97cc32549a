"""CSAT after resolution through the feedback domain: asked for once when an agent resolves a
conversation (never on an automatic resolve, nor when the inbox has it off), sent after the
resolution commits by email or as a link in the chat, under feedback's fatigue window and
consent, and the answer counted for the agent and the team."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.care import csat, intake
from cxloop.care import metrics as care_metrics
from cxloop.care import service as care
from cxloop.care.business_hours import KST
from cxloop.channels.adapters import Inbound
from cxloop.core import stats
from cxloop.feedback.responses import service as responses
from cxloop.feedback.surveys import service as surveys
from cxloop.models import (
    CareInbox,
    Conversation,
    ConversationMessage,
    CsatRequest,
    Invitation,
    OutboundMessage,
    Survey,
)
from cxloop.profiles import service as profiles
from tests.factories import Tenant, held_jobs, make_customer, make_user, unique
from tests.helpers.web import get, login, post, text_of

RESOLVED_AT = datetime(2026, 12, 7, 15, 0, tzinfo=KST)  # a Monday


def owner(tenant: Tenant) -> Principal:
    return Principal(workspace_id=tenant.id, role="owner", label="test")


def csat_survey(session: Session, tenant: Tenant, *, live: bool = True) -> Survey:
    survey = surveys.create_survey(
        session,
        workspace_id=tenant.id,
        key=unique("csat-"),
        name="상담 만족도",
        kind="csat",
        definition={
            "questions": [
                {
                    "id": "csat",
                    "type": "csat",
                    "required": True,
                    "text": {"ko": "상담에 만족하셨나요?", "en": "Were you satisfied?"},
                }
            ],
            "hidden_fields": ["touchpoint", "conversation_id"],
        },
        distribution={"channels": ["email", "link"]},
    )
    if live:
        surveys.set_status(session, survey=survey, status="live")
    return survey


def csat_inbox(
    session: Session,
    tenant: Tenant,
    survey: Survey | None,
    *,
    channel: str = "email",
    team: str = "support",
    enabled: bool = True,
) -> CareInbox:
    inbox = care.create_inbox(
        session, principal=owner(tenant), name="고객센터", channel=channel, team=team
    ).inbox
    if survey is not None:
        csat.set_inbox_csat(
            session, principal=owner(tenant), inbox=inbox, enabled=enabled, survey_id=survey.id
        )
    return inbox


def mail_from(sender: str, number: int, *, subject: str = "배송 문의") -> Inbound:
    return Inbound(
        channel="email",
        sender=sender,
        sender_name="",
        recipient="help@shop.example",
        subject=subject,
        text=f"질문 {number}",
        html="",
        provider_message_id=f"<{unique('m')}@mail.example.com>",
    )


def email_conversation(
    session: Session, inbox: CareInbox, *, at: datetime, sender: str | None = None
) -> Conversation:
    received = intake.receive_email(
        session, inbox=inbox, mail=mail_from(sender or f"{unique('c')}@example.com", 1), now=at
    )
    assert received is not None
    return received.conversation


def resolve(
    session: Session, conversation: Conversation, *, at: datetime = RESOLVED_AT, **extra: Any
) -> None:
    care.update_conversation(session, conversation=conversation, status="resolved", now=at, **extra)


def requests_of(session: Session, conversation: Conversation) -> list[CsatRequest]:
    return list(
        session.scalars(
            select(CsatRequest)
            .where(CsatRequest.conversation_id == conversation.id)
            .order_by(CsatRequest.id)
        )
    )


def invitations_of(session: Session, survey: Survey) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation).where(Invitation.survey_id == survey.id).order_by(Invitation.id)
        )
    )


def answer(session: Session, survey: Survey, request: CsatRequest, score: int) -> None:
    invitation = session.get(Invitation, request.invitation_id)
    assert invitation is not None
    responses.submit_response(
        session, survey=survey, answers={"csat": score}, invitation=invitation
    )


def resolved_and_sent(
    session: Session, conversation: Conversation, *, at: datetime = RESOLVED_AT
) -> CsatRequest:
    """Resolve as an agent and run the request's job (as the worker does after commit)."""
    resolve(session, conversation, at=at)
    [request] = requests_of(session, conversation)
    sent = csat.send_request(session, request_id=request.id, now=at + timedelta(seconds=5))
    assert sent is request
    return request


# --- the decision --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        ({}, None),
        ({"automatic": True}, "automatic"),
        ({"enabled": False}, "off"),
        ({"survey_id": None}, "off"),
        ({"has_customer": False}, "no_customer"),
        ({"channel": "chat"}, None),
        ({"channel": "sms"}, None),
        ({"channel": "talktalk"}, "channel"),
        ({"channel": "review"}, "channel"),
    ],
    ids=[
        "agent-resolves",
        "automatic",
        "inbox-off",
        "no-survey",
        "no-customer",
        "chat",
        "sms",
        "talktalk",
        "review",
    ],
)
def test_when_a_resolution_asks_for_csat(facts: dict[str, Any], reason: str | None) -> None:
    wanted: dict[str, Any] = {
        "automatic": False,
        "enabled": True,
        "survey_id": 7,
        "has_customer": True,
        "channel": "email",
    }
    wanted.update(facts)
    assert csat.csat_wanted(**wanted) == reason


# --- asking and sending --------------------------------------------------------------------------


def test_an_agents_resolution_sends_the_survey_once_by_email(
    session: Session, tenant: Tenant
) -> None:
    survey = csat_survey(session, tenant)
    inbox = csat_inbox(session, tenant, survey)
    agent = make_user(session, workspace=tenant.workspace, role="agent")
    conversation = email_conversation(session, inbox, at=RESOLVED_AT - timedelta(hours=2))
    care.update_conversation(session, conversation=conversation, assignee_id=agent.id)

    with held_jobs() as huey:
        resolve(session, conversation)
        session.commit()  # the job leaves once the resolution commits
        [job] = huey.pending()
    [request] = requests_of(session, conversation)
    assert job.args == (request.id,)
    assert (request.status, request.agent_id, request.team, request.cycle) == (
        "pending",
        agent.id,
        "support",
        0,
    )

    sent = csat.send_request(session, request_id=request.id, now=RESOLVED_AT)
    again = csat.send_request(session, request_id=request.id, now=RESOLVED_AT)

    assert sent is request and again is None
    [invitation] = invitations_of(session, survey)
    assert (request.status, request.invitation_id, request.sent_at) == (
        "sent",
        invitation.id,
        RESOLVED_AT,
    )
    assert (invitation.channel, invitation.status, invitation.customer_id) == (
        "email",
        "sent",
        conversation.customer_id,
    )
    assert invitation.hidden == {
        "touchpoint": "Conversation Resolved",
        "conversation_id": conversation.id,
    }
    mails = list(
        session.scalars(
            select(OutboundMessage.dedupe_key).where(OutboundMessage.workspace_id == tenant.id)
        )
    )
    assert mails == [f"invitation:{invitation.id}"]


def test_a_chat_gets_the_link_as_a_message_in_the_conversation(
    session: Session, tenant: Tenant
) -> None:
    survey = csat_survey(session, tenant)
    inbox = csat_inbox(session, tenant, survey, channel="chat")
    visitor = make_customer(session, workspace=tenant.workspace, user_id=unique("visitor"))
    received = intake.receive_message(
        session,
        inbox=inbox,
        customer=visitor,
        text="주문한 상품이 언제 오나요?",
        contact="visitor-1",
        now=RESOLVED_AT - timedelta(minutes=10),
    )
    assert received is not None

    request = resolved_and_sent(session, received.conversation)

    [invitation] = invitations_of(session, survey)
    assert (request.status, invitation.channel, invitation.status) == ("sent", "link", "sent")
    link_message = session.scalars(
        select(ConversationMessage).where(
            ConversationMessage.conversation_id == received.conversation.id,
            ConversationMessage.author == "system",
        )
    ).one()
    assert link_message.direction == "out" and link_message.automatic
    assert "/s/" in link_message.body_text and "만족" in link_message.body_text
    assert received.conversation.status == "resolved"  # the link does not reopen it


def test_an_automatic_resolution_asks_for_nothing(session: Session, tenant: Tenant) -> None:
    survey = csat_survey(session, tenant)
    conversation = email_conversation(
        session, csat_inbox(session, tenant, survey), at=RESOLVED_AT - timedelta(hours=1)
    )

    resolve(session, conversation, automatic=True)

    assert conversation.status == "resolved"
    assert requests_of(session, conversation) == []


@pytest.mark.parametrize("survey_set", [True, False], ids=["turned-off", "never-set"])
def test_an_inbox_without_csat_asks_for_nothing(
    session: Session, tenant: Tenant, survey_set: bool
) -> None:
    survey = csat_survey(session, tenant)
    inbox = csat_inbox(session, tenant, survey if survey_set else None, enabled=False)
    conversation = email_conversation(session, inbox, at=RESOLVED_AT - timedelta(hours=1))

    resolve(session, conversation)

    assert requests_of(session, conversation) == []
    assert invitations_of(session, survey) == []


def test_a_customer_surveyed_recently_is_not_surveyed_again(
    session: Session, tenant: Tenant
) -> None:
    # one customer, two conversations resolved a week apart (the fatigue window is 30 days)
    survey = csat_survey(session, tenant)
    inbox = csat_inbox(session, tenant, survey)
    sender = f"{unique('again')}@example.com"
    first = email_conversation(session, inbox, at=RESOLVED_AT - timedelta(hours=1), sender=sender)
    first_request = resolved_and_sent(session, first)
    later = RESOLVED_AT + timedelta(days=8)  # past the reopen window: a new conversation
    second = email_conversation(session, inbox, at=later - timedelta(hours=1), sender=sender)
    assert second.id != first.id

    second_request = resolved_and_sent(session, second, at=later)

    assert (first_request.status, second_request.status, second_request.skip_reason) == (
        "sent",
        "skipped",
        "fatigue",
    )
    assert [i.status for i in invitations_of(session, survey)] == ["sent", "skipped"]


def test_a_reopened_and_resolved_again_conversation_is_a_new_request_under_fatigue(
    session: Session, tenant: Tenant
) -> None:
    survey = csat_survey(session, tenant)
    inbox = csat_inbox(session, tenant, survey)
    sender = f"{unique('reopen')}@example.com"
    conversation = email_conversation(
        session, inbox, at=RESOLVED_AT - timedelta(hours=1), sender=sender
    )
    resolved_and_sent(session, conversation)
    intake.receive_email(
        session, inbox=inbox, mail=mail_from(sender, 2), now=RESOLVED_AT + timedelta(hours=1)
    )
    assert (conversation.status, conversation.reopened_count) == ("open", 1)

    resolve(session, conversation, at=RESOLVED_AT + timedelta(hours=2))
    resolve(session, conversation, at=RESOLVED_AT + timedelta(hours=3))  # already resolved

    assert [(r.cycle, r.status) for r in requests_of(session, conversation)] == [
        (0, "sent"),
        (1, "pending"),
    ]


@pytest.mark.parametrize(
    ("channel", "ledger_channel"), [("email", "email"), ("chat", "in_app")], ids=["email", "chat"]
)
def test_no_survey_without_consent(
    session: Session, tenant: Tenant, channel: str, ledger_channel: str
) -> None:
    survey = csat_survey(session, tenant)
    inbox = csat_inbox(session, tenant, survey, channel=channel)
    customer = make_customer(
        session, workspace=tenant.workspace, email=f"{unique('no')}@example.com"
    )
    profiles.record_consent(
        session,
        customer=customer,
        purpose="service",
        channel=ledger_channel,
        granted=False,
        source="form",
    )
    before = RESOLVED_AT - timedelta(hours=1)
    if channel == "chat":
        received = intake.receive_message(
            session, inbox=inbox, customer=customer, text="문의", contact="visitor-2", now=before
        )
    else:
        received = intake.receive_email(
            session, inbox=inbox, mail=mail_from(customer.email or "", 1), now=before
        )
    assert received is not None

    request = resolved_and_sent(session, received.conversation)

    assert (request.status, request.skip_reason) == ("skipped", "opted_out")
    assert (
        session.scalars(
            select(ConversationMessage).where(
                ConversationMessage.conversation_id == received.conversation.id,
                ConversationMessage.author == "system",
            )
        ).all()
        == []
    )


def test_a_request_reopened_before_it_went_out_is_skipped(session: Session, tenant: Tenant) -> None:
    survey = csat_survey(session, tenant)
    inbox = csat_inbox(session, tenant, survey)
    sender = f"{unique('quick')}@example.com"
    conversation = email_conversation(
        session, inbox, at=RESOLVED_AT - timedelta(hours=1), sender=sender
    )
    resolve(session, conversation)
    intake.receive_email(
        session, inbox=inbox, mail=mail_from(sender, 2), now=RESOLVED_AT + timedelta(seconds=1)
    )
    [request] = requests_of(session, conversation)

    csat.send_request(session, request_id=request.id, now=RESOLVED_AT + timedelta(seconds=2))

    assert (request.status, request.skip_reason) == ("skipped", "reopened")
    assert invitations_of(session, survey) == []


def test_a_survey_no_longer_live_is_skipped(session: Session, tenant: Tenant) -> None:
    survey = csat_survey(session, tenant)
    conversation = email_conversation(
        session, csat_inbox(session, tenant, survey), at=RESOLVED_AT - timedelta(hours=1)
    )
    resolve(session, conversation)
    surveys.set_status(session, survey=survey, status="closed")
    [request] = requests_of(session, conversation)

    csat.send_request(session, request_id=request.id, now=RESOLVED_AT)

    assert (request.status, request.skip_reason) == ("skipped", "survey_not_live")


# --- the answers count for the agent and the team -----------------------------------------------


def test_the_answers_count_for_the_agent_and_the_team(session: Session, tenant: Tenant) -> None:
    survey = csat_survey(session, tenant)
    support = csat_inbox(session, tenant, survey, team="support")
    billing = csat_inbox(session, tenant, survey, team="billing")
    minji = make_user(session, workspace=tenant.workspace, role="agent")
    junho = make_user(session, workspace=tenant.workspace, role="agent")
    # Minji: 5, 4, 2 in support; Junho: 3 in support and 5 in billing
    cases = [(support, minji, 5), (support, minji, 4), (support, minji, 2), (support, junho, 3)]
    cases.append((billing, junho, 5))
    for number, (inbox, agent, score) in enumerate(cases):
        at = RESOLVED_AT + timedelta(minutes=number)
        conversation = email_conversation(session, inbox, at=at - timedelta(hours=1))
        care.update_conversation(session, conversation=conversation, assignee_id=agent.id)
        request = resolved_and_sent(session, conversation, at=at)
        # reassigning after the resolution does not move the answer
        care.update_conversation(session, conversation=conversation, assignee_id=None)
        answer(session, survey, request, score)

    def by(key: str) -> dict[Any, tuple[int, int]]:
        groups = care_metrics.csat_by(
            session,
            workspace_id=tenant.id,
            start=RESOLVED_AT,
            end=RESOLVED_AT + timedelta(days=1),
            by=key,
        )
        return {g.key: (g.estimate.successes, g.estimate.n) for g in groups}

    assert by("agent") == {minji.id: (2, 3), junho.id: (1, 2)}
    assert by("team") == {"support": (2, 4), "billing": (1, 1)}
    [minji_csat] = [
        g
        for g in care_metrics.csat_by(
            session,
            workspace_id=tenant.id,
            start=RESOLVED_AT,
            end=RESOLVED_AT + timedelta(days=1),
            by="agent",
            filters=care_metrics.MetricsFilter(agent_id=minji.id),
        )
    ]
    assert minji_csat.estimate == stats.proportion_interval(2, 3, scale=100.0)
    assert round(minji_csat.estimate.estimate, 2) == 66.67
    assert (round(minji_csat.estimate.ci_low, 2), round(minji_csat.estimate.ci_high, 2)) == (
        20.77,
        93.85,
    )


# --- settings through the API --------------------------------------------------------------------


def test_admins_turn_csat_on_for_an_inbox_and_agents_may_not(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = csat_survey(session, tenant)
    nps = surveys.create_survey(
        session,
        workspace_id=tenant.id,
        key=unique("nps-"),
        name="NPS",
        kind="nps",
        definition={
            "questions": [
                {"id": "nps", "type": "nps", "required": True, "text": {"ko": "추천?", "en": "?"}}
            ]
        },
    )
    inbox = csat_inbox(session, tenant, None)
    path = f"/api/v1/care/inboxes/{inbox.id}/csat"

    on = client.put(path, json={"enabled": True, "survey_id": survey.id}, headers=tenant.api)
    wrong = client.put(path, json={"enabled": True, "survey_id": nps.id}, headers=tenant.api)
    missing = client.put(path, json={"enabled": True, "survey_id": None}, headers=tenant.api)
    agent = client.put(path, json={"enabled": False}, headers=tenant.key("agent"))
    elsewhere = client.put(
        "/api/v1/care/inboxes/999999999/csat", json={"enabled": False}, headers=tenant.api
    )

    assert on.status_code == 200, on.text
    assert (on.json()["csat_enabled"], on.json()["csat_survey_id"]) == (True, survey.id)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "survey_id"
    assert missing.status_code == 422
    assert agent.status_code == 403
    assert elsewhere.status_code == 404
    listed = client.get("/api/v1/care/inboxes", headers=tenant.api).json()
    assert [(i["csat_enabled"], i["csat_survey_id"]) for i in listed if i["id"] == inbox.id] == [
        (True, survey.id)
    ]
    off = client.put(path, json={"enabled": False}, headers=tenant.api)
    assert (off.json()["csat_enabled"], off.json()["csat_survey_id"]) == (False, survey.id)
    session.expire_all()
    stored = session.get(CareInbox, inbox.id)
    assert stored is not None and (stored.csat_enabled, stored.csat_survey_id) == (False, survey.id)


def test_resolving_through_the_api_asks_for_csat(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = csat_survey(session, tenant)
    conversation = email_conversation(
        session, csat_inbox(session, tenant, survey), at=RESOLVED_AT - timedelta(hours=1)
    )

    with held_jobs() as huey:
        reply = client.patch(
            f"/api/v1/care/conversations/{conversation.id}",
            json={"status": "resolved"},
            headers=tenant.key("agent"),
        )
        pending = huey.pending()

    assert reply.status_code == 200, reply.text
    [request] = requests_of(session, conversation)
    assert [job.args for job in pending] == [(request.id,)]
    assert request.agent_id is None  # nobody was assigned; an API key is no agent


def test_the_inbox_settings_page_turns_csat_on(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = csat_survey(session, tenant)
    inbox = csat_inbox(session, tenant, None)
    admin = make_user(session, workspace=tenant.workspace, role="admin", locale="ko")
    assert login(client, admin.email).status_code == 303

    shown = get(client, "/settings/inboxes")
    saved = post(
        client,
        f"/settings/inboxes/{inbox.id}/csat",
        {"survey_id": str(survey.id), "enabled": "on"},
    )
    refused = post(client, f"/settings/inboxes/{inbox.id}/csat", {"survey_id": "", "enabled": "on"})

    assert shown.status_code == 200 and "해결 후 만족도 설문" in text_of(shown)
    assert f'<option value="{survey.id}">상담 만족도</option>' in shown.text
    assert saved.status_code == 303 and saved.headers["location"].endswith("#inbox-csat")
    assert refused.status_code == 422
    assert "이 워크스페이스의 CSAT 설문을 고르세요." in text_of(refused)
    session.expire_all()
    stored = session.get(CareInbox, inbox.id)
    assert stored is not None and (stored.csat_enabled, stored.csat_survey_id) == (True, survey.id)
