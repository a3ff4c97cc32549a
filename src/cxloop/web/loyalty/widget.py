"""The embeddable member widget: the script (``/widget/loyalty.js``) and the call it makes,
``GET /widget/v1/loyalty/member``: the signed-in shopper's points, tier, progress to the next
tier and latest ledger entries, in Korean or English.

Embed: ``<script src="https://cxloop.example/widget/loyalty.js" data-write-key="WK"
data-user-id="…" data-user-hash="…" async>``, with ``<div id="cxloop-loyalty">`` where the
panel goes. The write key is public, so a member's points are shown only for a ``userId``
with its ``userHash`` (an HMAC of the user id under the workspace's identity secret, made by the
shop's server); without it the widget says to sign in, and nothing tells whether such a member
exists. Calls count against the client address's limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from cxloop.accounts.dependencies import workspace_for_write_key, write_key_from
from cxloop.core.errors import AuthenticationFailed, ValidationFailed
from cxloop.core.http import database_of
from cxloop.core.i18n import format_date, format_number, gettext, normalise_locale
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.loyalty import goals, ledger, members
from cxloop.loyalty.program import Program, load_programs
from cxloop.models import LoyaltyMember
from cxloop.profiles.service import find_customer
from cxloop.web.widgets import CORS, script_response, verified_user_id, widget_answer

router = APIRouter(include_in_schema=False)

SCRIPT = Path(__file__).resolve().parent.parent / "static" / "loyalty-widget.js"
MAX_ID = 320
LATEST = 5


def _labels(lang: str) -> dict[str, str]:
    return {
        "title": gettext(lang, "loyalty_widget.title"),
        "available": gettext(lang, "loyalty_widget.available"),
        "pending": gettext(lang, "loyalty_widget.pending"),
        "expiring": gettext(lang, "loyalty_widget.expiring"),
        "latest": gettext(lang, "loyalty_widget.latest"),
        "badges": gettext(lang, "loyalty_widget.badges"),
        "challenges": gettext(lang, "loyalty_widget.challenges"),
        "sign_in": gettext(lang, "loyalty_widget.sign_in"),
        "not_member": gettext(lang, "loyalty_widget.not_member"),
    }


def _kinds(lang: str) -> dict[str, str]:
    """What each kind of ledger entry is called to the member."""
    return {
        "earn": gettext(lang, "loyalty_widget.kind_earn"),
        "redeem": gettext(lang, "loyalty_widget.kind_redeem"),
        "expire": gettext(lang, "loyalty_widget.kind_expire"),
        "adjust": gettext(lang, "loyalty_widget.kind_adjust"),
        "reverse": gettext(lang, "loyalty_widget.kind_reverse"),
        "refund": gettext(lang, "loyalty_widget.kind_refund"),
    }


@router.get("/widget/loyalty.js")
def loyalty_script() -> Response:
    """The widget script: small, dependency-free, cacheable for an hour."""
    return script_response(SCRIPT.read_bytes())


@router.options("/widget/v1/loyalty/member")
def preflight() -> Response:
    return Response(status_code=204, headers=CORS)


def _member_view(
    session: Session, program: Program, member: LoyaltyMember, lang: str
) -> dict[str, Any]:
    now = utcnow()
    kinds = _kinds(lang)
    found = ledger.balances(session, member_id=member.id, now=now)
    progress = members.progress_of(session, program=program, member=member, now=now)
    entries, _ = members.ledger_page(session, member=member, cursor=None, limit=LATEST)
    reached = goals.progress_of(session, program=program, member_id=member.id, now=now)
    zone = program.zone
    return {
        "tier": (progress.tier.name or progress.tier.key) if progress.tier else None,
        "progress": members.progress_words(progress, currency=program.program.currency, lang=lang),
        "balances": [
            {
                "point_type": point_type,
                "available": format_number(found[point_type].available, lang)
                if point_type in found
                else "0",
                "pending": format_number(found[point_type].pending, lang)
                if point_type in found
                else "0",
                "expiring": format_number(found[point_type].expiring, lang)
                if point_type in found
                else "0",
            }
            for point_type in program.program.point_types
        ],
        # Badges earned, and challenges under way with how far along the member is.
        "badges": [g.goal.name for g in reached if g.completed_at is not None],
        "challenges": [
            {"name": g.goal.name, "done": g.done, "needed": g.needed}
            for g in reached
            if g.completed_at is None and g.goal.kind == "challenge"
        ],
        "latest": [
            {
                "date": format_date(entry.occurred_at, lang, zone),
                "what": kinds.get(entry.kind, entry.kind),
                "points": ("+" if entry.amount > 0 else "") + format_number(entry.amount, lang),
            }
            for entry, _rule in entries
        ],
    }


@router.get("/widget/v1/loyalty/member")
async def member_panel(request: Request) -> Response:
    """The signed-in shopper's points and tier (``member`` is null when not verified or not a
    member)."""
    settings: Settings = request.app.state.settings
    database = database_of(request)

    def work() -> dict[str, Any]:
        params = request.query_params
        key = write_key_from(request, params.get("writeKey"))
        if not key:
            raise AuthenticationFailed("Send the workspace's write key (writeKey or Basic auth).")
        user_id = (params.get("userId") or "").strip() or None
        if user_id is not None and len(user_id) > MAX_ID:
            raise ValidationFailed(
                "A visitor id is too long.",
                errors=[{"field": "userId", "message": f"must be at most {MAX_ID} characters"}],
            )
        with database.read_session() as session:
            _key, workspace = workspace_for_write_key(session, key)
            user_id = verified_user_id(request, workspace, user_id, params.get("userHash"))
            lang = normalise_locale(params.get("locale"))
            program = load_programs(session, workspace_ids=[workspace.id]).get(workspace.id)
            body: dict[str, Any] = {
                "lang": lang,
                "verified": user_id is not None,
                "program": program.program.name if program else None,
                "member": None,
                "labels": _labels(lang),
            }
            if program is None or user_id is None:
                return body
            customer = find_customer(
                session, workspace_id=workspace.id, kind="user_id", value=user_id
            )
            member = (
                members.member_of(session, program=program, customer_id=customer.id)
                if customer is not None
                else None
            )
            if member is not None:
                body["member"] = _member_view(session, program, member, lang)
            return body

    return await widget_answer(
        request, work, rule=settings.survey_client_limit, name="loyalty-client"
    )
