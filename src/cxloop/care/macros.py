"""Macros: a named bundle of actions an agent applies to a conversation in one click — a canned
reply, tags added and removed, a status (snoozed for some minutes), a priority, a team and an
assignee. Applying one goes through the same services as doing each by hand (``service.reply``
and ``service.update_conversation``), so SLA clocks and the outbox behave exactly alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.care import canned as canned_replies
from cxloop.care import service
from cxloop.care.canned import storable_text
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import newest_first
from cxloop.core.timeutil import utcnow
from cxloop.models import Conversation, ConversationMessage, Macro, Membership
from cxloop.models.care import CONVERSATION_STATUSES, PRIORITIES
from cxloop.models.care_replies import MACRO_ASSIGN_MODES

MAX_SNOOZE_MINUTES = 60 * 24 * 90
PAGE_LIMIT = 200


class MissingVariables(ValidationFailed):
    """The macro's reply names variables this conversation has no value for."""

    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__(
            "The reply needs values for: " + ", ".join(missing) + ".",
            errors=[{"field": f"values.{name}", "message": "missing"} for name in missing],
        )
        self.missing = list(missing)


@dataclass(frozen=True)
class MacroSpec:
    """What a macro does; None (or an empty list) leaves that part alone."""

    name: str
    canned_reply_id: int | None = None
    add_tags: Sequence[str] = ()
    remove_tags: Sequence[str] = ()
    status: str | None = None
    snooze_minutes: int | None = None
    priority: str | None = None
    team: str | None = None
    assign_mode: str = ""
    assignee_id: int | None = None


