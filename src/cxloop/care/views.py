"""What the inbox screens read beyond one conversation: the views agents pick from (mine,
unassigned, open, pending, snoozed, resolved) with their counts, the members a conversation can
be assigned to, and the rows a page of conversations shows (customer, latest customer message,
delivery of replies), each read in one query for the whole page. Queries only, every one scoped
to the workspace."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import PERMISSIONS
from cxloop.care.mentions import mentioned_in
from cxloop.care.service import ConversationFilter
from cxloop.models import ConversationMessage, Membership, OutboundMessage, User
from cxloop.models.care import Conversation

# The inbox's views, in the order they are shown: (name, status it shows, whose).
VIEWS: tuple[tuple[str, str, str], ...] = (
    ("mine", "open", "me"),
    ("unassigned", "open", "nobody"),
    ("my_teams", "open", "teams"),  # open in any team I am a member of
    ("open", "open", "anyone"),
    ("pending", "pending", "anyone"),
    ("snoozed", "snoozed", "anyone"),
    ("resolved", "resolved", "anyone"),
    ("bot", "bot", "anyone"),  # the help bot is answering; an agent may take one over
    ("mentions", "", "mentioned"),  # any status: where a note names me
)
VIEW_NAMES = tuple(name for name, _, _ in VIEWS)
COUNT_CAP = 10_000  # resolved conversations counted at most (the view shows "10,000+")


def view_filter(
    view: str,
    *,
    user_id: int,
    teams: Sequence[str] = (),
    inbox_id: int | None = None,
    status: str | None = None,
) -> ConversationFilter:
    """The conversation filter of a view (``status`` overrides the view's own status)."""
    _, view_status, whose = next((v for v in VIEWS if v[0] == view), VIEWS[3])
    return ConversationFilter(
        status=status or view_status or None,
        inbox_id=inbox_id,
        assignee_id=user_id if whose == "me" else None,
        unassigned=whose == "nobody",
        mentioned_user_id=user_id if whose == "mentioned" else None,
        teams=tuple(teams) if whose == "teams" else None,
    )


def view_counts(
    session: Session,
    *,
    workspace_id: int,
    user_id: int,
    teams: Sequence[str] = (),
    inbox_id: int | None = None,
) -> dict[str, int]:
    """How many conversations each view holds (in one inbox, or in all of them). The
    resolved ones pile up for ever: they are counted up to ``COUNT_CAP`` (shown as "N+"), so
    the count reads the working statuses' rows, not the whole history."""
    mine = func.sum(case((Conversation.assignee_id == user_id, 1), else_=0))
    nobody = func.sum(case((Conversation.assignee_id.is_(None), 1), else_=0))
    in_teams = func.sum(case((Conversation.team.in_(list(teams) or [""]), 1), else_=0))
    query = select(Conversation.status, func.count(), mine, nobody, in_teams).where(
        Conversation.workspace_id == workspace_id,
        Conversation.status.in_(("open", "pending", "snoozed", "bot")),
    )
    if inbox_id is not None:
        query = query.where(Conversation.inbox_id == inbox_id)
    by_status = {
        status: (int(total or 0), int(my or 0), int(unassigned or 0), int(teamed or 0))
        for status, total, my, unassigned, teamed in session.execute(
            query.group_by(Conversation.status)
        )
    }
    resolved = select(Conversation.id).where(
        Conversation.workspace_id == workspace_id, Conversation.status == "resolved"
    )
    if inbox_id is not None:
        resolved = resolved.where(Conversation.inbox_id == inbox_id)
    total_resolved = session.scalar(
        select(func.count()).select_from(resolved.limit(COUNT_CAP).subquery())
    )
    by_status["resolved"] = (int(total_resolved or 0), 0, 0, 0)
    counts = {}
    for name, status, whose in VIEWS:
        total, my, unassigned, teamed = by_status.get(status, (0, 0, 0, 0))
        if whose == "teams" and not teams:
            teamed = 0
        counts[name] = {"me": my, "nobody": unassigned, "teams": teamed}.get(whose, total)
    mentioned = select(func.count()).where(
        Conversation.workspace_id == workspace_id, Conversation.id.in_(mentioned_in(user_id))
    )
    if inbox_id is not None:
        mentioned = mentioned.where(Conversation.inbox_id == inbox_id)
    counts["mentions"] = int(session.scalar(mentioned) or 0)
    return counts


def member_teams(session: Session, *, workspace_id: int, user_id: int) -> list[str]:
    """The teams a member works in (their "my teams" view)."""
    teams = session.scalar(
        select(Membership.teams).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    return list(teams or [])


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    email: str
    role: str


def assignable_members(session: Session, *, workspace_id: int) -> list[Member]:
    """The workspace's members who work conversations (agents, admins, owners), by name."""
    roles = sorted(PERMISSIONS["care:work"])
    rows = session.execute(
        select(User.id, User.display_name, User.email, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.role.in_(roles),
            User.is_active.is_(True),
        )
        .order_by(User.display_name, User.email)
        .limit(500)
    )
    return [
        Member(user_id=uid, name=name or email, email=email, role=role)
        for uid, name, email, role in rows
    ]


def latest_customer_messages(
    session: Session, *, workspace_id: int, conversation_ids: Iterable[int]
) -> dict[int, ConversationMessage]:
    """Each conversation's latest message from the customer, by conversation id."""
    ids = set(conversation_ids)
    if not ids:
        return {}
    latest = (
        select(func.max(ConversationMessage.id))
        .where(
            ConversationMessage.workspace_id == workspace_id,
            ConversationMessage.conversation_id.in_(ids),
            ConversationMessage.direction == "in",
        )
        .group_by(ConversationMessage.conversation_id)
    )
    rows = session.scalars(
        select(ConversationMessage).where(
            ConversationMessage.workspace_id == workspace_id, ConversationMessage.id.in_(latest)
        )
    )
    return {m.conversation_id: m for m in rows}


def delivery_statuses(
    session: Session, *, workspace_id: int, messages: Iterable[ConversationMessage]
) -> dict[int, str]:
    """The outbox status of each reply among ``messages``, by message id."""
    by_outbound = {
        m.outbound_message_id: m.id for m in messages if m.outbound_message_id is not None
    }
    if not by_outbound:
        return {}
    rows = session.execute(
        select(OutboundMessage.id, OutboundMessage.status).where(
            OutboundMessage.workspace_id == workspace_id,
            OutboundMessage.id.in_(by_outbound),
        )
    )
    return {by_outbound[outbound_id]: status for outbound_id, status in rows}


def user_names(
    session: Session, *, workspace_id: int, user_ids: Iterable[int | None]
) -> dict[int, str]:
    """Display names (or emails) of the workspace's members among ``user_ids``."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(
        select(User.id, User.display_name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id, User.id.in_(ids))
    )
    return {uid: name or email for uid, name, email in rows}
