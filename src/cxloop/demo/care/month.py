"""The month itself: customers write on each channel (email, the web chat, TalkTalk and SMS
through ``care.intake``, social posts and reviews through ``care.social``, calls through
``care.phone``), the agents of the inbox's team answer in business hours or late, resolve most,
leave some waiting and see a few come back — every step through the care services with the
moment it happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from random import Random

from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.care import chat, intake
from cxloop.care import service as care
from cxloop.care.intake import Received
from cxloop.channels.adapters import Inbound
from cxloop.demo.care.scripts import (
    CS_TOPICS,
    DELIVERY_TOPICS,
    PAYMENT_TOPICS,
    Topic,
)
from cxloop.demo.care.setup import Setup
from cxloop.demo.context import DemoContext
from cxloop.demo.people import Person
from cxloop.models import CareInbox, Customer, Workspace
from cxloop.profiles import service as profiles
from cxloop.profiles.contact import normalise_phone

DAYS = 30
RECENT = timedelta(days=21)
# Customers per conversation on each channel (at least two conversations on each).
PER_CONVERSATION = {
    "email": 30,
    "chat": 40,
    "talktalk": 80,
    "sms": 80,
    "phone": 100,
    "social": 120,
    "review": 80,
}
# Of the payment chats opened in the shop in the month (``Person.chats``), the share written out
# as conversations: every chat of the payment incident (its spike), some of the app's loop.
CHATS_WRITTEN = {"payment_failed": 1.0, "app_payment_loop": 0.3}
# Minutes to a first answer: chats are answered fast, the rest as the queue allows.
FIRST_ANSWER = {
    "chat": (2, 5, 10, 30, 120),
    "default": (15, 30, 45, 60, 90, 180, 300, 900, 1500),
}

# (text, at, the message answered, subject) → the message taken
Say = Callable[[str, datetime, str, str], Received]


@dataclass
class Month:
    """What one build's conversations share: the setup, whose turn it is, ids handed out."""

    ctx: DemoContext
    session: Session
    setup: Setup
    numbers: count[int] = field(default_factory=count)
    turns: dict[str, int] = field(default_factory=dict)

    def agent(self, team: str, rng: Random) -> Principal:
        """The next agent of the team: in turn for the customer service team (round robin),
        else whoever is free."""
        agents = self.setup.agents[team]
        if team == "cs":
            turn = self.turns.get(team, 0)
            self.turns[team] = turn + 1
            user_id = agents[turn % len(agents)]
        else:
            user_id = rng.choice(agents)
        return Principal(workspace_id=self.ctx.workspace_id, role="agent", user_id=user_id)

    def profile(self, person: Person) -> Customer:
        customer = self.session.get(Customer, person.customer_id)
        assert customer is not None
        return customer

    def link(self, person: Person, kind: str, value: str) -> Customer:
        """The member's profile, with their id on a channel joined to it (as identity
        resolution joins any identity sent with the user id)."""
        assert person.user_id is not None
        workspace = self.session.get(Workspace, self.ctx.workspace_id)
        assert workspace is not None
        return profiles.create_customer(
            self.session,
            workspace=workspace,
            principal=None,
            traits={},
            identities=[("user_id", person.user_id), (kind, value)],
            source="demo",
        )


def _at(ctx: DemoContext, rng: Random) -> datetime:
    """A moment in the last month, mostly in the day and evening (KST)."""
    day = ctx.now - timedelta(days=rng.randint(1, DAYS))
    hour = rng.choices(range(24), weights=[1] * 7 + [3] * 3 + [6] * 9 + [4] * 3 + [2] * 2)[0]
    return day.replace(hour=hour, minute=rng.randint(0, 59)) - timedelta(hours=9)  # KST → UTC


def order_before(person: Person, at: datetime) -> str:
    """The number of the person's latest order in the ``RECENT`` days before ``at`` ("" when
    none): what a question about a delivery, a refund or an exchange is about."""
    since = (at - RECENT).timestamp()
    placed = [(when, oid) for oid, when, _ in person.orders if since <= when < at.timestamp()]
    return max(placed)[1] if placed else ""