def _invalid(field: str, message: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": message}])


def _tags(values: Sequence[str], field: str) -> list[str]:
    cleaned = list(
        dict.fromkeys(storable_text(field, " ".join(t.split())[:64]) for t in values if t.strip())
    )
    if len(cleaned) > service.MAX_TAGS:
        raise _invalid(field, f"at most {service.MAX_TAGS}", "Too many tags.")
    return cleaned


def _checked(session: Session, workspace_id: int, spec: MacroSpec) -> dict[str, Any]:
    """The macro's columns from ``spec``, each checked."""
    name = storable_text("name", " ".join(spec.name.split()))
    if not 1 <= len(name) <= 200:
        raise _invalid("name", "1 to 200 characters", "A macro needs a name.")
    if spec.canned_reply_id is not None:
        canned_replies.get_canned(
            session, workspace_id=workspace_id, canned_id=spec.canned_reply_id
        )
    if spec.status is not None and spec.status not in CONVERSATION_STATUSES:
        raise _invalid("status", "unknown status", "Unknown status.")
    snooze = spec.snooze_minutes if spec.status == "snoozed" else None
    if spec.status == "snoozed" and not (snooze and 1 <= snooze <= MAX_SNOOZE_MINUTES):
        raise _invalid(
            "snooze_minutes",
            f"1 to {MAX_SNOOZE_MINUTES}",
            "Snoozing needs a number of minutes to snooze for.",
        )
    if spec.priority is not None and spec.priority not in PRIORITIES:
        raise _invalid("priority", "unknown priority", "Unknown priority.")
    team = storable_text("team", " ".join(spec.team.split())) if spec.team is not None else None
    if team is not None and len(team) > 64:
        raise _invalid("team", "at most 64 characters", "A team name is at most 64 characters.")
    if spec.assign_mode not in MACRO_ASSIGN_MODES:
        raise _invalid("assign_mode", "'', me, nobody or user", "Unknown way to assign.")
    assignee = spec.assignee_id if spec.assign_mode == "user" else None
    if spec.assign_mode == "user":
        member = session.scalar(
            select(Membership.user_id).where(
                Membership.workspace_id == workspace_id, Membership.user_id == assignee
            )
        )
        if assignee is None or member is None:
            raise _invalid("assignee_id", "not a member", "Assign to a member of this workspace.")
    return {
        "name": name,
        "canned_reply_id": spec.canned_reply_id,
        "add_tags": _tags(spec.add_tags, "add_tags"),
        "remove_tags": _tags(spec.remove_tags, "remove_tags"),
        "status": spec.status,
        "snooze_minutes": snooze,
        "priority": spec.priority,
        "team": team,
        "assign_mode": spec.assign_mode,
        "assignee_id": assignee,
    }


def _refuse_taken(session: Session, workspace_id: int, name: str, own_id: int | None) -> None:
    taken = session.scalar(
        select(Macro.id).where(Macro.workspace_id == workspace_id, Macro.name == name)
    )
    if taken is not None and taken != own_id:
        raise Conflict(f"A macro named {name!r} exists already.")


def _audit(session: Session, principal: Principal, macro: Macro, action: str) -> None:
    record_audit(
        session,
        principal=principal,
        action=f"care.macro_{action}",
        target_type="care_macro",
        target_id=macro.id,
        detail={"name": macro.name},
    )


def create_macro(session: Session, *, principal: Principal, spec: MacroSpec) -> Macro:
    """Keep a new macro for the workspace. Audited."""
    values = _checked(session, principal.workspace_id, spec)
    _refuse_taken(session, principal.workspace_id, values["name"], None)
    macro = Macro(workspace_id=principal.workspace_id, **values)
    session.add(macro)
    session.flush()
    _audit(session, principal, macro, "create")
    return macro


def update_macro(session: Session, *, principal: Principal, macro: Macro, spec: MacroSpec) -> Macro:
    """Replace what a macro does. Audited."""
    values = _checked(session, macro.workspace_id, spec)
    _refuse_taken(session, macro.workspace_id, values["name"], macro.id)
    for name, value in values.items():
        setattr(macro, name, value)
    session.flush()
    _audit(session, principal, macro, "update")
    return macro


def delete_macro(session: Session, *, principal: Principal, macro: Macro) -> None:
    """Remove a macro. Audited."""
    _audit(session, principal, macro, "delete")
    session.delete(macro)
    session.flush()


def get_macro(session: Session, *, workspace_id: int, macro_id: int) -> Macro:
    macro = session.scalar(
        select(Macro).where(Macro.id == macro_id, Macro.workspace_id == workspace_id)
    )
    if macro is None:
        raise NotFound(f"No macro with id {macro_id} in this workspace.")
    return macro


def page_macros(
    session: Session, *, workspace_id: int, cursor: str | None = None, limit: int = 50
) -> tuple[list[Macro], str | None]:
    """A page of the workspace's macros, newest first, and the next page's cursor."""
    return newest_first(
        session,
        select(Macro).where(Macro.workspace_id == workspace_id),
        time=Macro.created_at,
        id=Macro.id,
        cursor=cursor,
        limit=max(1, min(limit, 200)),
    )


def list_macros(session: Session, *, workspace_id: int) -> list[Macro]:
    """The workspace's macros by name (a workspace keeps a short list of them)."""
    return list(
        session.scalars(
            select(Macro)
            .where(Macro.workspace_id == workspace_id)
            .order_by(Macro.name, Macro.id)
            .limit(PAGE_LIMIT)
        )
    )


# --- applying one ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    conversation: Conversation
    reply: ConversationMessage | None


def _assignee(macro: Macro, principal: Principal) -> dict[str, Any]:
    if macro.assign_mode == "me":
        if principal.user_id is None:
            raise _invalid(
                "assign_mode",
                "no member behind an API key",
                "This macro assigns to whoever applies it; an API key is nobody.",
            )
        return {"assignee_id": principal.user_id}
    if macro.assign_mode == "nobody":
        return {"assignee_id": None}
    if macro.assign_mode == "user":
        if macro.assignee_id is None:  # the member left the workspace
            raise _invalid("assignee_id", "not a member", "The macro's assignee is gone.")
        return {"assignee_id": macro.assignee_id}
    return {}


def apply_macro(
    session: Session,
    *,
    conversation: Conversation,
    macro: Macro,
    principal: Principal,
    values: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Applied:
    """Do what the macro says to the conversation, each action once: the reply first (its
    variables filled, ``values`` for those the conversation does not know; MissingVariables
    when some stay empty), then tags, priority, team, assignee and status together (the
    macro's status wins over the "pending" a reply sets)."""
    now = now or utcnow()
    changes = _assignee(macro, principal)
    reply = None
    if macro.canned_reply_id is not None:
        canned = canned_replies.get_canned(
            session, workspace_id=conversation.workspace_id, canned_id=macro.canned_reply_id
        )
        rendered = canned_replies.render_for(
            session, canned=canned, conversation=conversation, principal=principal, values=values
        )
        if rendered.missing:
            raise MissingVariables(rendered.missing)
        reply = service.reply(
            session, conversation=conversation, principal=principal, text=rendered.text, now=now
        )
        reply.details = {**(reply.details or {}), "macro_id": macro.id}
    if macro.add_tags or macro.remove_tags:
        removed = set(macro.remove_tags)
        kept = [t for t in conversation.tags if t not in removed]
        changes["tags"] = kept + [t for t in macro.add_tags if t not in kept]
    if macro.team is not None:
        conversation.team = macro.team
    if macro.status is not None:
        changes["status"] = macro.status
        if macro.status == "snoozed":
            changes["snoozed_until"] = now + timedelta(minutes=macro.snooze_minutes or 60)
    service.update_conversation(
        session,
        conversation=conversation,
        priority=macro.priority,
        now=now,
        actor_id=principal.user_id,
        **changes,
    )
    return Applied(conversation=conversation, reply=reply)
