"""Loyalty over HTTP: the program's settings, a member's balances, tier progress and ledger,
and points added, taken or spent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as FastPath
from sqlalchemy.orm import Session

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.core.errors import NotFound
from cxloop.core.timeutil import utcnow
from cxloop.loyalty import goals, leaderboard, ledger, members, program
from cxloop.loyalty.program import Program
from cxloop.loyalty.schemas import (
    AdjustIn,
    BalanceOut,
    GoalProgressOut,
    LeaderboardOut,
    LeaderOut,
    LedgerEntryOut,
    MemberOut,
    PointsIn,
    ProgramIn,
    ProgramOut,
    TierChangeOut,
    TierProgressOut,
)
from cxloop.models import LedgerEntry, LoyaltyMember

router = APIRouter(prefix="/api/v1/loyalty", tags=["loyalty"])

CustomerId = Annotated[int, FastPath(ge=1, le=2**63 - 1, description="Customer id")]


@router.get("/program", response_model=ProgramOut)
def get_program(principal: ApiPrincipal, session: DbSession) -> ProgramOut:
    """The program's settings, tiers and earning rules."""
    require(principal, "loyalty:read")
    return program.program_settings(session, workspace_id=principal.workspace_id)


@router.put("/program", response_model=ProgramOut)
def put_program(body: ProgramIn, principal: ApiPrincipal, session: DbSession) -> ProgramOut:
    """Create or replace the program; tiers and rules are matched by key."""
    require(principal, "loyalty:write")
    return program.save_program(
        session, principal=principal, workspace_id=principal.workspace_id, program_in=body
    )


@router.get("/goals", response_model=goals.GoalsOut)
def get_goals(principal: ApiPrincipal, session: DbSession) -> goals.GoalsOut:
    """The program's badges and challenges (those left out of the last save are inactive)."""
    require(principal, "loyalty:read")
    found = program.require_program(session, workspace_id=principal.workspace_id)
    stored = goals.goals_of(session, program_id=found.id)
    return goals.GoalsOut(goals=[goals.as_goal_in(g) for g in stored])


@router.put("/goals", response_model=goals.GoalsOut)
def put_goals(body: goals.GoalsIn, principal: ApiPrincipal, session: DbSession) -> goals.GoalsOut:
    """Create or change badges and challenges by key; one left out stops counting."""
    require(principal, "loyalty:write")
    saved = goals.save_goals(
        session, principal=principal, workspace_id=principal.workspace_id, goals=body
    )
    return goals.GoalsOut(goals=[goals.as_goal_in(g) for g in saved])


@router.get("/leaderboard", response_model=LeaderboardOut)
def get_leaderboard(
    principal: ApiPrincipal,
    session: DbSession,
    top: Annotated[int, Query(ge=1, le=100)] = leaderboard.TOP,
) -> LeaderboardOut:
    """This local month's top earners, with the names members would see."""
    require(principal, "loyalty:read")
    loyalty = members.active_program(session, workspace_id=principal.workspace_id)
    board = leaderboard.month_board(session, loyalty, now=utcnow(), top=top)
    return LeaderboardOut(
        month_start=board.month_start,
        shown_to_members=loyalty.program.leaderboard,
        leaders=[
            LeaderOut(
                rank=x.rank,
                customer_id=x.customer_id,
                name=x.name,
                masked=x.masked,
                points=x.points,
            )
            for x in board.leaders
        ],
    )


def _entry_out(entry: LedgerEntry, rule: str | None) -> LedgerEntryOut:
    return LedgerEntryOut(
        id=entry.id,
        point_type=entry.point_type,
        kind=entry.kind,
        amount=entry.amount,
        remaining=entry.remaining,
        available_at=entry.available_at,
        expires_at=entry.expires_at,
        reason=entry.reason,
        rule=rule,
        order_ref=entry.order_ref,
        occurred_at=entry.occurred_at,
    )


