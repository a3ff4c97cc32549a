"""Demo phase: a month of email conversations with the shop's support team — questions about
delivery, refunds, exchanges, payment and sign-in in Korean and English, answered by the demo's
agents in business hours or late, most resolved, some waiting, a few reopened — through the real
care services, with the team's SLA policy and hours, so the inbox and its clocks have a history.

Replies are recorded as sent (the demo mails nobody)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from sqlalchemy import select, update

from cxloop.accounts.access import Principal
from cxloop.care import intake, sla
from cxloop.care import service as care
from cxloop.channels.adapters import Inbound
from cxloop.demo.context import DemoContext
from cxloop.demo.people import Person
from cxloop.models import ConversationMessage, OutboundMessage, User

DAYS = 30
TEAM = "cs"
AGENTS = ("agent@demo.cxloop.dev", "agent2@demo.cxloop.dev", "admin@demo.cxloop.dev")


@dataclass(frozen=True)
class Topic:
    subject_ko: str
    question_ko: str
    answer_ko: str
    follow_up_ko: str
    subject_en: str
    question_en: str
    answer_en: str
    follow_up_en: str


TOPICS = (
    Topic(
        "주문한 상품이 아직 안 왔어요",
        "주문한 지 일주일이 넘었는데 아직 배송 준비 중으로 나와요. 언제 받을 수 있을까요?",
        "{name} 님, 기다리게 해 드려 죄송합니다. 확인해 보니 내일 출고되어 모레 도착할 예정입니다.",
        "오늘 받았어요. 빠르게 확인해 주셔서 감사합니다!",
        "My order has not arrived",
        "I ordered over a week ago and it still says preparing for shipment. When will it come?",
        (
            "Sorry for the wait, {name}. It leaves our warehouse "
            "tomorrow and should arrive the day after."
        ),
        "It arrived today, thanks for checking so quickly!",
    ),
    Topic(
        "환불 요청드립니다",
        "받은 제품에 흠집이 있어서 환불받고 싶습니다. 어떻게 하면 되나요?",
        (
            "{name} 님, 불편을 드려 죄송합니다. 회수 기사님이 방문하도록 "
            "접수했고, 회수 확인 후 3영업일 안에 환불됩니다."
        ),
        "아직 환불이 안 들어왔는데 확인 부탁드려요.",
        "Refund for a damaged item",
        "The product I received is scratched. I would like a refund, please.",
        (
            "We're sorry about that, {name}. A courier will pick it up, and "
            "the refund follows within three business days."
        ),
        "The refund still hasn't come through, could you check?",
    ),
    Topic(
        "사이즈 교환 가능한가요?",
        "신발이 조금 작아서 한 치수 큰 걸로 교환하고 싶어요. 교환 배송비가 있나요?",
        (
            "{name} 님, 첫 교환은 배송비 없이 해 드립니다. "
            "마이페이지에서 교환 신청해 주시면 바로 처리하겠습니다."
        ),
        "신청했어요. 감사합니다.",
        "Can I exchange the size?",
        "The shoes are a bit small. Can I exchange them for one size up, and is there a fee?",
        (
            "The first exchange is free, {name}. Request it under My "
            "Orders and we will handle it right away."
        ),
        "Done, thank you.",
    ),
    Topic(
        "결제가 두 번 된 것 같아요",
        "카드 결제 문자가 두 번 왔어요. 중복 결제된 건가요? 빨리 확인해 주세요.",
        (
            "{name} 님, 확인해 보니 한 건은 승인 후 바로 취소된 "
            "건이라 청구되지 않습니다. 걱정 끼쳐 죄송합니다."
        ),
        "취소 문자 받았어요. 확인 감사합니다.",
        "I think I was charged twice",
        "I got two card payment messages for one order. Was I charged twice? Please check quickly.",
        "One of the two was cancelled right after approval, {name}, so you are charged only once.",
        "Got the cancellation notice, thanks.",
    ),
    Topic(
        "앱 로그인이 안 돼요",
        "어제부터 앱에서 로그인하면 계속 오류가 나요. 비밀번호는 맞는데 왜 그런가요?",
        (
            "{name} 님, 앱 업데이트 후 생긴 문제로 오늘 수정 "
            "버전이 나왔습니다. 업데이트 후 다시 시도해 주세요."
        ),
        "업데이트해도 똑같아요. 너무 불편하네요.",
        "I can't sign in to the app",
        "Since yesterday the app shows an error every time I sign in, though my password is right.",
        (
            "That came with the last app update, {name}; a fixed version "
            "is out today. Please update and try again."
        ),
        "Still the same after the update. This is really frustrating.",
    ),
)


def _at(ctx: DemoContext, rng: Random) -> datetime:
    """A moment in the last month, mostly in the day and evening (KST)."""
    day = ctx.now - timedelta(days=rng.randint(1, DAYS))
    hour = rng.choices(range(24), weights=[1] * 7 + [3] * 3 + [6] * 9 + [4] * 3 + [2] * 2)[0]
    return day.replace(hour=hour, minute=rng.randint(0, 59)) - timedelta(hours=9)  # KST → UTC


def _mail(
    person: Person, topic: Topic, number: int, *, follow_up: str = "", answering: str = ""
) -> Inbound:
    korean = person.korean
    subject = topic.subject_ko if korean else topic.subject_en
    if follow_up:
        subject = f"{'회신' if korean else 'Re'}: {subject}"
    return Inbound(
        channel="email",
        sender=person.email or "",
        sender_name=person.name,
        recipient="help@demo.cxloop.dev",
        subject=subject,
        text=follow_up or (topic.question_ko if korean else topic.question_en),
        html="",
        provider_message_id=f"<demo-{number}@mail.demo.cxloop.dev>",
        in_reply_to=answering,
        references=(answering,) if answering else (),
    )


def add_conversations(ctx: DemoContext) -> None:
    """Phase: the support team's month of email conversations."""
    rng = ctx.rng("care")
    writers = [p for p in ctx.members_only if p.email and p.customer_id is not None]
    count = min(len(writers), max(3, ctx.members // 15))
    chosen = rng.sample(writers, count)
    task = ctx.task("Conversations", count)
    with ctx.database.session() as session:
        owner = Principal(workspace_id=ctx.workspace_id, role="owner", user_id=ctx.owner_id)
        inbox = care.create_inbox(
            session,
            principal=owner,
            name="고객센터",
            address="help@demo.cxloop.dev",
            team=TEAM,
            reopen_days=7,
        ).inbox
        sla.set_policy(
            session,
            workspace_id=ctx.workspace_id,
            team="",
            first_response_minutes=4 * 60,
            next_response_minutes=8 * 60,
            resolution_minutes=3 * 9 * 60,
        )
        agents = list(session.scalars(select(User).where(User.email.in_(AGENTS))))
        for number, person in enumerate(chosen):
            topic = rng.choice(TOPICS)
            start = _at(ctx, rng)
            received = intake.receive_email(
                session, inbox=inbox, mail=_mail(person, topic, number * 3), now=start
            )
            task.advance()
            if received is None:
                continue
            conversation = received.conversation
            agent = rng.choice(agents)
            principal = Principal(workspace_id=ctx.workspace_id, role="agent", user_id=agent.id)
            care.update_conversation(session, conversation=conversation, assignee_id=agent.id)
            fate = rng.random()
            if fate < 0.08:
                continue  # still waiting for a first answer
            answered = start + timedelta(minutes=rng.choice([20, 45, 90, 180, 300, 900, 1500]))
            if answered > ctx.now:
                continue
            answer = (topic.answer_ko if person.korean else topic.answer_en).format(
                name=person.name
            )
            sent = care.reply(
                session, conversation=conversation, principal=principal, text=answer, now=answered
            )
            if fate < 0.35:
                follow_at = answered + timedelta(hours=rng.randint(2, 40))
                if follow_at < ctx.now:
                    intake.receive_email(
                        session,
                        inbox=inbox,
                        mail=_mail(
                            person,
                            topic,
                            number * 3 + 1,
                            follow_up=topic.follow_up_ko if person.korean else topic.follow_up_en,
                            answering=sent.channel_message_id or "",
                        ),
                        now=follow_at,
                    )
                    if fate < 0.2:
                        continue  # the customer's answer waits
            if fate < 0.92:
                done = answered + timedelta(hours=rng.randint(1, 72))
                if done < ctx.now:
                    care.update_conversation(
                        session, conversation=conversation, status="resolved", now=done
                    )
        # The demo mails nobody: its replies count as sent when they were written.
        written = session.execute(
            select(ConversationMessage.outbound_message_id, ConversationMessage.created_at).where(
                ConversationMessage.workspace_id == ctx.workspace_id,
                ConversationMessage.outbound_message_id.is_not(None),
            )
        ).all()
        for outbound_id, at in written:
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == outbound_id)
                .values(status="sent", created_at=at, send_after=at, sent_at=at, attempts=1)
                .execution_options(synchronize_session=False)
            )
    task.finish()
