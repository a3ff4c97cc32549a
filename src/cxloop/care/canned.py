"""Canned replies: text an agent inserts by name or shortcut (``/배송``), in Korean or English,
with variables filled for the conversation at hand.

A body is plain text. ``{{customer.name}}`` and the other names in ``VARIABLES`` are the only
things between double braces a body may hold (anything else is refused when it is saved), and
rendering is a substitution of those names, never the evaluation of a template: no code a body
holds ever runs. A variable this conversation has no value for (a customer without orders) is
left in the text and listed as missing, so the agent is asked to fill it in before sending.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.i18n import format_date, format_money
from cxloop.core.pagination import newest_first
from cxloop.core.timeutil import KST
from cxloop.events.service import customer_orders
from cxloop.models import CannedReply, Conversation, Customer, User, Workspace
from cxloop.models.care_replies import CANNED_LANGUAGES
from cxloop.profiles.contact import display_phone

# What a body may name, each filled from the conversation: its customer, the customer's latest
# order, the agent who replies, the workspace.
VARIABLES = (
    "customer.name",
    "customer.email",
    "customer.phone",
    "order.number",
    "order.date",
    "order.total",
    "agent.name",
    "agent.email",
    "workspace.name",
)
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_]+\.[A-Za-z_]+)\s*\}\}")
_BRACES = re.compile(r"\{\{(.{0,200}?)\}\}", re.S)
_SHORTCUT = re.compile(r"^/[^\s/]{1,63}$")
MAX_BODY = 20_000
MAX_VALUE = 500
PICKER_LIMIT = 200


@dataclass(frozen=True)
class Rendered:
    text: str
    missing: list[str]


def _invalid(field: str, message: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": message}])


def storable_text(field: str, value: str) -> str:
    """``value`` when every database can store it; ValidationFailed for a NUL character."""
    if "\x00" in value:
        raise _invalid(field, "no NUL characters", f"{field} must not contain NUL characters.")
    return value


def check_body(body: str) -> str:
    """The body, stripped; ValidationFailed when it is empty, too long, or holds anything
    between double braces that is not one of ``VARIABLES``."""
    text = storable_text("body", (body or "").strip())
    if not text:
        raise _invalid("body", "empty", "A canned reply needs a body.")
    if len(text) > MAX_BODY:
        raise _invalid("body", f"at most {MAX_BODY:,} characters", "The body is too long.")
    unknown = [
        m.group(0)
        for m in _BRACES.finditer(text)
        if (v := _VARIABLE.fullmatch(m.group(0))) is None or v.group(1) not in VARIABLES
    ]
    if unknown or text.count("{{") != len(_BRACES.findall(text)):
        shown = ", ".join(dict.fromkeys(unknown)) or "{{"
        raise _invalid(
            "body",
            f"unknown variable: {shown[:200]}",
            f"Between {{{{ and }}}} a body holds only these variables: {', '.join(VARIABLES)}.",
        )
    return text


def variables_in(body: str) -> list[str]:
    """The variables a body uses, in order of first use."""
    return list(
        dict.fromkeys(m.group(1) for m in _VARIABLE.finditer(body) if m.group(1) in VARIABLES)
    )


def render_text(body: str, values: Mapping[str, str | None]) -> Rendered:
    """Put each variable's value in its place; a variable without a value stays as it is and
    is named in ``missing``. Nothing else in the body changes and nothing in it is run."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in VARIABLES:
            return match.group(0)
        value = (values.get(name) or "").strip()
        if not value:
            if name not in missing:
                missing.append(name)
            return "{{" + name + "}}"
        return value

    return Rendered(text=_VARIABLE.sub(fill, body), missing=missing)


def clean_values(values: Mapping[str, Any] | None) -> dict[str, str]:
    """What an agent typed for missing variables: known names only, one line each."""
    cleaned: dict[str, str] = {}
    for name, value in (values or {}).items():
        if name in VARIABLES and isinstance(value, str):
            line = " ".join(value.replace("\x00", "").split())[:MAX_VALUE]
            if line:
                cleaned[name] = line
    return cleaned


