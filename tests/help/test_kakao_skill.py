"""The help bot on KakaoTalk, through the skill address of a kakao inbox as Kakao i Open
Builder calls it: the answer comes back as a skill response (version 2.0) with a quick reply to
reach a person; asking for one hands the conversation to the team, after which the customer is
told their message reached the team; an inbox without the bot leaves every message to the team.
A wrong address, a body that is no skill request and an oversized one store nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.care import service as care
from cxloop.care import sla
from cxloop.models import Conversation, ConversationMessage, HelpBotTurn, Identity
from tests.care.test_chat import ALWAYS_OPEN, owner
from tests.factories import Tenant
from tests.help import test_knowledge_base

shop_kb = test_knowledge_base.shop_kb  # the demo shop's 30 articles, imported by the API


def kakao_inbox(session: Session, tenant: Tenant, *, bot: bool) -> str:
    principal = owner(tenant)
    sla.set_hours(
        session, workspace_id=tenant.id, team="", weekly=ALWAYS_OPEN, public_holidays=False
    )
    created = care.create_inbox(session, principal=principal, name="카카오톡 채널", channel="kakao")
    if bot:
        care.set_bot_inboxes(session, principal=principal, inbox_ids=[created.inbox.id])
    session.flush()
    return f"/hooks/kakao/{created.token}"


def skill(client: TestClient, path: str, text: str, user: str = "kakao-user-1") -> dict[str, Any]:
    body = {
        "intent": {"id": "fallback", "name": "폴백 블록"},
        "userRequest": {
            "timezone": "Asia/Seoul",
            "utterance": text,
            "lang": None,
            "user": {"id": user, "type": "botUserKey", "properties": {}},
        },
        "bot": {"id": "bot-1", "name": "쇼핑몰 챗봇"},
        "action": {"name": "cxloop", "params": {}, "id": "a-1", "detailParams": {}},
    }
    answered = client.post(path, json=body)
    assert answered.status_code == 200, answered.text
    result: dict[str, Any] = answered.json()
    assert result["version"] == "2.0"
    return result


def said(result: dict[str, Any]) -> str:
    text: str = result["template"]["outputs"][0]["simpleText"]["text"]
    return text


def test_the_bot_answers_in_the_skill_response_and_hands_over_on_request(
    client: TestClient, session: Session, shop_kb: Tenant
) -> None:
    path = kakao_inbox(session, shop_kb, bot=True)

    answered = skill(client, path, "적립금은 어떻게 써요?")
    assert "적립금은 어떻게 쌓고 사용하나요?" in said(answered)
    assert f"/help/{shop_kb.workspace.slug}/articles/shop-points" in said(answered)
    assert answered["template"]["quickReplies"][0]["messageText"] == "상담원 연결"

    handed = skill(client, path, "상담원 연결")
    assert "상담원에게 연결해 드릴게요" in said(handed)
    later = skill(client, path, "언제 답 주세요?")
    assert said(later) == "메시지를 상담원에게 전달했어요. 확인 후 답변드릴게요."

    conversation = session.scalars(
        select(Conversation).where(Conversation.workspace_id == shop_kb.id)
    ).one()
    assert (conversation.channel, conversation.status) == ("kakao", "open")
    reasons = session.scalars(
        select(HelpBotTurn.reason).where(HelpBotTurn.conversation_id == conversation.id)
    ).all()
    assert reasons == ["answered", "asked_for_person"]
    kinds = session.scalars(
        select(Identity.kind).where(Identity.customer_id == conversation.customer_id)
    ).all()
    assert "kakao" in kinds
    # The bot's messages are stored, not sent anywhere: KakaoTalk showed them.
    bot_messages = session.scalars(
        select(ConversationMessage).where(
            ConversationMessage.conversation_id == conversation.id,
            ConversationMessage.author == "bot",
            ConversationMessage.direction == "out",
        )
    ).all()
    assert len(bot_messages) == 2 and all(m.outbound_message_id is None for m in bot_messages)


def test_an_inbox_without_the_bot_leaves_the_message_to_the_team(
    client: TestClient, session: Session, shop_kb: Tenant
) -> None:
    path = kakao_inbox(session, shop_kb, bot=False)
    result = skill(client, path, "Do you ship overseas?", user="kakao-user-2")
    assert said(result) == "Your message has reached our team. A person will answer soon."
    assert result["template"]["quickReplies"][0]["label"] == "Talk to a person"
    status = session.scalar(
        select(Conversation.status).where(Conversation.workspace_id == shop_kb.id)
    )
    assert status == "open"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b'{"userRequest": {"utterance": "hi"}}', 422, id="no-user"),
        pytest.param(b"not json", 422, id="not-json"),
        pytest.param(b'{"userRequest": []}', 422, id="wrong-shape"),
        pytest.param(b"{" + b" " * (65 * 1024) + b"}", 413, id="oversized"),
    ],
)
def test_what_is_not_a_skill_request_is_refused_and_stores_nothing(
    client: TestClient, session: Session, shop_kb: Tenant, body: bytes, status: int
) -> None:
    path = kakao_inbox(session, shop_kb, bot=True)
    refused = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert refused.status_code == status
    assert refused.headers["content-type"].startswith("application/problem+json")
    wrong = client.post("/hooks/kakao/not-a-token", json={"userRequest": {}})
    assert wrong.status_code == 401
    stored = session.scalar(
        select(func.count()).where(ConversationMessage.workspace_id == shop_kb.id)
    )
    assert stored == 0
