"""Loyalty members: the list (/loyalty/members, by tier, a page at a time), the member block of
the customer page (tier, progress to the next tier in words, balances, the ledger newest first)
and points added or deducted by hand after a confirming second submit (``loyalty:write``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from cxloop.accounts.access import require
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.timeutil import utcnow
from cxloop.loyalty import ledger, members, reports
from cxloop.loyalty.members import Progress
from cxloop.loyalty.program import Program
from cxloop.loyalty.schemas import AdjustIn
from cxloop.models import Customer, LoyaltyMember, LoyaltyTier
from cxloop.profiles.service import get_customer
from cxloop.web import errors
from cxloop.web.loyalty.program_form import refusal_words
from cxloop.web.rendering import Formatter, link, redirect, render, zone
from cxloop.web.session import Page, WebContext, flash_text, verify_csrf

router = APIRouter(prefix="/loyalty", include_in_schema=False, dependencies=[Depends(verify_csrf)])

LEDGER_PAGE = 10
MEMBERS_PAGE = 50
MAX_ID = 2**53
LEDGER_KINDS = ("earn", "redeem", "expire", "adjust", "reverse")
DIRECTIONS = ("add", "deduct")


async def _posted(request: Request) -> FormData:
    """The form of the request (already read, and cached, by the CSRF check)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted)]


def tier_name(tier: LoyaltyTier | None) -> str | None:
    return (tier.name or tier.key) if tier is not None else None


def _formatter(page: WebContext) -> Formatter:
    return Formatter(page.locale, zone(page.workspace.timezone))


def progress_line(page: WebContext, program: Program, progress: Progress) -> str:
    """Where the member stands, in words: "Gold까지 ₩120,000 남음", or that they are at the top."""
    words = members.progress_words(progress, currency=program.program.currency, lang=page.locale)
    if words is not None:
        return words
    return page.t("loyalty_pages.member.top") if progress.tier is not None else ""


@dataclass(frozen=True)
class BalanceLine:
    point_type: str
    available: int
    pending: int
    expiring: int


@dataclass(frozen=True)
class TierLine:
    changed_at: datetime
    from_tier: str | None
    to_tier: str | None
    reason: str  # upgrade | downgrade
    measured: str  # what was measured, in words


def _tier_lines(page: WebContext, program: Program, member: LoyaltyMember) -> list[TierLine]:
    lines = []
    for change, before, after in members.tier_history(page.db, program=program, member=member):
        measured_by = after or before
        lines.append(
            TierLine(
                change.changed_at,
                tier_name(before),
                tier_name(after),
                change.reason,
                members.measure_words(
                    measured_by.measure,
                    change.measured,
                    currency=program.program.currency,
                    lang=page.locale,
                )
                if measured_by is not None
                else "",
            )
        )
    return lines


def _cursor(page: WebContext, name: str) -> str | None:
    value = page.request.query_params.get(name, "")
    return value[:500] or None


def customer_loyalty(page: WebContext, customer: Customer) -> dict[str, Any]:
    """What the customer page shows of loyalty (nothing for a role that may not read it)."""
    if not page.can("loyalty:read"):
        return {"loyalty_panel": False}
    try:
        program = members.active_program(page.db, workspace_id=page.workspace.id)
    except NotFound:
        return {"loyalty_panel": True, "loyalty_program": None}
    values: dict[str, Any] = {
        "loyalty_panel": True,
        "loyalty_program": program.program,
        "loyalty_member": None,
        "loyalty_point_types": list(program.program.point_types),
        "loyalty_adjust_key": secrets.token_urlsafe(16),
        "loyalty_can_adjust": page.can("loyalty:write") and customer.erased_at is None,
    }
    member = members.member_of(page.db, program=program, customer_id=customer.id)
    if member is None:
        return values
    now = utcnow()
    found = ledger.balances(page.db, member_id=member.id, now=now)
    progress = members.progress_of(page.db, program=program, member=member, now=now)
    cursor = _cursor(page, "points_cursor")
    entries, next_cursor = members.ledger_page(
        page.db, member=member, cursor=cursor, limit=LEDGER_PAGE
    )
    balances = []
    for point_type in program.program.point_types:
        balance = found.get(point_type)
        balances.append(
            BalanceLine(
                point_type,
                balance.available if balance else 0,
                balance.pending if balance else 0,
                balance.expiring if balance else 0,
            )
        )
    values.update(
        loyalty_member=member,
        loyalty_tier_history=_tier_lines(page, program, member),
        loyalty_tier=tier_name(progress.tier),
        loyalty_tier_until=progress.tier_until,
        loyalty_progress=progress_line(page, program, progress),
        loyalty_balances=balances,
        loyalty_ledger=entries,
        loyalty_cursor=cursor,
        loyalty_next=next_cursor,
    )
    return values