def conversation_values(
    session: Session, *, conversation: Conversation, principal: Principal, language: str
) -> dict[str, str]:
    """The value of each variable this conversation knows (an unknown one is absent)."""
    values: dict[str, str] = {}
    workspace = session.get(Workspace, conversation.workspace_id)
    zone: tzinfo = KST
    if workspace is not None:
        values["workspace.name"] = workspace.name
        with suppress(ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(workspace.timezone or "Asia/Seoul")
    customer = session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    if customer is not None and customer.erased_at is None:
        values["customer.name"] = customer.display_name or ""
        values["customer.email"] = customer.email or ""
        values["customer.phone"] = display_phone(customer.phone) if customer.phone else ""
        orders, _ = customer_orders(
            session, workspace_id=conversation.workspace_id, customer_id=customer.id, limit=1
        )
        if orders:
            order = orders[0]
            values["order.number"] = order.external_id
            values["order.date"] = format_date(order.placed_at, language, zone)
            values["order.total"] = format_money(order.total, order.currency, language)
    if principal.user_id is not None:
        agent = session.get(User, principal.user_id)
        if agent is not None:
            values["agent.name"] = agent.display_name or ""
            values["agent.email"] = agent.email
    return {k: v for k, v in values.items() if v}


def render_for(
    session: Session,
    *,
    canned: CannedReply,
    conversation: Conversation,
    principal: Principal,
    values: Mapping[str, Any] | None = None,
) -> Rendered:
    """The canned reply's text for this conversation; ``values`` (what the agent typed) fill
    what the conversation does not know, or replace what it does."""
    known = conversation_values(
        session, conversation=conversation, principal=principal, language=canned.language
    )
    return render_text(canned.body, {**known, **clean_values(values)})


# --- keeping them ------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    clean = storable_text("name", " ".join((name or "").split()))
    if not 1 <= len(clean) <= 200:
        raise _invalid("name", "1 to 200 characters", "A canned reply needs a name.")
    return clean


def clean_shortcut(shortcut: str) -> str:
    """``/배송`` (a leading slash is added when missing); ValidationFailed for spaces or a
    second slash."""
    value = storable_text("shortcut", (shortcut or "").strip())
    if value and not value.startswith("/"):
        value = "/" + value
    if not _SHORTCUT.match(value):
        raise _invalid(
            "shortcut",
            "a slash and 1 to 63 characters without spaces",
            "A shortcut is a slash and a word without spaces, e.g. /배송.",
        )
    return value


def _clean_language(language: str) -> str:
    if language not in CANNED_LANGUAGES:
        raise _invalid("language", "ko or en", "language must be ko or en.")
    return language


def _clean_team(team: str) -> str:
    clean = storable_text("team", " ".join((team or "").split()))
    if len(clean) > 64:
        raise _invalid("team", "at most 64 characters", "A team name is at most 64 characters.")
    return clean


def _refuse_taken(
    session: Session, workspace_id: int, shortcut: str, language: str, own_id: int | None
) -> None:
    taken = session.scalar(
        select(CannedReply.id).where(
            CannedReply.workspace_id == workspace_id,
            CannedReply.shortcut == shortcut,
            CannedReply.language == language,
        )
    )
    if taken is not None and taken != own_id:
        raise Conflict(f"The shortcut {shortcut} is already used by another {language} reply.")


def _audit(session: Session, principal: Principal, canned: CannedReply, action: str) -> None:
    record_audit(
        session,
        principal=principal,
        action=f"care.canned_{action}",
        target_type="care_canned_reply",
        target_id=canned.id,
        detail={"name": canned.name, "shortcut": canned.shortcut},
    )


def create_canned(
    session: Session,
    *,
    principal: Principal,
    name: str,
    shortcut: str,
    language: str,
    body: str,
    team: str = "",
) -> CannedReply:
    """Keep a new canned reply for the workspace. Audited."""
    canned = CannedReply(
        workspace_id=principal.workspace_id,
        name=_clean_name(name),
        shortcut=clean_shortcut(shortcut),
        language=_clean_language(language),
        body=check_body(body),
        team=_clean_team(team),
    )
    _refuse_taken(session, principal.workspace_id, canned.shortcut, canned.language, None)
    session.add(canned)
    session.flush()
    _audit(session, principal, canned, "create")
    return canned


def update_canned(
    session: Session,
    *,
    principal: Principal,
    canned: CannedReply,
    name: str | None = None,
    shortcut: str | None = None,
    language: str | None = None,
    body: str | None = None,
    team: str | None = None,
) -> CannedReply:
    """Change a canned reply (what is None stays). Audited."""
    new_shortcut = clean_shortcut(shortcut) if shortcut is not None else canned.shortcut
    new_language = _clean_language(language) if language is not None else canned.language
    _refuse_taken(session, canned.workspace_id, new_shortcut, new_language, canned.id)
    if name is not None:
        canned.name = _clean_name(name)
    if body is not None:
        canned.body = check_body(body)
    if team is not None:
        canned.team = _clean_team(team)
    canned.shortcut, canned.language = new_shortcut, new_language
    session.flush()
    _audit(session, principal, canned, "update")
    return canned


def delete_canned(session: Session, *, principal: Principal, canned: CannedReply) -> None:
    """Remove a canned reply (macros that used it keep their other actions). Audited."""
    _audit(session, principal, canned, "delete")
    session.delete(canned)
    session.flush()


def get_canned(session: Session, *, workspace_id: int, canned_id: int) -> CannedReply:
    canned = session.scalar(
        select(CannedReply).where(
            CannedReply.id == canned_id, CannedReply.workspace_id == workspace_id
        )
    )
    if canned is None:
        raise NotFound(f"No canned reply with id {canned_id} in this workspace.")
    return canned


def list_canned(
    session: Session,
    *,
    workspace_id: int,
    language: str | None = None,
    team: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[CannedReply], str | None]:
    """A page of the workspace's canned replies, newest first, and the next page's cursor."""
    query = select(CannedReply).where(CannedReply.workspace_id == workspace_id)
    if language is not None:
        query = query.where(CannedReply.language == language)
    if team is not None:
        query = query.where(CannedReply.team == team)
    return newest_first(
        session,
        query,
        time=CannedReply.created_at,
        id=CannedReply.id,
        cursor=cursor,
        limit=max(1, min(limit, 200)),
    )


def offered(session: Session, *, workspace_id: int, teams: Sequence[str]) -> list[CannedReply]:
    """The canned replies an agent picks from: every team's and those of ``teams``, by
    language and name."""
    return list(
        session.scalars(
            select(CannedReply)
            .where(
                CannedReply.workspace_id == workspace_id,
                or_(CannedReply.team == "", CannedReply.team.in_([t for t in teams if t])),
            )
            .order_by(CannedReply.language, CannedReply.name, CannedReply.id)
            .limit(PICKER_LIMIT)
        )
    )


def by_shortcut(
    replies: Sequence[CannedReply], shortcut: str, language: str = ""
) -> CannedReply | None:
    """The reply among ``replies`` with ``shortcut``, in ``language`` when there are two."""
    matches = [r for r in replies if r.shortcut == shortcut.strip()]
    return next((r for r in matches if r.language == language), matches[0] if matches else None)
