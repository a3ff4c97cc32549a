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

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.dependencies import workspace_for_write_key, write_key_from
from cxloop.core.errors import AuthenticationFailed, CxloopError, NotFound, ValidationFailed
from cxloop.core.http import client_address, database_of
from cxloop.core.i18n import format_date, format_number, gettext, normalise_locale
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.loyalty import goals, leaderboard, ledger, members, redemptions, rewards
from cxloop.loyalty.program import Program, load_programs
from cxloop.models import LoyaltyMember
from cxloop.profiles.service import find_customer
from cxloop.web.widgets import (
    CORS,
    script_response,
    verified_user_id,
    widget_answer,
    widget_body,
    widget_problem,
)

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
        "rewards": gettext(lang, "loyalty_widget.rewards"),
        "redeem": gettext(lang, "loyalty_widget.redeem"),
        "code": gettext(lang, "loyalty_widget.code"),
        "failed": gettext(lang, "loyalty_widget.failed"),
        "sign_in": gettext(lang, "loyalty_widget.sign_in"),
        "not_member": gettext(lang, "loyalty_widget.not_member"),
        "leaderboard": gettext(lang, "loyalty_widget.leaderboard"),
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


@router.options("/widget/v1/loyalty/{path:path}")
def preflight(path: str) -> Response:
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
        # What the member may spend points on now, and whether they have enough.
        "rewards": [
            {
                "key": reward.key,
                "name": (reward.name_ko if lang == "ko" else reward.name_en)
                or reward.name_ko
                or reward.name_en,
                "cost": format_number(reward.cost, lang),
                "affordable": reward.cost
                <= (found[reward.point_type].available if reward.point_type in found else 0),
            }
            for reward in _catalogue(session, program, member)
        ],
        "leaderboard": _board(session, program, member, lang, now)
        if program.program.leaderboard
        else None,
        "latest": [
            {
                "date": format_date(entry.occurred_at, lang, zone),
                "what": kinds.get(entry.kind, entry.kind),
                "points": ("+" if entry.amount > 0 else "") + format_number(entry.amount, lang),
            }
            for entry, _rule in entries
        ],
    }


def _board(
    session: Session, program: Program, member: LoyaltyMember, lang: str, now: datetime
) -> dict[str, Any]:
    """The month's top earners under masked names (the member's own line marked), and where
    the member stands."""
    board = leaderboard.cached_board(session, program, now=now)
    standing = leaderboard.rank_of(session, program, member, now=now)
    return {
        "leaders": [
            {
                "rank": leader.rank,
                "name": leader.masked or gettext(lang, "loyalty_widget.a_member"),
                "points": format_number(leader.points, lang),
                "you": leader.member_id == member.id,
            }
            for leader in board.leaders
        ],
        "you": gettext(
            lang,
            "loyalty_widget.your_rank",
            rank=format_number(standing[0], lang),
            points=format_number(standing[1], lang),
        )
        if standing is not None
        else None,
    }


def _catalogue(session: Session, program: Program, member: LoyaltyMember) -> list[Any]:
    shown, _ = rewards.list_rewards(session, workspace_id=program.program.workspace_id, limit=20)
    return [r for r in shown if redemptions.open_to(program, r, member)]


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


class RedeemIn(BaseModel):
    write_key: str = Field(alias="writeKey", min_length=1, max_length=200)
    user_id: str = Field(alias="userId", min_length=1, max_length=MAX_ID)
    user_hash: str = Field(alias="userHash", min_length=1, max_length=200)
    reward: str = Field(min_length=1, max_length=40)
    idempotency_key: str = Field(alias="idempotencyKey", min_length=8, max_length=128)
    locale: str | None = Field(default=None, max_length=35)


@router.post("/widget/v1/loyalty/redemptions")
async def redeem(request: Request) -> Response:
    """Spend the signed-in shopper's points on a reward; answers its code. The same
    ``idempotencyKey`` again answers the same redemption (a double click spends once)."""
    settings: Settings = request.app.state.settings
    database = database_of(request)
    try:
        body: RedeemIn = await widget_body(request, RedeemIn, limit=4096, what="loyalty widget")
    except CxloopError as exc:
        return widget_problem(request, exc)

    def work() -> dict[str, Any]:
        with database.session() as session:
            _key, workspace = workspace_for_write_key(session, body.write_key)
            user_id = verified_user_id(request, workspace, body.user_id, body.user_hash)
            if user_id is None:
                raise AuthenticationFailed("Sign in to spend points (the userHash did not match).")
            program = load_programs(session, workspace_ids=[workspace.id]).get(workspace.id)
            customer = find_customer(
                session, workspace_id=workspace.id, kind="user_id", value=user_id
            )
            if program is None or customer is None:
                raise NotFound("Nothing to spend yet: no membership points.")
            reward = rewards.find_reward(session, workspace_id=workspace.id, key=body.reward)
            shopper = Principal(
                workspace_id=workspace.id,
                role="customer",
                label=f"member widget (customer {customer.id})",
                ip=client_address(request),
            )
            redemption = redemptions.redeem_reward(
                session,
                principal=shopper,
                program=program,
                customer_id=customer.id,
                reward=reward,
                idempotency_key=f"widget:{customer.id}:{body.idempotency_key}",
            )
            lang = normalise_locale(body.locale)
            member = members.member_of(session, program=program, customer_id=customer.id)
            assert member is not None
            return {
                "code": redemption.code,
                "reward": (reward.name_ko if lang == "ko" else reward.name_en)
                or reward.name_ko
                or reward.name_en,
                "member": _member_view(session, program, member, lang),
                "message": gettext(lang, "loyalty_widget.redeemed"),
            }

    return await widget_answer(
        request, work, rule=settings.survey_client_limit, name="loyalty-client", status=201
    )
