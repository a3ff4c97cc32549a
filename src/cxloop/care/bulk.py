"""One change to many conversations at once (an agent's selection in the inbox list): status,
priority, assignee, a tag added or removed. Each conversation goes through the same service as
a single change (SLA clocks, CSAT, live updates), all in one transaction, and the whole
selection is one audit entry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.care import service
from cxloop.core.errors import ValidationFailed
from cxloop.models import Conversation

MAX_SELECTION = 100
# What a bulk change may set the status to (snoozing needs a time of its own).
BULK_STATUSES = ("open", "pending", "resolved")


@dataclass(frozen=True)
class BulkChange:
    status: str | None = None
    priority: str | None = None
    assign: bool = False  # set the assignee to ``assignee_id`` (None: unassign)
    assignee_id: int | None = None
    add_tag: str = ""
    remove_tag: str = ""

    def is_empty(self) -> bool:
        return not (self.status or self.priority or self.assign or self.add_tag or self.remove_tag)


def _selection(session: Session, workspace_id: int, ids: Sequence[int]) -> list[Conversation]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise ValidationFailed(
            "Pick at least one conversation.",
            errors=[{"field": "ids", "message": "empty"}],
        )
    if len(wanted) > MAX_SELECTION:
        raise ValidationFailed(
            f"At most {MAX_SELECTION} conversations at once.",
            errors=[{"field": "ids", "message": f"at most {MAX_SELECTION}"}],
        )
    found = list(
        session.scalars(
            select(Conversation)
            .where(Conversation.workspace_id == workspace_id, Conversation.id.in_(wanted))
            .order_by(Conversation.id)
        )
    )
    if len(found) != len(wanted):
        missing = sorted(set(wanted) - {c.id for c in found})
        raise ValidationFailed(
            "Some conversations are not in this workspace.",
            errors=[{"field": "ids", "message": f"unknown: {missing[:10]}"}],
        )
    return found


def apply(
    session: Session, *, principal: Principal, ids: Sequence[int], change: BulkChange
) -> list[Conversation]:
    """Apply ``change`` to every conversation of ``ids`` (all of this workspace, or none)."""
    if change.is_empty():
        raise ValidationFailed(
            "Say what to change.", errors=[{"field": "change", "message": "nothing to change"}]
        )
    if change.status is not None and change.status not in BULK_STATUSES:
        raise ValidationFailed(
            f"A bulk change sets the status to {', '.join(BULK_STATUSES)}.",
            errors=[{"field": "status", "message": "not a bulk status"}],
        )
    conversations = _selection(session, principal.workspace_id, ids)
    for conversation in conversations:
        tags = None
        if change.add_tag or change.remove_tag:
            tags = [t for t in conversation.tags if t != change.remove_tag.strip()]
            if change.add_tag.strip():
                tags.append(change.add_tag)
        status = change.status if change.status != conversation.status else None
        if change.assign:
            service.update_conversation(
                session,
                conversation=conversation,
                status=status,
                priority=change.priority,
                tags=tags,
                assignee_id=change.assignee_id,
                actor_id=principal.user_id,
            )
        else:
            service.update_conversation(
                session,
                conversation=conversation,
                status=status,
                priority=change.priority,
                tags=tags,
                actor_id=principal.user_id,
            )
    record_audit(
        session,
        principal=principal,
        action="care.conversations_bulk_update",
        target_type="conversation",
        target_id=",".join(str(c.id) for c in conversations)[:200],
        detail={
            "count": len(conversations),
            "status": change.status,
            "priority": change.priority,
            "assignee_id": change.assignee_id if change.assign else "unchanged",
            "add_tag": change.add_tag,
            "remove_tag": change.remove_tag,
        },
    )
    return conversations
