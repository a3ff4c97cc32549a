"""@mentions in private notes: ``@이상담`` (a member's name) or ``@sangdam`` (the part of their
login address before the @) names a member of the workspace who works conversations. Each
member named is told once, in the app and by email, and the note keeps who was named (its
``details["mentions"]`` and a row per member, which the "mentions" view lists). The note's author
is never told of their own note, and only members of the conversation's workspace can be named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import PERMISSIONS
from cxloop.care import followers
from cxloop.models import Conversation, ConversationMention, ConversationMessage, Membership, User
from cxloop.notifications import service as notifications

EXCERPT = 140


@dataclass(frozen=True)
class Mentionable:
    user_id: int
    name: str
    handle: str  # the part of the login address before the @

    @property
    def handles(self) -> tuple[str, ...]:
        return tuple(h for h in (self.name, self.handle) if h)


def mentionable_members(session: Session, *, workspace_id: int) -> list[Mentionable]:
    """The active members of the workspace who work conversations, by name."""
    rows = session.execute(
        select(User.id, User.display_name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.role.in_(sorted(PERMISSIONS["care:work"])),
            User.is_active.is_(True),
        )
        .order_by(User.display_name, User.email)
        .limit(500)
    )
    return [
        Mentionable(
            user_id=uid,
            name=" ".join((name or "").split()),
            handle=email.partition("@")[0],
        )
        for uid, name, email in rows
    ]


def mentioned_in(user_id: int) -> Select[tuple[int]]:
    """The ids of the conversations whose notes name member ``user_id`` (a subquery; the
    caller scopes the conversations to the workspace)."""
    return select(ConversationMention.conversation_id).where(ConversationMention.user_id == user_id)


def _continues_word(ch: str) -> bool:
    # After a handle an ASCII letter, digit or . _ - would make it another handle (@kim vs
    # @kimberly); Korean may follow directly (@이상담님).
    return ch.isascii() and (ch.isalnum() or ch in "._-")


def find_mentions(text: str, members: Sequence[Mentionable]) -> list[int]:
    """The members ``text`` names with @, in order of first mention; at each @ the longest
    name or handle that fits wins."""
    folded = text.casefold()
    handles = sorted(
        ((h.casefold(), m.user_id) for m in members for h in m.handles),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )
    found: list[int] = []
    position = folded.find("@")
    while position != -1:
        before = folded[position - 1] if position > 0 else " "
        if not _continues_word(before):  # not the @ inside an email address
            rest = folded[position + 1 :]
            for handle, user_id in handles:
                after = rest[len(handle) : len(handle) + 1]
                if rest.startswith(handle) and not (after and _continues_word(after)):
                    if user_id not in found:
                        found.append(user_id)
                    break
        position = folded.find("@", position + 1)
    return found


def record_mentions(
    session: Session,
    *,
    note: ConversationMessage,
    conversation: Conversation,
    author_id: int | None,
) -> list[int]:
    """Keep and tell the members a note names (not its author); their user ids."""
    members = mentionable_members(session, workspace_id=conversation.workspace_id)
    named = [u for u in find_mentions(note.body_text, members) if u != author_id]
    if not named:
        return []
    note.details = {**(note.details or {}), "mentions": named}
    for user_id in named:
        session.add(
            ConversationMention(
                workspace_id=conversation.workspace_id,
                conversation_id=conversation.id,
                message_id=note.id,
                user_id=user_id,
            )
        )
    session.flush()
    followers.start_following(session, conversation=conversation, user_ids=named)
    author = next((m.name or m.handle for m in members if m.user_id == author_id), "API")
    text = " ".join(note.body_text.split())
    notifications.notify(
        session,
        workspace_id=conversation.workspace_id,
        kind="care_mention",
        params={
            "id": conversation.id,
            "author": author,
            "excerpt": text[:EXCERPT] + ("…" if len(text) > EXCERPT else ""),
        },
        link=f"/inbox/{conversation.id}#message-{note.id}",
        dedupe_key=f"care-mention:{note.id}",
        user_ids=named,
    )
    return named
