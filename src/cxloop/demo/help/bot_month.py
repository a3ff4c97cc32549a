"""Demo phase: a month of the help bot in the shop app's chat. The operator switches the bot on
for a chat inbox of its own (해요체, payments and returns to the customer service team, delivery
to the delivery team); members ask what customers ask — most of it in the knowledge base, some
of it not (gift wrapping, store pickup, bulk orders: the themes the report suggests writing
next), a few asking for a person straight away — at any hour, through the real chat and bot
services with the moment each step happened. Customers thank the bot or go quiet (resolved by
the bot), ask again, or are handed over; an agent answers each handover and resolves it. Help
centre readers leave "was this helpful?" votes. /settings/bot then has a month to report on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from random import Random

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.care import chat
from cxloop.care import service as care
from cxloop.core.settings import get_settings
from cxloop.demo.context import DemoContext
from cxloop.demo.people import Person
from cxloop.help import conversations, votes
from cxloop.help.settings import change_bot_settings
from cxloop.models import (
    CareInbox,
    Conversation,
    HelpArticle,
    Membership,
)

DAYS = 30
CONVERSATIONS_PER_MEMBER = 0.06  # of the members, about this share ask the bot in the month
MIN_CONVERSATIONS, MAX_CONVERSATIONS = 24, 400

# How customers ask about what the shop's articles cover (the demo's own wording).
ANSWERABLE = (
    "적립금 어떻게 써요?",
    "쿠폰 어떻게 써요",
    "비밀번호 까먹었어요",
    "회원 탈퇴 어떻게 해요",
    "새벽배송 되나요?",
    "해외 배송도 해주나요",
    "무이자 할부 몇 개월까지 돼요?",
    "현금영수증 발급해 주세요",
    "휴면계정 풀고 싶어요",
    "회원 등급 혜택 알려주세요",
    "사이즈 어떻게 골라요",
    "품절 상품 재입고 언제 돼요",
    "정품 맞나요?",
    "고객센터 몇 시까지 해요?",
    "배송지 바꾸고 싶어요",
    "배송 조회 어디서 해요",
    "How do I use my points?",
    "I forgot my password",
    "How do I delete my account?",
    "Do you ship overseas?",
)
# What the knowledge base does not cover: three themes a new article would answer.
UNANSWERABLE = (
    "선물 포장 되나요?",
    "선물 포장 가능한가요? 메시지 카드도 넣고 싶어요",
    "선물포장 비용 있나요",
    "매장에서 직접 수령 가능해요?",
    "오프라인 매장 픽업 되나요",
    "매장 픽업 예약은 어떻게 하죠",
    "회사 단체 주문 대량 구매 할인 있나요",
    "대량 구매 견적 받을 수 있나요",
    "Can I get gift wrapping?",
)
FOR_A_PERSON = (
    "상담원 연결해 주세요",
    "환불 받고 싶은데 사람이랑 얘기할래요",
    "talk to a human please",
)
THANKS = ("감사합니다!", "고마워요 해결됐어요", "thanks!")
AGAIN = ("그래도 잘 모르겠어요", "다른 방법은 없나요?", "이거 말고 다른 거요")
AGENT_ANSWER = "안녕하세요, 상담원입니다. 말씀하신 내용 확인해서 도와드릴게요."


def add_bot_month(ctx: DemoContext) -> None:
    """Phase: the bot's month in its own chat inbox, and help centre votes."""
    month_start = ctx.now - timedelta(days=DAYS)
    members = [
        p
        for p in ctx.members_only
        if p.customer_id is not None and p.devices and p.active_at(month_start)
    ]
    rng = ctx.rng("help:bot")
    wanted = max(MIN_CONVERSATIONS, int(len(members) * CONVERSATIONS_PER_MEMBER))
    chosen = rng.sample(members, min(MAX_CONVERSATIONS, len(members), wanted))
    task = ctx.task("Bot conversations", len(chosen) + 1)
    with ctx.database.session() as session:
        inbox, agent = _switch_on(ctx, session)
        start = ctx.now - timedelta(days=DAYS)
        for person in chosen:
            at = start + timedelta(seconds=rng.uniform(0, DAYS * 86400 - 3600))
            _conversation(session, rng, inbox, agent, person, at)
            task.advance()
        _votes(ctx, session, rng, start)
        task.advance()
    task.finish()


