"""What the help bot achieved over a period, from its turns: the conversations it took, how
many it resolved alone and how many of those stayed resolved (deflection: no agent, and the
customer did not write again within ``RETURN_WINDOW``), why it handed the others over, how each
channel and each article did (with its "was this helpful?" votes), and the questions it could
not answer grouped into themes by the keywords the text analysis found in them — the "write
this article next" list."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, aliased

from cxloop.care.texts import SOURCE as MESSAGE_SOURCE
from cxloop.core.timeutil import as_utc
from cxloop.help.votes import vote_counts
from cxloop.models import Conversation, ConversationMessage, HelpBotTurn, TextAnalysis

RETURN_WINDOW = timedelta(hours=24)
UNSURE = ("not_sure", "no_match")
MAX_THEMES = 10
SAMPLES = 3


@dataclass
class Theme:
    keyword: str
    count: int
    samples: list[str]


@dataclass
class ChannelFigures:
    conversations: int = 0
    deflected: int = 0


@dataclass
class BotReport:
    conversations: int = 0  # the bot took a turn in
    resolved_by_bot: int = 0
    deflected: int = 0  # resolved by the bot, no agent, no return within the window
    handed_over: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    channels: dict[str, ChannelFigures] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)  # article → answers given
    followed_by_handover: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    themes: list[Theme] = field(default_factory=list)
    votes: dict[str, tuple[int, int]] = field(default_factory=dict)  # (helpful, not)

    @property
    def deflection_rate(self) -> float | None:
        return self.deflected / self.conversations if self.conversations else None


def bot_report(
    session: Session, *, workspace_id: int, since: datetime, until: datetime
) -> BotReport:
    """The bot's figures for the conversations whose first turn fell in [since, until)."""
    turns = list(
        session.scalars(
            select(HelpBotTurn)
            .where(
                HelpBotTurn.workspace_id == workspace_id,
                HelpBotTurn.created_at >= since - timedelta(days=1),
                HelpBotTurn.created_at < until + timedelta(days=1),
            )
            .order_by(HelpBotTurn.conversation_id, HelpBotTurn.id)
        )
    )
    by_conversation: dict[int, list[HelpBotTurn]] = defaultdict(list)
    for turn in turns:
        by_conversation[turn.conversation_id].append(turn)
    taken = {
        cid: ts
        for cid, ts in by_conversation.items()
        if as_utc(since) <= as_utc(ts[0].created_at) < as_utc(until)
    }
    report = BotReport(conversations=len(taken))
    stayed = _deflected(session, workspace_id, sorted(taken))
    unsure_messages: list[int] = []
    for cid, conversation_turns in taken.items():
        channel = report.channels.setdefault(conversation_turns[0].channel, ChannelFigures())
        channel.conversations += 1
        handover = next((t for t in conversation_turns if t.handoff), None)
        for turn in conversation_turns:
            if turn.reason == "answered" and turn.article:
                report.answers[turn.article] += 1
        if handover is not None:
            report.handed_over += 1
            report.reasons[handover.reason] += 1
            answered = [t for t in conversation_turns if t.reason == "answered" and t.article]
            if answered:
                report.followed_by_handover[answered[-1].article or ""] += 1
            if handover.reason in UNSURE:
                unsure_messages.append(handover.message_id)
        elif cid in stayed:
            report.resolved_by_bot += 1
            if stayed[cid]:
                report.deflected += 1
                channel.deflected += 1
    report.unanswered = len(unsure_messages)
    report.themes = unanswered_themes(session, workspace_id, unsure_messages)
    report.votes = vote_counts(session, workspace_id=workspace_id, since=since, until=until)
    return report


def _deflected(session: Session, workspace_id: int, ids: list[int]) -> dict[int, bool]:
    """The conversations the bot resolved, each with whether it stayed resolved: no agent
    wrote in it, and its customer wrote nothing within ``RETURN_WINDOW`` after."""
    if not ids:
        return {}
    later = aliased(ConversationMessage)
    returned = exists().where(
        later.conversation_id == Conversation.id,
        later.direction == "in",
        later.author == "customer",
        later.created_at > Conversation.resolved_at,
    )
    agent = exists().where(
        ConversationMessage.conversation_id == Conversation.id,
        ConversationMessage.author == "agent",
    )
    rows = session.execute(
        select(
            Conversation.id, Conversation.customer_id, Conversation.resolved_at, agent, returned
        ).where(
            Conversation.workspace_id == workspace_id,
            Conversation.id.in_(ids),
            Conversation.status == "resolved",
        )
    ).all()
    result: dict[int, bool] = {}
    for cid, customer_id, resolved_at, by_agent, wrote_again in rows:
        if by_agent or resolved_at is None:
            continue
        stayed = not wrote_again and not _wrote_elsewhere(
            session, workspace_id, customer_id, cid, resolved_at
        )
        result[cid] = stayed
    return result


def _wrote_elsewhere(
    session: Session, workspace_id: int, customer_id: int | None, cid: int, resolved_at: datetime
) -> bool:
    """Whether the customer started another conversation within the window after."""
    if customer_id is None:
        return False
    return bool(
        session.scalar(
            select(Conversation.id)
            .where(
                and_(
                    Conversation.workspace_id == workspace_id,
                    Conversation.customer_id == customer_id,
                    Conversation.id != cid,
                    Conversation.created_at > resolved_at,
                    Conversation.created_at <= resolved_at + RETURN_WINDOW,
                )
            )
            .limit(1)
        )
    )


def unanswered_themes(session: Session, workspace_id: int, message_ids: list[int]) -> list[Theme]:
    """The unanswered questions grouped by the keyword most of them share (each question in
    the group of its most common keyword), largest first, with a few questions as samples."""
    if not message_ids:
        return []
    keywords: dict[int, list[str]] = {}
    for chunk in range(0, len(message_ids), 500):
        part = message_ids[chunk : chunk + 500]
        for source_id, words in session.execute(
            select(TextAnalysis.source_id, TextAnalysis.keywords).where(
                TextAnalysis.workspace_id == workspace_id,
                TextAnalysis.source_type == MESSAGE_SOURCE,
                TextAnalysis.source_id.in_(part),
            )
        ):
            keywords[source_id] = [w for w in words or [] if isinstance(w, str)]
    counts: Counter[str] = Counter()
    for words in keywords.values():
        counts.update(set(words))
    groups: dict[str, list[int]] = defaultdict(list)
    for message_id in message_ids:
        words = keywords.get(message_id) or []
        if words:
            best = max(words, key=lambda w: (counts[w], -words.index(w)))
            groups[best].append(message_id)
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))[:MAX_THEMES]
    wanted = [mid for _, ids in ranked for mid in ids[: SAMPLES * 4]]  # room for repeats
    texts: dict[int, str] = {
        message_id: body
        for message_id, body in session.execute(
            select(ConversationMessage.id, ConversationMessage.body_text).where(
                ConversationMessage.workspace_id == workspace_id,
                ConversationMessage.id.in_(wanted or [0]),
            )
        )
    }
    return [Theme(keyword, len(ids), _samples(texts, ids)) for keyword, ids in ranked]


def _samples(texts: dict[int, str], ids: list[int]) -> list[str]:
    """A few of the theme's questions, each different (customers ask the same words often)."""
    distinct = dict.fromkeys(
        " ".join(texts[m].split())[:200] for m in ids[: SAMPLES * 4] if texts.get(m)
    )
    return list(distinct)[:SAMPLES]
