"""The help bot in the care inbox, through the chat widget's calls and the bus: it answers
what the knowledge base answers with the article's passage and link, hands over to the team of
the article's category when the customer asks for a person, when it is not sure, and after two
answers that did not help, says when people are back out of hours, closes on a thank-you, is
answered once however often the bus delivers, and steps aside when an agent takes over. The
sweep resolves quiet answered conversations and hands over what the bot did not answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxloop.care import service as care
from cxloop.core.db import Database
from cxloop.core.timeutil import utcnow
from cxloop.events import bus
from cxloop.help import conversations
from cxloop.help.settings import change_bot_settings
from cxloop.models import (
    CareInbox,
    Conversation,
    ConversationMessage,
    HelpArticle,
    HelpArticleVersion,
    HelpBotTurn,
)
from tests.care.test_chat import chat_inbox, owner, say, start
from tests.factories import Tenant
from tests.help import test_knowledge_base

shop_kb = test_knowledge_base.shop_kb  # the demo shop's 30 articles, imported by the API
CATEGORIES = ("delivery", "returns", "payments", "orders", "account", "points", "products")


def drain(database: Database) -> None:
    bus.drain(database, names=[conversations.bot_answers.name])


@pytest.fixture
def bot_inbox(session: Session, shop_kb: Tenant, tx_database: Database) -> int:
    drain(tx_database)  # whatever the import logged
    inbox_id = chat_inbox(session, shop_kb)
    session.execute(
        update(CareInbox).where(CareInbox.id == inbox_id).values(bot_answers_first=True)
    )
    change_bot_settings(
        session, principal=owner(shop_kb), category_teams={c: f"{c}팀" for c in CATEGORIES}
    )
    session.flush()
    return inbox_id


class Chat:
    def __init__(self, client: TestClient, tenant: Tenant, inbox_id: int, db: Database) -> None:
        self.client, self.db = client, db
        self.token = start(client, tenant, inbox_id, locale="ko")["token"]
        self.conversation_id = 0

    def ask(self, text: str) -> dict[str, Any]:
        sent = say(self.client, self.token, text)
        assert sent.status_code == 201, sent.text
        self.conversation_id = sent.json()["conversation"]
        drain(self.db)
        return dict(sent.json())


def messages(session: Session, conversation_id: int) -> list[tuple[str, str, str]]:
    rows = session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conversation_id)
        .order_by(ConversationMessage.id)
    )
    return [(m.direction, m.author, m.body_text) for m in rows]


def turns(session: Session, conversation_id: int) -> list[tuple[str, bool, str | None, str]]:
    rows = session.scalars(
        select(HelpBotTurn)
        .where(HelpBotTurn.conversation_id == conversation_id)
        .order_by(HelpBotTurn.id)
    )
    return [(t.reason, t.handoff, t.article, t.team) for t in rows]


def test_the_bot_answers_with_the_article_and_a_link_and_keeps_the_conversation(
    client: TestClient, session: Session, shop_kb: Tenant, bot_inbox: int, tx_database: Database
) -> None:
    chat = Chat(client, shop_kb, bot_inbox, tx_database)
    chat.ask("적립금은 어떻게 써요?")

    conversation = session.get(Conversation, chat.conversation_id)
    assert conversation is not None
    session.refresh(conversation)
    assert conversation.status == "bot" and conversation.assignee_id is None
    assert conversation.first_response_due_at is None  # no SLA clock while the bot answers
    assert turns(session, conversation.id) == [("answered", False, "shop-points", "")]
    said = messages(session, conversation.id)
    assert [(d, a) for d, a, _ in said] == [("in", "customer"), ("out", "bot")]
    answer = said[-1][2]
    assert answer.startswith("안녕하세요! 도움말 봇이에요.")
    assert f"/help/{shop_kb.workspace.slug}/articles/shop-points?lang=ko" in answer
    # The widget shows it as the team's message.
    shown = client.get("/chat/v1/messages", headers={"Authorization": f"Bearer {chat.token}"})
    assert [m["from"] for m in shown.json()["messages"]] == ["visitor", "bot"]

    drain(tx_database)  # the bus again: nothing more
    assert (
        conversations.take_turn(
            session,
            tx_database_settings(client),
            conversation=conversation,
            message_id=session.scalars(
                select(ConversationMessage.id).where(
                    ConversationMessage.conversation_id == conversation.id,
                    ConversationMessage.direction == "in",
                )
            ).one(),
        )
        is None
    )
    assert len(messages(session, conversation.id)) == 2


def tx_database_settings(client: TestClient) -> Any:
    return client.app.state.settings  # type: ignore[attr-defined]


def test_asking_for_a_person_hands_over_to_the_categorys_team_with_the_transcript(
    client: TestClient, session: Session, shop_kb: Tenant, bot_inbox: int, tx_database: Database
) -> None:
    chat = Chat(client, shop_kb, bot_inbox, tx_database)
    chat.ask("환불 받고 싶은데 사람이랑 얘기할래요")

    conversation = session.get(Conversation, chat.conversation_id)
    assert conversation is not None
    session.refresh(conversation)
    reason, handoff, article, team = turns(session, conversation.id)[0]
    assert (reason, handoff) == ("asked_for_person", True)
    # The team of the category of the article the bot found (whichever that is).
    found = session.scalars(
        select(HelpArticle).where(
            HelpArticle.workspace_id == shop_kb.id, HelpArticle.external_id == article
        )
    ).one()
    assert conversation.status == "open" and conversation.team == team == f"{found.category}팀"
    said = messages(session, conversation.id)
    assert said[1][:2] == ("out", "bot") and "상담원에게 연결해 드릴게요" in said[1][2]
    note = said[2]
    assert note[:2] == ("note", "bot")
    assert "고객이 상담원을 찾았습니다" in note[2] and "환불 받고 싶은데" in note[2]
    title = session.scalar(
        select(HelpArticleVersion.title).where(
            HelpArticleVersion.article_id == found.id, HelpArticleVersion.locale == "ko"
        )
    )
    assert f"봇이 찾은 도움말: {title}" in note[2]  # the article it tried, by title

    chat.ask("빨리요")  # the team's now: the bot stays quiet
    assert len(turns(session, conversation.id)) == 1


def test_an_unknown_question_is_handed_over_honestly_and_out_of_hours_says_when(
    client: TestClient, session: Session, shop_kb: Tenant, bot_inbox: int, tx_database: Database
) -> None:
    from cxloop.care import sla

    tomorrow = (datetime.now(ZoneInfo("Asia/Seoul")).weekday() + 1) % 7
    weekly: list[list[list[int]]] = [[] for _ in range(7)]
    weekly[tomorrow] = [[540, 1080]]  # open 9:00–18:00 tomorrow only: closed now
    sla.set_hours(session, workspace_id=shop_kb.id, team="", weekly=weekly, public_holidays=False)
    chat = Chat(client, shop_kb, bot_inbox, tx_database)
    chat.ask("우주선 부품 도매로 납품 가능한가요? 견적서 부탁드립니다")

    conversation = session.get(Conversation, chat.conversation_id)
    assert conversation is not None
    session.refresh(conversation)
    [(reason, handoff, _article, _team)] = turns(session, conversation.id)
    assert handoff and reason in ("not_sure", "no_match")
    assert conversation.status == "open"
    reply = messages(session, conversation.id)[1][2]
    assert "지금은 상담 시간이 아니에요" in reply and "부터 이어서 답변드릴게요" in reply


def test_two_answers_that_did_not_help_bring_a_person_and_thanks_closes(
    client: TestClient, session: Session, shop_kb: Tenant, bot_inbox: int, tx_database: Database
) -> None:
    chat = Chat(client, shop_kb, bot_inbox, tx_database)
    chat.ask("쿠폰 어떻게 써요")
    chat.ask("비밀번호 까먹었어요")
    chat.ask("그래도 모르겠어요")
    assert [t[:2] for t in turns(session, chat.conversation_id)] == [
        ("answered", False),
        ("answered", False),
        ("two_failed", True),
    ]

    other = Chat(client, shop_kb, bot_inbox, tx_database)
    other.ask("회원 탈퇴 어떻게 해요")
    other.ask("감사합니다!")
    conversation = session.get(Conversation, other.conversation_id)
    assert conversation is not None
    session.refresh(conversation)
    assert [t[0] for t in turns(session, conversation.id)] == ["answered", "thanked"]
    assert conversation.status == "resolved"
    assert "도움이 되어 기뻐요" in messages(session, conversation.id)[-1][2]


def test_the_tone_and_greeting_are_the_workspaces_and_an_agent_takes_over(
    client: TestClient, session: Session, shop_kb: Tenant, bot_inbox: int, tx_database: Database
) -> None:
    change_bot_settings(
        session, principal=owner(shop_kb), tone="hamnida", greeting="어서 오십시오."
    )
    chat = Chat(client, shop_kb, bot_inbox, tx_database)
    chat.ask("쿠폰 어떻게 써요")
    answer = messages(session, chat.conversation_id)[-1][2]
    assert answer.startswith("어서 오십시오.") and "보내 주십시오" in answer

    conversation = session.get(Conversation, chat.conversation_id)
    assert conversation is not None
    care.reply(
        session, conversation=conversation, principal=owner(shop_kb), text="제가 도와드릴게요"
    )
    assert conversation.status == "pending"
    chat.ask("네 감사해요 그런데 하나 더요")
    assert len(turns(session, conversation.id)) == 1


def test_the_sweep_resolves_quiet_answers_and_hands_over_unanswered_messages(
    client: TestClient, session: Session, shop_kb: Tenant, bot_inbox: int, tx_database: Database
) -> None:
    answered = Chat(client, shop_kb, bot_inbox, tx_database)
    answered.ask("회원 탈퇴 어떻게 해요")
    missed = Chat(client, shop_kb, bot_inbox, tx_database)
    sent = say(client, missed.token, "영수증 발급되나요")  # the bus never delivers it
    missed_id = sent.json()["conversation"]

    soon = utcnow() + timedelta(minutes=15)
    assert conversations.sweep(session, now=soon) == (0, 1)
    late = utcnow() + timedelta(minutes=45)
    assert conversations.sweep(session, now=late) == (1, 0)

    first = session.get(Conversation, answered.conversation_id)
    second = session.get(Conversation, missed_id)
    assert first is not None and second is not None
    assert first.status == "resolved"
    assert second.status == "open"
    assert turns(session, missed_id)[0][:2] == ("stale", True)


def test_an_inbox_without_the_bot_goes_straight_to_the_team(
    client: TestClient, session: Session, shop_kb: Tenant, tx_database: Database
) -> None:
    drain(tx_database)
    inbox_id = chat_inbox(session, shop_kb)
    chat = Chat(client, shop_kb, inbox_id, tx_database)
    chat.ask("주문한거 언제와요??")
    conversation = session.get(Conversation, chat.conversation_id)
    assert conversation is not None and conversation.status == "open"
    assert turns(session, conversation.id) == []


def test_the_report_counts_deflection_reasons_and_groups_unanswered_questions(
    client: TestClient, session: Session, shop_kb: Tenant, bot_inbox: int, tx_database: Database
) -> None:
    from cxloop.help.measures import bot_report
    from tests.factories import make_user
    from tests.helpers.web import get, login, text_of

    helped = Chat(client, shop_kb, bot_inbox, tx_database)
    helped.ask("회원 탈퇴 어떻게 해요")
    helped.ask("감사합니다")
    asked = ("우주선 부품 견적 받을 수 있나요", "우주선 부품 도매로 사고 싶어요")
    for question in (*asked, asked[0]):  # the same words twice: one sample of them
        Chat(client, shop_kb, bot_inbox, tx_database).ask(question)
    bus.drain(tx_database, names=["text_conversation_messages"])  # keywords of the questions

    report = bot_report(
        session,
        workspace_id=shop_kb.id,
        since=utcnow() - timedelta(hours=1),
        until=utcnow() + timedelta(minutes=1),
    )
    assert (report.conversations, report.resolved_by_bot, report.deflected) == (4, 1, 1)
    assert report.handed_over == 3 and sum(report.reasons.values()) == 3
    assert set(report.reasons) <= {"not_sure", "no_match"}
    assert report.answers["shop-withdraw"] == 1
    assert report.channels["chat"].conversations == 4
    assert report.unanswered == 3
    theme = report.themes[0]
    assert theme.count == 3 and theme.keyword in ("우주선", "부품")
    assert sorted(theme.samples) == sorted(asked)

    admin = make_user(session, workspace=shop_kb.workspace, role="admin", locale="ko")
    session.flush()
    assert login(client, admin.email).status_code == 303
    page = text_of(get(client, "/settings/bot"))
    assert "봇 해결률 (디플렉션) 25%" in page
    assert "회원 탈퇴는 어떻게 하나요? 1 0 0 / 0" in page  # the article by its title
    assert theme.keyword in page and "우주선 부품 견적 받을 수 있나요" in page


def test_the_email_auto_reply_answers_in_the_thread_and_a_thank_you_closes(
    client: TestClient, session: Session, shop_kb: Tenant, tx_database: Database
) -> None:
    from cxloop.models import OutboundMessage
    from tests.care.test_email_conversations import mail, new_hook
    from tests.helpers.care_mail import deliver_mail

    drain(tx_database)
    hook = new_hook(client, shop_kb, "help@shop.example")
    inbox_id = session.scalars(
        select(CareInbox.id).where(
            CareInbox.workspace_id == shop_kb.id, CareInbox.channel == "email"
        )
    ).one()
    care.set_bot_inboxes(session, principal=owner(shop_kb), inbox_ids=[inbox_id])
    session.flush()

    asked = deliver_mail(
        client,
        hook,
        mail(
            subject="적립금 문의", text="적립금은 어떻게 써요?", message_id="<q1@mail.example.com>"
        ),
    )
    drain(tx_database)
    conversation = session.get(Conversation, asked["conversation_id"])
    assert conversation is not None
    session.refresh(conversation)
    assert conversation.status == "bot"
    sent = session.scalars(
        select(OutboundMessage).where(
            OutboundMessage.workspace_id == shop_kb.id, OutboundMessage.channel == "email"
        )
    ).one()
    assert sent.recipient == "minji@example.com" and sent.subject == "Re: 적립금 문의"
    assert sent.details["headers"]["In-Reply-To"] == "<q1@mail.example.com>"
    assert "적립금은 어떻게 쌓고 사용하나요?" in sent.body_text
    reply_id = session.scalars(
        select(ConversationMessage.channel_message_id).where(
            ConversationMessage.conversation_id == conversation.id,
            ConversationMessage.author == "bot",
        )
    ).one()

    deliver_mail(
        client,
        hook,
        mail(
            subject="Re: 적립금 문의",
            text="감사합니다",
            message_id="<q2@mail.example.com>",
            in_reply_to=reply_id or "",
        ),
    )
    drain(tx_database)
    session.refresh(conversation)
    assert conversation.status == "resolved"
    assert [t[0] for t in turns(session, conversation.id)] == ["answered", "thanked"]


def test_writing_again_after_the_bot_closed_brings_the_bot_back_not_the_team(
    client: TestClient, session: Session, shop_kb: Tenant, bot_inbox: int, tx_database: Database
) -> None:
    chat = Chat(client, shop_kb, bot_inbox, tx_database)
    chat.ask("회원 탈퇴 어떻게 해요")
    chat.ask("감사합니다")
    conversation = session.get(Conversation, chat.conversation_id)
    assert conversation is not None
    session.refresh(conversation)
    assert conversation.status == "resolved"

    chat.ask("쿠폰 어떻게 써요")
    session.refresh(conversation)
    assert conversation.status == "bot" and conversation.reopened_count == 1
    assert conversation.first_response_due_at is None and conversation.resolution_due_at is None
    assert [t[0] for t in turns(session, conversation.id)] == ["answered", "thanked", "answered"]

    handed = Chat(client, shop_kb, bot_inbox, tx_database)
    handed.ask("상담원 연결해 주세요")
    taken = session.get(Conversation, handed.conversation_id)
    assert taken is not None
    care.update_conversation(session, conversation=taken, status="resolved")
    handed.ask("하나 더 물어볼게요")  # people held it once: it reopens for the team
    session.refresh(taken)
    assert taken.status == "open"