def first_written(ctx: DemoContext, rng: Random, person: Person, *, after_order: bool) -> datetime:
    """When the customer first writes: a day or a few after their latest order of the month
    for the delivery team, else any time in the month."""
    if after_order and person.orders:
        placed = datetime.fromtimestamp(max(when for _, when, _ in person.orders), UTC)
        at = placed + timedelta(hours=rng.randint(20, 140))
        if ctx.now - timedelta(days=DAYS) <= at < ctx.now - timedelta(hours=6):
            return at
    return _at(ctx, rng)


def topic_for(rng: Random, topics: tuple[Topic, ...], order: str) -> Topic:
    return rng.choice([t for t in topics if order or not t.needs_order])


def sample_for(rng: Random, people: list[Person], channel: str, members: int) -> list[Person]:
    wanted = max(2, members // PER_CONVERSATION[channel])
    return rng.sample(people, min(len(people), wanted))


# --- conversations answered on their channel --------------------------------------------------


def _talk(
    month: Month,
    rng: Random,
    *,
    channel: str,
    person: Person,
    topics: tuple[Topic, ...],
    say: Say,
    start: datetime | None = None,
) -> None:
    """One conversation: the question, the agent's answer, maybe the customer's follow-up and
    a second answer, a resolution (or not yet), and now and then the customer coming back."""
    ctx, session = month.ctx, month.session
    if start is None:
        start = first_written(ctx, rng, person, after_order=topics is DELIVERY_TOPICS)
    order = order_before(person, start)
    topic = topic_for(rng, topics, order)

    def text(part: str) -> str:
        return topic.say(part, korean=person.korean, name=person.name, order=order)

    subject = topic.subject_ko if person.korean else topic.subject_en
    received = say(text("question"), start, "", subject)
    conversation = received.conversation
    inbox_team = conversation.team
    agent = month.agent(inbox_team, rng)
    care.update_conversation(session, conversation=conversation, assignee_id=agent.user_id)
    fate = rng.random()
    if fate < 0.08:
        return  # still waiting for a first answer
    delay = rng.choice(FIRST_ANSWER.get(channel, FIRST_ANSWER["default"]))
    answered = start + timedelta(minutes=delay)
    if answered > ctx.now:
        return
    sent = care.reply(
        session, conversation=conversation, principal=agent, text=text("answer"), now=answered
    )
    last = answered
    if fate < 0.35:
        follow_at = answered + timedelta(hours=rng.randint(2, 40))
        if follow_at >= ctx.now:
            return
        say(text("follow_up"), follow_at, sent.channel_message_id or "", subject)
        if fate < 0.15:
            return  # the customer's answer waits for the team
        last = follow_at + timedelta(minutes=rng.choice((15, 60, 240, 600)))
        if last >= ctx.now:
            return
        closing = (
            "감사합니다. 더 필요하신 점 있으면 말씀해 주세요."
            if person.korean
            else "Thank you. Let us know if you need anything else."
        )
        care.reply(session, conversation=conversation, principal=agent, text=closing, now=last)
    if fate >= 0.9:
        return  # pending: the team waits for the customer
    done = last + timedelta(hours=rng.choice((1, 2, 4, 6, 20, 30, 60)))
    if done >= ctx.now:
        return
    care.update_conversation(session, conversation=conversation, status="resolved", now=done)
    if rng.random() < 0.1:  # the customer comes back within the reopen window
        again = done + timedelta(hours=rng.randint(6, 96))
        if again < ctx.now:
            say(text("follow_up"), again, "", subject)
            answer_at = again + timedelta(hours=rng.randint(1, 20))
            if answer_at < ctx.now and rng.random() < 0.8:
                care.reply(
                    session,
                    conversation=conversation,
                    principal=agent,
                    text=text("answer"),
                    now=answer_at,
                )
                resolved_at = answer_at + timedelta(hours=rng.randint(1, 24))
                if resolved_at < ctx.now:
                    care.update_conversation(
                        session, conversation=conversation, status="resolved", now=resolved_at
                    )


def _emailer(month: Month, inbox: CareInbox, person: Person) -> Say:
    def say(text: str, at: datetime, answering: str, subject: str) -> Received:
        mail = Inbound(
            channel="email",
            sender=person.email or "",
            sender_name=person.name,
            recipient=inbox.address,
            subject=f"{'회신' if person.korean else 'Re'}: {subject}" if answering else subject,
            text=text,
            html="",
            provider_message_id=f"<demo-{next(month.numbers)}@mail.demo.cxloop.dev>",
            in_reply_to=answering,
            references=(answering,) if answering else (),
        )
        received = intake.receive_email(month.session, inbox=inbox, mail=mail, now=at)
        assert received is not None  # a person's mail is never automatic
        return received

    return say


def _chatter(month: Month, inbox: CareInbox, customer: Customer, anonymous_id: str) -> Say:
    visitor = chat.Visitor(month.ctx.workspace_id, inbox.id, customer.id, anonymous_id)

    def say(text: str, at: datetime, answering: str, subject: str) -> Received:
        client_id = f"demo-{next(month.numbers):08d}"
        return chat.post_message(
            month.session, visitor=visitor, inbox=inbox, text=text, client_id=client_id, now=at
        )

    return say


def _texter(month: Month, inbox: CareInbox, customer: Customer, contact: str) -> Say:
    def say(text: str, at: datetime, answering: str, subject: str) -> Received:
        received = intake.receive_message(
            month.session,
            inbox=inbox,
            customer=customer,
            text=text,
            contact=contact,
            channel_message_id=f"{inbox.channel}:demo-{next(month.numbers)}",
            now=at,
        )
        assert received is not None
        return received

    return say


def _web(person: Person) -> str:
    device = next((d for d in person.devices if d.platform == "web"), person.devices[0])
    return device.anonymous_id


def answered_channels(month: Month, members: list[Person], visitors: list[Person]) -> int:
    """Email, chat, TalkTalk and SMS: the channels agents answer on. Returns how many."""
    ctx, inboxes, done = month.ctx, month.setup.inboxes, 0
    for channel in ("email", "chat", "talktalk", "sms"):
        rng = ctx.rng(f"care:{channel}")
        people = [p for p in members if channel != "sms" or (p.phone and p.orders)]
        for person in sample_for(rng, people, channel, ctx.members):
            inbox = inboxes[channel]
            if channel == "email":
                say = _emailer(month, inbox, person)
            elif channel == "chat":
                say = _chatter(month, inbox, month.profile(person), _web(person))
            elif channel == "talktalk":
                user = f"demo-talk-{person.index:06d}"
                say = _texter(month, inbox, month.link(person, "talktalk", user), user)
            else:
                number = normalise_phone(person.phone or "") or ""
                say = _texter(month, inbox, month.profile(person), number)
            topics: tuple[Topic, ...] = DELIVERY_TOPICS if channel == "sms" else CS_TOPICS
            _talk(month, rng, channel=channel, person=person, topics=topics, say=say)
            done += 1
        # A few visitors who never signed up ask in the chat too.
        if channel == "chat":
            for visitor in visitors[: max(1, len(visitors) // 10)]:
                customer = _visitor_profile(month, visitor)
                if customer is None:
                    continue
                say = _chatter(month, inbox, customer, visitor.devices[0].anonymous_id)
                topics = tuple(t for t in CS_TOPICS if not t.needs_order)  # no orders
                _talk(month, rng, channel="chat", person=visitor, topics=topics, say=say)
                done += 1
    return done


def payment_chats(month: Month, members: list[Person]) -> int:
    """The payment chats members opened in the shop this month (the incident's spike, the
    app's checkout loop), as web chat conversations from that moment. Returns how many."""
    ctx, inbox = month.ctx, month.setup.inboxes["chat"]
    rng = ctx.rng("care:payments")
    since = (ctx.now - timedelta(days=DAYS)).timestamp()
    until = (ctx.now - timedelta(hours=1)).timestamp()
    chats = sorted(
        (at, person.index, topic, device, person)
        for person in members
        for at, topic, device in person.chats
        if since <= at < until
    )
    done = 0
    for at, _, topic, device, person in chats:
        if rng.random() >= CHATS_WRITTEN[topic]:
            continue
        say = _chatter(month, inbox, month.profile(person), device)
        start = datetime.fromtimestamp(at, UTC) + timedelta(seconds=30)
        topics = (PAYMENT_TOPICS[topic],)
        _talk(month, rng, channel="chat", person=person, topics=topics, say=say, start=start)
        done += 1
    return done


def _visitor_profile(month: Month, visitor: Person) -> Customer | None:
    for device in visitor.devices:
        found = profiles.find_customer(
            month.session,
            workspace_id=month.ctx.workspace_id,
            kind="anonymous_id",
            value=device.anonymous_id,
        )
        if found is not None:
            return found
    return None