def _member_out(
    session: Session,
    loyalty: Program,
    member: LoyaltyMember,
    *,
    cursor: str | None,
    limit: int,
) -> MemberOut:
    now = utcnow()
    found = ledger.balances(session, member_id=member.id, now=now)
    progress = members.progress_of(session, program=loyalty, member=member, now=now)
    entries, next_cursor = members.ledger_page(session, member=member, cursor=cursor, limit=limit)
    return MemberOut(
        customer_id=member.customer_id,
        joined_at=member.created_at,
        balances=[
            BalanceOut(
                point_type=point_type,
                total=found[point_type].total if point_type in found else 0,
                available=found[point_type].available if point_type in found else 0,
                pending=found[point_type].pending if point_type in found else 0,
                expiring_in_30_days=found[point_type].expiring if point_type in found else 0,
            )
            for point_type in loyalty.program.point_types
        ],
        progress=TierProgressOut(
            tier=progress.tier.key if progress.tier else None,
            tier_name=progress.tier.name if progress.tier else None,
            tier_until=progress.tier_until,
            next_tier=progress.next_tier.key if progress.next_tier else None,
            next_tier_name=progress.next_tier.name if progress.next_tier else None,
            measure=progress.next_tier.measure if progress.next_tier else None,
            measured=progress.measured,
            needed=progress.needed,
        ),
        tier_history=[
            TierChangeOut(
                from_tier=before.key if before else None,
                to_tier=after.key if after else None,
                reason=change.reason,
                measured=float(change.measured),
                changed_at=change.changed_at,
            )
            for change, before, after in members.tier_history(
                session, program=loyalty, member=member
            )
        ],
        goals=[
            GoalProgressOut(
                key=g.goal.key,
                kind=g.goal.kind,
                name=g.goal.name,
                description=g.goal.description,
                done=g.done,
                needed=g.needed,
                ends_at=g.goal.ends_at,
                completed_at=g.completed_at,
            )
            for g in goals.progress_of(session, program=loyalty, member_id=member.id, now=now)
        ],
        ledger=[_entry_out(e, rule) for e, rule in entries],
        next_cursor=next_cursor,
    )


def _member_now(session: Session, loyalty: Program, customer_id: int) -> MemberOut:
    """The member after a change (enrolled by it, so present)."""
    member = members.member_of(session, program=loyalty, customer_id=customer_id)
    assert member is not None
    return _member_out(session, loyalty, member, cursor=None, limit=50)


@router.get("/members/{customer_id}", response_model=MemberOut)
def get_member(
    customer_id: CustomerId,
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemberOut:
    """A member's balances, tier progress and ledger (newest first, ``next_cursor`` pages)."""
    require(principal, "loyalty:read")
    loyalty = members.active_program(session, workspace_id=principal.workspace_id)
    member = members.member_of(session, program=loyalty, customer_id=customer_id)
    if member is None:
        raise NotFound(f"customer {customer_id} is not a member of the loyalty program.")
    return _member_out(session, loyalty, member, cursor=cursor, limit=limit)


@router.post("/members/{customer_id}/adjust", response_model=MemberOut)
def adjust(
    customer_id: CustomerId, body: AdjustIn, principal: ApiPrincipal, session: DbSession
) -> MemberOut:
    """Add or deduct points by hand, with a reason (audited)."""
    require(principal, "loyalty:write")
    loyalty = members.active_program(session, workspace_id=principal.workspace_id)
    members.adjust_points(
        session,
        principal=principal,
        program=loyalty,
        customer_id=customer_id,
        points=body.points if body.direction == "add" else -body.points,
        point_type=body.point_type,
        reason=body.reason,
        idempotency_key=body.idempotency_key,
    )
    return _member_now(session, loyalty, customer_id)


@router.post("/members/{customer_id}/redeem", response_model=MemberOut)
def redeem(
    customer_id: CustomerId, body: PointsIn, principal: ApiPrincipal, session: DbSession
) -> MemberOut:
    """Spend a member's available points (422 when they have fewer)."""
    require(principal, "loyalty:redeem")
    loyalty = members.active_program(session, workspace_id=principal.workspace_id)
    members.redeem_points(
        session,
        principal=principal,
        program=loyalty,
        customer_id=customer_id,
        points=body.points,
        point_type=body.point_type,
        reason=body.reason,
        idempotency_key=body.idempotency_key,
    )
    return _member_now(session, loyalty, customer_id)
