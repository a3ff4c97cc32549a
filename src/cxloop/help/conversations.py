"""The help bot in the care inbox: it answers customers first in the inboxes set to let it
(chat, SMS, Naver TalkTalk, e-mail auto-reply), and hands the conversation over to the team —
with what it was asked and tried — when it is not sure, when the customer asks for a person or
is upset, when the topic is one kept for people, and when its answers did not help twice.

It reads the "Conversation Message Received" events of the bus, so it never slows the webhook
that took the message in. Each customer message gets at most one turn (``HelpBotTurn``, unique
per message, written in the transaction that sends the reply), so a batch the bus delivers again
is not answered twice; a message older than ``STALE`` (a replay of the log, a bus that was down)
is left to the team rather than answered late.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.care import service as care
from cxloop.care import sla
from cxloop.care.texts import MESSAGE_RECEIVED
from cxloop.core.i18n import format_datetime, gettext
from cxloop.core.settings import Settings, get_settings
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.help.markup import plain_text
from cxloop.help.service import answer_question
from cxloop.help.settings import TONES, BotSettings, bot_settings
from cxloop.models import (
    CareInbox,
    Conversation,
    ConversationMessage,
    Event,
    HelpArticle,
    HelpBotTurn,
    Workspace,
)
from cxloop.models.care import BOT_STATUS
from cxloop.text.lang import detect_language

# Why a turn ended as it did: answered, thanked, or why the conversation went to the team.
REASONS = (
    "answered",
    "thanked",
    "asked_for_person",
    "upset",
    "people_topic",
    "not_sure",
    "no_match",
    "two_failed",
    "no_reply",
    "stale",
    "bot_off",
)
# The lines the bot says, each in both tones (help_bot.say.<tone>.<line>).
LINES = tuple(
    f"{tone}.{line}"
    for tone in TONES
    for line in ("greeting", "not_it", "thanked", "handover", "handover_closed")
)
log = logging.getLogger(__name__)
STALE = timedelta(minutes=10)  # a message older than this is the team's, not the bot's
FAILED_ANSWERS = 2  # answers the customer wrote on after, before a person takes over
MAX_QUESTION = 4_000  # characters of the customer's unanswered messages read as the question

# A short thank-you or "that solved it" after an answer closes the conversation.
_THANKS = re.compile(
    r"감사|고마워|고맙|땡큐|ㄱㅅ|ㄳ|해결\s*(됐|되었|했)|됐어요|됐습니다|알겠어요|알겠습니다|"
    r"\b(thanks|thank\s+you|thx|ty|solved|got\s+it|that\s+helps|perfect)\b",
    re.IGNORECASE,
)
_NOT_THANKS = re.compile(r"안\s*(됐|돼|되)|않|못|아니|\bnot\b|n't|\bno\b|\?", re.IGNORECASE)


@dataclass(frozen=True)
class Turn:
    """What the bot did with a message, as the tests and the demo read it."""

    conversation_id: int
    reason: str
    handoff: bool
    article: str | None
    reply: str


def is_thanks(text: str) -> bool:
    """A short thank-you that closes the question (not "thanks, but it did not work")."""
    snippet = text.strip()
    return len(snippet) <= 60 and bool(_THANKS.search(snippet)) and not _NOT_THANKS.search(snippet)


class BotAnswers:
    """Bus consumer: the bot's turn on each customer message of a conversation it answers."""

    name = "help_bot_answers"
    columns: tuple[str, ...] | None = ("workspace_id", "type", "name", "properties")

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        latest: dict[int, int] = {}  # conversation → its latest message in the batch
        for event in events:
            if event.type != "track" or event.name != MESSAGE_RECEIVED:
                continue
            properties = event.properties or {}
            conversation_id = properties.get("conversation_id")
            message_id = properties.get("message_id")
            if isinstance(conversation_id, int) and isinstance(message_id, int):
                latest[conversation_id] = max(message_id, latest.get(conversation_id, 0))
        if not latest:
            return
        conversations = session.scalars(
            select(Conversation).where(
                Conversation.id.in_(sorted(latest)), Conversation.status == BOT_STATUS
            )
        )
        settings = get_settings()
        for conversation in list(conversations):
            # One conversation that fails (its channel refuses the reply…) must not hold the
            # bot up for the others: it is left to the sweep, which hands it over.
            try:
                with session.begin_nested():
                    take_turn(
                        session,
                        settings,
                        conversation=conversation,
                        message_id=latest[conversation.id],
                    )
            except Exception:
                log.exception("help bot: no turn for conversation %s", conversation.id)


bot_answers = BotAnswers()


def _latest_messages(
    session: Session, conversation: Conversation, limit: int
) -> list[ConversationMessage]:
    """The conversation's last messages to and from the customer (no notes), newest first."""
    return list(
        session.scalars(
            select(ConversationMessage)
            .where(
                ConversationMessage.conversation_id == conversation.id,
                ConversationMessage.direction.in_(("in", "out")),
            )
            .order_by(ConversationMessage.id.desc())
            .limit(limit)
        )
    )


