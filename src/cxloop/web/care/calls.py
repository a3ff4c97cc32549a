"""The customer's conversations on their 360 page, and the form agents log a phone call with
("전화 기록 / Log a call"): direction, duration, notes and outcome, taken or placed by the
signed-in agent, logged in a phone inbox as an imported call would be."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from cxloop.accounts.access import require
from cxloop.care import phone
from cxloop.care import service as care
from cxloop.care.social import ItemError
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.timeutil import utcnow
from cxloop.models import CareInbox, Customer
from cxloop.profiles import service as profiles
from cxloop.web import errors
from cxloop.web.rendering import redirect
from cxloop.web.session import Page, WebContext, flash_text, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

Text = Annotated[str, Form()]
CONVERSATIONS_SHOWN = 10
MAX_ID = 2**53
MAX_MINUTES = phone.MAX_DURATION // 60


def phone_inboxes(page: WebContext) -> list[CareInbox]:
    return [
        i
        for i in care.list_inboxes(page.db, workspace_id=page.workspace.id)
        if i.channel == "phone" and i.active
    ]


def customer_care(page: WebContext, customer: Customer) -> dict[str, Any]:
    """What the customer page shows of care: the latest conversations (on every channel) and,
    for agents, the call form with a fresh id (a form sent twice logs one call)."""
    if not page.can("care:work"):
        return {"care_conversations": None}
    rows, _cursor = care.list_conversations(
        page.db,
        workspace_id=page.workspace.id,
        filters=care.ConversationFilter(customer_id=customer.id),
        limit=CONVERSATIONS_SHOWN,
    )
    return {
        "care_conversations": rows,
        "phone_inboxes": phone_inboxes(page),
        "call_id": secrets.token_urlsafe(12),
        "call_outcomes": phone.OUTCOMES,
    }


def duration_seconds(text: str) -> int | None:
    """``m:ss`` or whole minutes, as seconds; None when it is neither (or over a day)."""
    value = text.strip()
    minutes, _, seconds = value.partition(":")
    if not minutes.isdigit() or len(minutes) > 4:
        return None
    if seconds and (not seconds.isdigit() or len(seconds) != 2 or int(seconds) > 59):
        return None
    total = int(minutes) * 60 + (int(seconds) if seconds else 0)
    return total if total <= phone.MAX_DURATION else None


@router.post("/customers/{customer_id:int}/calls")
def log_call(
    page: Page,
    customer_id: int,
    inbox_id: Text = "",
    call_id: Text = "",
    direction: Text = "in",
    duration: Text = "",
    notes: Text = "",
    outcome: Text = "follow_up",
) -> Response:
    """Log a call with this customer, taken or placed by the signed-in agent."""
    require(page.principal, "care:work")
    if not 0 < customer_id <= MAX_ID:
        raise NotFound(f"No customer with id {customer_id}.")
    customer = profiles.get_customer(
        page.db, workspace_id=page.workspace.id, customer_id=customer_id
    )
    inboxes = {str(i.id): i for i in phone_inboxes(page)}
    inbox = inboxes.get(inbox_id.strip()) or (next(iter(inboxes.values())) if inboxes else None)
    seconds = duration_seconds(duration)
    try:
        if inbox is None:
            raise Conflict(page.t("care_phone.err.no_inbox"))
        if seconds is None:
            raise ValidationFailed(page.t("care_phone.err.duration"))
        call = phone.parse_call(
            {
                "call_id": f"web:{call_id.strip()[:80] or secrets.token_urlsafe(12)}",
                "phone": customer.phone or "",
                "started_at": (utcnow() - timedelta(seconds=seconds)).isoformat(),
                "duration": str(seconds),
                "direction": direction.strip()[:8],
                "notes": notes[: phone.MAX_NOTES],
                "outcome": outcome.strip()[:16],
            },
            zone=ZoneInfo("UTC"),
            phone_required=False,
        )
        with page.db.begin_nested():
            received = phone.log_call(
                page.db, inbox=inbox, call=call, customer=customer, agent_id=page.principal.user_id
            )
    except ItemError as exc:
        flash_text(page.request, "error", str(exc))
    except (ValidationFailed, Conflict) as exc:
        flash_text(page.request, "error", errors.describe(page.locale, exc))
    else:
        key = "care_phone.logged" if received.created else "care_phone.already_logged"
        page.flash("success", key, id=received.conversation.id)
    return redirect(f"/customers/{customer.id}#care")
