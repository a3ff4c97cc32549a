"""Followers of a conversation: members of the workspace who work conversations and want to
hear about one besides its assignee. A member follows or stops following by themself; an admin
may add or remove another member. Followers are told in the app when the customer writes in
the conversation and when it is resolved, never of what they did themselves and once per
message or resolution. A member named in a note starts following (see care.mentions)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cxloop.accounts.access import PERMISSIONS, Principal, require
from cxloop.accounts.service import record_audit
from cxloop.core.db import rowcount
from cxloop.core.errors import ValidationFailed
from cxloop.models import (
    Conversation,
    ConversationFollower,
    ConversationMessage,
    Membership,
    User,
)
from cxloop.notifications import service as notifications

MAX_FOLLOWERS = 200  # per conversation
EXCERPT = 140


@dataclass(frozen=True)
class Follower:
    user_id: int
    name: str


def followers_of(session: Session, *, conversation: Conversation) -> list[Follower]:
    """The members who follow ``conversation``, by name."""
    rows = session.execute(
        select(User.id, User.display_name, User.email)
        .join(ConversationFollower, ConversationFollower.user_id == User.id)
        .where(
            ConversationFollower.workspace_id == conversation.workspace_id,
            ConversationFollower.conversation_id == conversation.id,
        )
        .order_by(User.display_name, User.email)
        .limit(MAX_FOLLOWERS)
    )
    return [Follower(user_id=uid, name=name or email) for uid, name, email in rows]


def follower_ids(session: Session, *, conversation: Conversation) -> list[int]:
    return list(
        session.scalars(
            select(ConversationFollower.user_id)
            .where(
                ConversationFollower.workspace_id == conversation.workspace_id,
                ConversationFollower.conversation_id == conversation.id,
            )
            .order_by(ConversationFollower.user_id)
        )
    )


def _target(principal: Principal, user_id: int | None) -> int:
    """Whom a follow or unfollow is for: the principal's own member unless an admin names
    another."""
    require(principal, "care:work")
    if user_id is None or user_id == principal.user_id:
        if principal.user_id is None:
            raise ValidationFailed(
                "An API key follows for nobody; name the member (user_id).",
                errors=[{"field": "user_id", "message": "required"}],
            )
        return principal.user_id
    require(principal, "care:manage")  # only an admin adds or removes another member
    return user_id


def _check_member(session: Session, *, workspace_id: int, user_id: int) -> None:
    role = session.scalar(
        select(Membership.role)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.user_id == user_id,
            User.is_active.is_(True),
        )
    )
    if role not in PERMISSIONS["care:work"]:
        raise ValidationFailed(
            "A follower must be a member of this workspace who works conversations.",
            errors=[{"field": "user_id", "message": "not a member who works conversations"}],
        )


def _add(session: Session, conversation: Conversation, user_ids: Iterable[int]) -> list[int]:
    """Add the followers not yet there; the ids added."""
    have = set(follower_ids(session, conversation=conversation))
    added: list[int] = []
    for user_id in dict.fromkeys(user_ids):
        if user_id in have:
            continue
        if len(have) + len(added) >= MAX_FOLLOWERS:
            raise ValidationFailed(f"A conversation has at most {MAX_FOLLOWERS} followers.")
        try:
            # Two clicks at once: the unique (conversation, user) keeps one row.
            with session.begin_nested():
                session.add(
                    ConversationFollower(
                        workspace_id=conversation.workspace_id,
                        conversation_id=conversation.id,
                        user_id=user_id,
                    )
                )
                session.flush()
        except IntegrityError:
            continue
        added.append(user_id)
    return added


def follow(
    session: Session,
    *,
    principal: Principal,
    conversation: Conversation,
    user_id: int | None = None,
) -> bool:
    """The principal's member (or, for an admin, member ``user_id``) follows the conversation;
    True when they did not before."""
    target = _target(principal, user_id)
    _check_member(session, workspace_id=conversation.workspace_id, user_id=target)
    added = bool(_add(session, conversation, [target]))
    if added and target != principal.user_id:
        _audit(session, principal, conversation, "care.follower_add", target)
    return added


def unfollow(
    session: Session,
    *,
    principal: Principal,
    conversation: Conversation,
    user_id: int | None = None,
) -> bool:
    """The principal's member (or, for an admin, member ``user_id``) stops following; True
    when they followed."""
    target = _target(principal, user_id)
    removed = rowcount(
        session.execute(
            delete(ConversationFollower).where(
                ConversationFollower.workspace_id == conversation.workspace_id,
                ConversationFollower.conversation_id == conversation.id,
                ConversationFollower.user_id == target,
            )
        )
    )
    if removed and target != principal.user_id:
        _audit(session, principal, conversation, "care.follower_remove", target)
    return bool(removed)


def _audit(
    session: Session, principal: Principal, conversation: Conversation, action: str, user_id: int
) -> None:
    record_audit(
        session,
        principal=principal,
        action=action,
        target_type="care_follower",
        target_id=conversation.id,
        detail={"user_id": user_id},
    )


def start_following(session: Session, *, conversation: Conversation, user_ids: list[int]) -> None:
    """Members named in a note follow the conversation from then on (they are members who work
    conversations: care.mentions only names those)."""
    _add(session, conversation, user_ids)


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:EXCERPT] + ("…" if len(flat) > EXCERPT else "")


def customer_wrote(
    session: Session, *, conversation: Conversation, message: ConversationMessage
) -> int:
    """Tell the conversation's followers that the customer wrote ``message`` (an automatic
    reply tells nobody); how many were told."""
    if message.automatic or message.direction != "in":
        return 0
    followers = follower_ids(session, conversation=conversation)
    if not followers:
        return 0
    told = notifications.notify(
        session,
        workspace_id=conversation.workspace_id,
        kind="care_follow_message",
        params={
            "id": conversation.id,
            "subject": conversation.subject or "",
            "excerpt": _excerpt(message.body_text or message.problem or ""),
        },
        link=f"/inbox/{conversation.id}#message-{message.id}",
        dedupe_key=f"care-follow:{message.id}",
        user_ids=followers,
        email=False,
    )
    return len(told)


def conversation_resolved(
    session: Session, *, conversation: Conversation, actor_id: int | None
) -> int:
    """Tell the conversation's followers, except ``actor_id`` (who resolved it), that it was
    resolved; how many were told."""
    followers = [u for u in follower_ids(session, conversation=conversation) if u != actor_id]
    if not followers:
        return 0
    told = notifications.notify(
        session,
        workspace_id=conversation.workspace_id,
        kind="care_follow_resolved",
        params={"id": conversation.id, "subject": conversation.subject or ""},
        link=f"/inbox/{conversation.id}",
        # One notice per resolution: reopening and resolving again is news again.
        dedupe_key=f"care-follow-resolved:{conversation.id}:{conversation.reopened_count}",
        user_ids=followers,
        email=False,
    )
    return len(told)