def _unanswered(session: Session, conversation: Conversation) -> list[ConversationMessage]:
    """The customer's messages since the bot's (or anyone's) last message, oldest first."""
    waiting: list[ConversationMessage] = []
    for message in _latest_messages(session, conversation, 20):
        if message.direction == "out":
            break
        if not message.automatic:
            waiting.append(message)
    return waiting[::-1]


def take_turn(
    session: Session,
    settings: Settings,
    *,
    conversation: Conversation,
    message_id: int,
    now: datetime | None = None,
) -> Turn | None:
    """Answer the customer's latest message in ``conversation`` (``message_id``), or hand the
    conversation over; None when there is nothing for the bot to do (answered already, not
    its conversation, a message gone stale or not the latest)."""
    now = now or utcnow()
    if conversation.status != BOT_STATUS:
        return None
    waiting = _unanswered(session, conversation)
    if not waiting or waiting[-1].id != message_id:
        return None  # the customer wrote again: that message's turn answers both
    message = waiting[-1]
    if as_utc(message.created_at) < as_utc(now) - STALE:
        return None
    if session.scalar(select(HelpBotTurn.id).where(HelpBotTurn.message_id == message.id)):
        return None
    text = "\n".join(m.body_text for m in waiting if m.body_text)[-MAX_QUESTION:]
    config = bot_settings(session, workspace_id=conversation.workspace_id)
    earlier = list(
        session.scalars(
            select(HelpBotTurn.reason).where(HelpBotTurn.conversation_id == conversation.id)
        )
    )
    answered = sum(1 for reason in earlier if reason == "answered")
    locale = _locale_of(text)
    if answered and is_thanks(text):
        reply = _say(locale, config, "thanked")
        sent = care.bot_reply(session, conversation=conversation, text=reply, now=now)
        _record(session, conversation, message, "thanked", sent=sent, now=now)
        care.resolved_by_bot(session, conversation=conversation, now=now)
        return Turn(conversation.id, "thanked", False, None, reply)
    if answered >= FAILED_ANSWERS:
        return _hand_over(
            session, conversation, message, config, locale, text, "two_failed", None, now=now
        )
    answer = answer_question(
        session, settings, workspace_id=conversation.workspace_id, text=text, locale=None
    )
    decision = answer.decision
    tried = [decision.article] if decision.article else []
    tried += [hit.article for hit, _title in answer.runners_up[:2]]
    if decision.handoff:
        return _hand_over(
            session,
            conversation,
            message,
            config,
            locale,
            text,
            decision.reason,
            decision.article,
            confidence=decision.confidence,
            tried=tried,
            titles=[answer.title, *(title for _hit, title in answer.runners_up[:2])],
            now=now,
        )
    assert decision.article is not None and decision.found.best is not None
    locale = decision.found.best.locale if decision.found.best.locale in ("ko", "en") else locale
    link = _article_link(session, settings, conversation.workspace_id, decision.article, locale)
    parts = [] if earlier else [config.greeting or _say(locale, config, "greeting")]
    # A message, not a page: the passage as plain text (links and emphasis read as words).
    parts += [
        answer.title,
        plain_text(answer.passage),
        gettext(locale, "help_bot.say.more", link=link),
    ]
    parts.append(_say(locale, config, "not_it"))
    reply = "\n\n".join(p for p in parts if p)
    sent = care.bot_reply(session, conversation=conversation, text=reply, now=now)
    if sent is None:  # no way back to the customer on this channel: the team answers
        return _hand_over(session, conversation, message, config, locale, text, "no_reply", None)
    _record(
        session,
        conversation,
        message,
        "answered",
        article=decision.article,
        confidence=decision.confidence,
        tried=tried,
        sent=sent,
        now=now,
    )
    return Turn(conversation.id, "answered", False, decision.article, reply)


def _locale_of(text: str) -> str:
    return "en" if detect_language(text) == "en" else "ko"


def _say(locale: str, config: BotSettings, what: str) -> str:
    """A line of the bot's in its tone (Korean has two; English one)."""
    tone = config.tone if locale == "ko" else "haeyo"
    return gettext(locale, f"help_bot.say.{tone}.{what}")


def _article_link(
    session: Session, settings: Settings, workspace_id: int, article: str, locale: str
) -> str:
    slug = session.scalar(select(Workspace.slug).where(Workspace.id == workspace_id))
    base = settings.public_url.rstrip("/")
    return f"{base}/help/{slug}/articles/{article}?lang={locale}"


def _category(session: Session, workspace_id: int, article: str | None) -> str:
    if article is None:
        return ""
    return (
        session.scalar(
            select(HelpArticle.category).where(
                HelpArticle.workspace_id == workspace_id, HelpArticle.external_id == article
            )
        )
        or ""
    )


def _back_at(
    session: Session, conversation: Conversation, team: str, locale: str, now: datetime
) -> str:
    """ "" while the team is at work, else when it is back (in the team's time zone)."""
    hours = sla.hours_for(session, workspace_id=conversation.workspace_id, team=team)
    calendar = sla.calendar_of(hours)
    if calendar.is_open(now):
        return ""
    opens = calendar.next_open(now)
    if opens is None:
        return "?"
    zone = ZoneInfo(hours.zone if hours is not None else "Asia/Seoul")
    return format_datetime(opens, locale, zone)


