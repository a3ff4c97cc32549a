"""Customers' messages as texts for the text domain: the ``conversation_message`` source (what a
customer wrote, without the quoted history; automatic mail left out), and the bus consumer that
analyses each message as it arrives — sentiment, categories, language — and raises the priority
of a conversation when a valuable customer writes in strong anger, telling the team.

A message joins the customer's timeline as a "Conversation Message Received" event (the ids,
not the words); the consumer reads those events, so analysis happens in the background, never in
the webhook that took the mail in, and a replay of the log changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.care import assignment
from cxloop.care.mail import new_text
from cxloop.core.timeutil import utcnow
from cxloop.events import service as events
from cxloop.models import Conversation, ConversationMessage, Customer, Event, TextAnalysis
from cxloop.notifications import service as notifications
from cxloop.text.sources import SourceText
from cxloop.text.store import service as text_service

SOURCE = "conversation_message"
MESSAGE_RECEIVED = "Conversation Message Received"
MESSAGE_SENT = "Conversation Reply Sent"  # the team's (or the bot's) answer
# A message this negative (sentiment score, -1 … 1) from a customer worth this much (lifetime
# revenue, KRW) makes its conversation urgent-ish: priority high, and the team is told.
ANGRY_SCORE = -0.5
VALUABLE_REVENUE = Decimal(300_000)
ANGER_NEWS = timedelta(days=1)  # how old an angry message may be and still raise the alarm


def record_on_timeline(
    session: Session, *, message: ConversationMessage, conversation: Conversation
) -> None:
    """A message to or from the customer joins their event log (timeline, bus): ids and channel
    only. Notes stay inside the team."""
    activity = timeline_activity(message=message, conversation=conversation)
    if activity is not None:
        events.record_activities(
            session, workspace_id=conversation.workspace_id, activities=[activity]
        )


def timeline_activity(
    *, message: ConversationMessage, conversation: Conversation
) -> events.Activity | None:
    """The event a message adds to its customer's log (None for a note, an automatic message
    or a conversation without a customer)."""
    if conversation.customer_id is None or message.automatic or message.direction == "note":
        return None
    return events.Activity(
        customer_id=conversation.customer_id,
        message_id=f"cxloop-care-message-{message.id}",
        name=MESSAGE_RECEIVED if message.direction == "in" else MESSAGE_SENT,
        channel=conversation.channel,
        timestamp=message.created_at,
        properties={
            "conversation_id": conversation.id,
            "message_id": message.id,
            "inbox_id": conversation.inbox_id,
            **({"author": message.author} if message.direction == "out" else {}),
        },
    )


def _customer_messages(query: Any, workspace_id: int, since: datetime | None) -> Any:
    query = query.where(
        ConversationMessage.workspace_id == workspace_id,
        ConversationMessage.direction == "in",
        ConversationMessage.author == "customer",
        ConversationMessage.automatic.is_(False),
        ConversationMessage.body_text != "",
    )
    if since is not None:
        query = query.where(ConversationMessage.created_at >= since)
    return query


_COLUMNS = (
    ConversationMessage.id,
    ConversationMessage.body_text,
    ConversationMessage.created_at,
    Conversation.customer_id,
)


def _rows(session: Session, query: Any) -> list[SourceText]:
    return [
        SourceText(
            source_id=row.id,
            text=new_text(row.body_text),
            occurred_at=row.created_at,
            customer_id=row.customer_id,
        )
        for row in session.execute(query)
    ]


def _joined(workspace_id: int, since: datetime | None) -> Any:
    return _customer_messages(
        select(*_COLUMNS).join(
            Conversation, Conversation.id == ConversationMessage.conversation_id
        ),
        workspace_id,
        since,
    )


class ConversationMessageTexts:
    """What customers wrote in conversations (the new part of each message)."""

    name = SOURCE

    def count(self, session: Session, *, workspace_id: int, since: datetime | None) -> int:
        query = _customer_messages(
            select(func.count()).select_from(ConversationMessage), workspace_id, since
        )
        return int(session.scalar(query) or 0)

    def batch(
        self,
        session: Session,
        *,
        workspace_id: int,
        after_id: int,
        limit: int,
        since: datetime | None,
    ) -> list[SourceText]:
        query = (
            _joined(workspace_id, since)
            .where(ConversationMessage.id > after_id)
            .order_by(ConversationMessage.id)
            .limit(limit)
        )
        return _rows(session, query)

    def fetch(self, session: Session, *, workspace_id: int, ids: Sequence[int]) -> list[SourceText]:
        if not ids:
            return []
        query = (
            _joined(workspace_id, None)
            .where(ConversationMessage.id.in_(list(ids)))
            .order_by(ConversationMessage.id)
        )
        return _rows(session, query)


conversation_texts = ConversationMessageTexts()


def _raise_if_angry(session: Session, workspace_id: int, message_ids: Sequence[int]) -> None:
    angry = session.execute(
        select(ConversationMessage.conversation_id)
        .join(
            TextAnalysis,
            (TextAnalysis.source_id == ConversationMessage.id)
            & (TextAnalysis.source_type == SOURCE)
            & (TextAnalysis.workspace_id == workspace_id),
        )
        .where(
            ConversationMessage.id.in_(list(message_ids)),
            TextAnalysis.score <= ANGRY_SCORE,
            # An old message analysed late (an import, a reanalysis) is history, not news.
            ConversationMessage.created_at >= utcnow() - ANGER_NEWS,
        )
    ).scalars()
    for conversation_id in sorted(set(angry)):
        conversation = session.get(Conversation, conversation_id)
        if (
            conversation is None
            or conversation.priority in ("urgent", "high")
            or conversation.status == "resolved"
        ):
            continue
        customer = (
            session.get(Customer, conversation.customer_id) if conversation.customer_id else None
        )
        if customer is None or (customer.total_revenue or 0) < VALUABLE_REVENUE:
            continue
        conversation.priority = "high"
        notifications.notify(
            session,
            workspace_id=workspace_id,
            kind="care_angry_customer",
            params={
                "id": conversation.id,
                "customer": customer.display_name or customer.email or "",
            },
            link=f"/inbox/{conversation.id}",
            dedupe_key=f"care-angry:{conversation.id}",
            team=conversation.team,
            user_ids=[conversation.assignee_id] if conversation.assignee_id else None,
        )
    session.flush()


class ConversationMessageAnalysis:
    """Bus consumer: analyse every customer message as it arrives."""

    name = "text_conversation_messages"
    columns: tuple[str, ...] | None = ("workspace_id", "type", "name", "channel", "properties")

    def handle(self, session: Session, events_: Sequence[Event]) -> None:
        wanted: dict[int, set[int]] = defaultdict(set)
        for event in events_:
            if event.type != "track" or event.name != MESSAGE_RECEIVED:
                continue
            message_id = (event.properties or {}).get("message_id")
            if isinstance(message_id, int) and not isinstance(message_id, bool):
                wanted[event.workspace_id].add(message_id)
        for workspace_id, ids in sorted(wanted.items()):
            items = conversation_texts.fetch(session, workspace_id=workspace_id, ids=sorted(ids))
            if items:
                text_service.analyse_and_store(
                    session, workspace_id=workspace_id, source_type=SOURCE, items=items
                )
                # Rules on the first message's language or category were waiting for this.
                assignment.route_analysed(
                    session, workspace_id=workspace_id, message_ids=[i.source_id for i in items]
                )
                _raise_if_angry(session, workspace_id, [i.source_id for i in items])


conversation_message_analysis = ConversationMessageAnalysis()