def _switch_on(ctx: DemoContext, session: Session) -> tuple[CareInbox, Principal]:
    owner = Principal(workspace_id=ctx.workspace_id, role="owner", user_id=ctx.owner_id)
    inbox = care.create_inbox(
        session, principal=owner, name="앱 채팅 (봇)", channel="chat", team="cs"
    )
    answered_first = [
        i.id
        for i in care.list_inboxes(session, workspace_id=ctx.workspace_id)
        if i.bot_answers_first
    ]
    care.set_bot_inboxes(session, principal=owner, inbox_ids=[*answered_first, inbox.inbox.id])
    change_bot_settings(
        session,
        principal=owner,
        tone="haeyo",
        category_teams={"payments": "cs", "returns": "cs", "delivery": "delivery"},
    )
    agent_id = session.scalar(
        select(Membership.user_id)
        .where(Membership.workspace_id == ctx.workspace_id, Membership.role == "agent")
        .order_by(Membership.user_id)
        .limit(1)
    )
    agent = Principal(workspace_id=ctx.workspace_id, role="agent", user_id=agent_id or ctx.owner_id)
    return inbox.inbox, agent


def _conversation(
    session: Session,
    rng: Random,
    inbox: CareInbox,
    agent: Principal,
    person: Person,
    at: datetime,
) -> None:
    """One member's chat with the bot, from their first question to its end."""
    assert person.customer_id is not None
    visitor = chat.Visitor(inbox.workspace_id, inbox.id, person.customer_id, _device(person))
    roll = rng.random()
    if roll < 0.72:
        question = rng.choice(ANSWERABLE)
    elif roll < 0.92:
        question = rng.choice(UNANSWERABLE)
    else:
        question = rng.choice(FOR_A_PERSON)
    turn = _say(session, rng, visitor, inbox, question, at)
    for _ in range(3):
        if turn is None or turn.reason == "thanked":
            return
        conversation = session.get(Conversation, turn.conversation_id)
        assert conversation is not None
        at += timedelta(seconds=rng.randint(40, 300))
        if turn.handoff:
            care.reply(
                session, conversation=conversation, principal=agent, text=AGENT_ANSWER, now=at
            )
            care.update_conversation(
                session, conversation=conversation, status="resolved", now=at, automatic=True
            )
            return
        what = rng.random()
        if what < 0.45:
            turn = _say(session, rng, visitor, inbox, rng.choice(THANKS), at)
        elif what < 0.8:  # quiet: the bot's answer was the last word
            care.resolved_by_bot(session, conversation=conversation, now=at + conversations.IDLE)
            return
        else:
            turn = _say(session, rng, visitor, inbox, rng.choice(AGAIN + ANSWERABLE), at)


def _say(
    session: Session,
    rng: Random,
    visitor: chat.Visitor,
    inbox: CareInbox,
    text: str,
    at: datetime,
) -> conversations.Turn | None:
    received = chat.post_message(
        session,
        visitor=visitor,
        inbox=inbox,
        text=text,
        client_id=f"demo-bot-{rng.getrandbits(48):012x}",
        now=at,
    )
    return conversations.take_turn(
        session,
        get_settings(),
        conversation=received.conversation,
        message_id=received.message.id,
        now=at + timedelta(seconds=2),
    )


def _device(person: Person) -> str:
    device = next((d for d in person.devices if d.platform != "web"), person.devices[0])
    return device.anonymous_id


def _votes(ctx: DemoContext, session: Session, rng: Random, start: datetime) -> None:
    """Readers of the help centre vote on the articles; most find them helpful."""
    secret = get_settings().resolved_secret_key()
    articles = list(
        session.scalars(
            select(HelpArticle.external_id).where(
                HelpArticle.workspace_id == ctx.workspace_id, HelpArticle.status == "published"
            )
        )
    )
    for n in range(min(600, 20 * len(articles))):
        cast = votes.vote(
            session,
            workspace_id=ctx.workspace_id,
            external_id=rng.choice(articles),
            locale="ko" if rng.random() < 0.85 else "en",
            helpful=rng.random() < 0.8,
            voter=votes.voter_key(secret, f"demo-reader-{n:05d}"),
        )
        cast.created_at = start + timedelta(seconds=rng.uniform(0, DAYS * 86400))
    session.flush()