def _hand_over(
    session: Session,
    conversation: Conversation,
    message: ConversationMessage,
    config: BotSettings,
    locale: str,
    text: str,
    reason: str,
    article: str | None,
    *,
    confidence: float = 0.0,
    tried: Sequence[str] = (),
    titles: Sequence[str] = (),
    now: datetime | None = None,
) -> Turn:
    now = now or utcnow()
    category = _category(session, conversation.workspace_id, article)
    team = config.category_teams.get(category, "") or conversation.team
    back = _back_at(session, conversation, team, locale, now)
    if back:
        reply = _say(locale, config, "handover_closed").format(when=back)
    else:
        reply = _say(locale, config, "handover")
    sent = care.bot_reply(session, conversation=conversation, text=reply, now=now)
    lines = [
        gettext(
            locale, "help_bot.note.handed", reason=gettext(locale, f"help_bot.reason.{reason}")
        ),
        gettext(locale, "help_bot.note.question", text=text[:1_000]),
    ]
    for external_id, title in zip(tried, titles, strict=False):
        lines.append(gettext(locale, "help_bot.note.tried", title=title or external_id))
    if article is not None:
        lines.append(gettext(locale, "help_bot.note.confidence", value=f"{confidence:.2f}"))
    care.hand_over(session, conversation=conversation, team=team, note="\n".join(lines), now=now)
    _record(
        session,
        conversation,
        message,
        reason,
        handoff=True,
        article=article,
        confidence=confidence,
        tried=tried,
        team=team,
        sent=sent,
        now=now,
    )
    return Turn(conversation.id, reason, True, article, reply if sent else "")


def _note(reason: str, locale: str = "ko") -> str:
    """The team's note of a handover: why (every handover leaves one; care reads it as the
    sign that people, not the bot, hold the conversation)."""
    why = gettext(locale, f"help_bot.reason.{reason}")
    return gettext(locale, "help_bot.note.handed", reason=why)


def _record(
    session: Session,
    conversation: Conversation,
    message: ConversationMessage,
    reason: str,
    *,
    handoff: bool = False,
    article: str | None = None,
    confidence: float = 0.0,
    tried: Sequence[str] = (),
    team: str = "",
    sent: ConversationMessage | None = None,
    now: datetime,
) -> None:
    session.add(
        HelpBotTurn(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            message_id=message.id,
            channel=conversation.channel,
            reason=reason,
            handoff=handoff,
            article=article,
            confidence=round(confidence, 4),
            tried=list(dict.fromkeys(tried)),
            team=team,
            reply_message_id=sent.id if sent is not None else None,
            created_at=now,
        )
    )
    session.flush()


IDLE = timedelta(minutes=30)  # after the bot's answer, silence this long means it helped


def sweep(session: Session, *, now: datetime | None = None, limit: int = 500) -> tuple[int, int]:
    """The conversations the bot holds that need an end: one whose last word is the bot's
    answer and has been quiet for ``IDLE`` is resolved by the bot; one with a customer
    message the bot did not answer within ``STALE`` (the bus was down, the bot was switched off
    for its inbox) goes to the team. Returns (resolved, handed over)."""
    now = now or utcnow()
    rows = session.execute(
        select(Conversation, CareInbox.bot_answers_first)
        .join(CareInbox, CareInbox.id == Conversation.inbox_id)
        .where(
            Conversation.status == BOT_STATUS,
            Conversation.last_message_at < now - min(IDLE, STALE),
        )
        .order_by(Conversation.last_message_at)
        .limit(limit)
    ).all()
    resolved = handed = 0
    for conversation, bot_on in rows:
        latest = next(iter(_latest_messages(session, conversation, 1)), None)
        if latest is not None and latest.direction == "out":
            if bot_on and as_utc(latest.created_at) > as_utc(now) - IDLE:
                continue
            care.resolved_by_bot(session, conversation=conversation, now=now)
            resolved += 1
            continue
        config = bot_settings(session, workspace_id=conversation.workspace_id)
        waiting = _unanswered(session, conversation)
        text = "\n".join(m.body_text for m in waiting if m.body_text)[-MAX_QUESTION:]
        if waiting and not session.scalar(
            select(HelpBotTurn.id).where(HelpBotTurn.message_id == waiting[-1].id)
        ):
            reason = "stale" if bot_on else "bot_off"
            try:
                with session.begin_nested():
                    _hand_over(
                        session,
                        conversation,
                        waiting[-1],
                        config,
                        _locale_of(text),
                        text,
                        reason,
                        None,
                        now=now,
                    )
            except Exception:  # the customer is not told, but the team gets it all the same
                log.exception("help bot: handing over conversation %s", conversation.id)
                care.hand_over(session, conversation=conversation, note=_note(reason), now=now)
        else:
            care.hand_over(session, conversation=conversation, note=_note("stale"), now=now)
        handed += 1
    return resolved, handed