# --- points by hand ----------------------------------------------------------------------------


def _to_customer(customer_id: int) -> Response:
    return redirect(f"/customers/{customer_id}#loyalty")


def _field(form: FormData, name: str, limit: int = 400) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


@router.post("/members/{customer_id:int}/adjust")
def adjust_points(page: Page, customer_id: int, posted: PostedForm) -> Response:
    """Add or deduct points with a reason: the first submit asks to confirm, the second
    (``confirm=1``) adjusts once (the form's key makes a repeated submit a no-op)."""
    require(page.principal, "loyalty:write")
    if not 0 < customer_id <= MAX_ID:
        raise NotFound(f"No customer with id {customer_id}.")
    customer = get_customer(page.db, workspace_id=page.workspace.id, customer_id=customer_id)
    program = members.active_program(page.db, workspace_id=page.workspace.id)
    try:
        asked = AdjustIn(
            direction=_field(posted, "direction") or "add",
            points=_field(posted, "points", 20) or 0,
            reason=_field(posted, "reason"),
            point_type=_field(posted, "point_type", 40) or program.program.point_types[0],
            idempotency_key=_field(posted, "key", 128) or None,
        )
    except ValidationError as exc:
        flash_text(page.request, "error", " ".join(refusal_words(exc, page.t)))
        return _to_customer(customer.id)
    if posted.get("confirm") != "1":
        return render(
            page.request,
            "loyalty/adjust_confirm.html",
            page=page,
            section="customers",
            customer=customer,
            asked=asked,
        )
    try:
        with page.db.begin_nested():  # a refused deduction enrols nobody
            members.adjust_points(
                page.db,
                principal=page.principal,
                program=program,
                customer_id=customer.id,
                points=asked.points if asked.direction == "add" else -asked.points,
                point_type=asked.point_type,
                reason=asked.reason,
                idempotency_key=asked.idempotency_key,
            )
    except ValidationFailed as exc:
        flash_text(page.request, "error", errors.describe(page.locale, exc))
        return _to_customer(customer.id)
    fmt = _formatter(page)
    if asked.direction == "add":
        page.flash("success", "loyalty_pages.adjust.added", n=fmt.number(asked.points))
    else:
        page.flash("success", "loyalty_pages.adjust.deducted", n=fmt.number(asked.points))
    return _to_customer(customer.id)


# --- the list ----------------------------------------------------------------------------------


@router.get("/members")
def members_list(page: Page, tier: str = "", cursor: str = "") -> Response:
    """The program's members, newest first, of one tier when asked."""
    require(page.principal, "loyalty:read")
    values: dict[str, Any] = {
        "loyalty_tab": "members",
        "program": None,
        "tiers": [],
        "rows": [],
        "next_cursor": None,
        "tier": "",
        "cursor": "",
        "problem": "",
    }
    try:
        program = members.active_program(page.db, workspace_id=page.workspace.id)
    except NotFound:
        return render(page.request, "loyalty/members.html", page=page, section="loyalty", **values)
    tiers = {t.key: t for t in program.tiers}
    chosen = tiers.get(tier.strip())
    if tier and chosen is None:
        values["problem"] = page.t("loyalty_pages.members.no_tier", tier=tier[:40])
    rows, next_cursor = reports.members_page(
        page.db,
        workspace_id=page.workspace.id,
        program_id=program.program.id,
        tier_id=chosen.id if chosen else None,
        cursor=cursor[:500] or None,
        limit=MEMBERS_PAGE,
        now=utcnow(),
    )
    values.update(
        program=program.program,
        tiers=[(t.key, tier_name(t)) for t in program.tiers],
        tier_names={t.id: tier_name(t) for t in program.tiers},
        rows=rows,
        next_cursor=next_cursor,
        tier=chosen.key if chosen else "",
        cursor=cursor[:500],
        first_url=link("/loyalty/members", tier=chosen.key if chosen else None),
    )
    return render(page.request, "loyalty/members.html", page=page, section="loyalty", **values)
