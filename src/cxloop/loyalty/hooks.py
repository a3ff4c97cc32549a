"""Points follow their customer: on a merge the merged profile's ledger, tier history, badges
and challenges join the survivor's (who keeps the higher tier), and a data-subject export
includes the member's ledger, tier history, rewards taken and goals reached."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cxloop.models import (
    Customer,
    GoalCompletion,
    GoalEvent,
    LedgerEntry,
    LoyaltyGoal,
    LoyaltyMember,
    LoyaltyTier,
    Redemption,
    Reward,
    TierChange,
)
from cxloop.profiles.identity import rowcount


def move_loyalty_on_merge(
    session: Session, workspace_id: int, survivor_id: int, merged_id: int
) -> dict[str, int]:
    members = {
        m.customer_id: m
        for m in session.scalars(
            select(LoyaltyMember).where(
                LoyaltyMember.workspace_id == workspace_id,
                LoyaltyMember.customer_id.in_((survivor_id, merged_id)),
            )
        )
    }
    merged = members.get(merged_id)
    if merged is None:
        return {}
    survivor = members.get(survivor_id)
    if survivor is None:
        merged.customer_id = survivor_id
        return {"loyalty_members": 1}
    moved = rowcount(
        session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.member_id == merged.id)
            .values(member_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
    )
    for table in (TierChange, GoalEvent):
        session.execute(
            update(table)
            .where(table.member_id == merged.id)
            .values(member_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
    _move_completions(session, survivor_id=survivor.id, merged_id=merged.id)
    ranks = dict(
        session.execute(
            select(LoyaltyTier.id, LoyaltyTier.rank).where(
                LoyaltyTier.id.in_([t for t in (survivor.tier_id, merged.tier_id) if t])
            )
        )
        .tuples()
        .all()
    )
    if ranks.get(merged.tier_id or 0, -1) > ranks.get(survivor.tier_id or 0, -1):
        survivor.tier_id, survivor.tier_since, survivor.tier_until = (
            merged.tier_id,
            merged.tier_since,
            merged.tier_until,
        )
    survivor.created_at = min(survivor.created_at, merged.created_at)
    session.flush()
    session.execute(delete(LoyaltyMember).where(LoyaltyMember.id == merged.id))
    return {"loyalty_ledger": moved}


def _move_completions(session: Session, *, survivor_id: int, merged_id: int) -> None:
    """Goals the merged member reached become the survivor's; a goal both reached keeps the
    earlier completion."""
    kept = {
        c.goal_id: c
        for c in session.scalars(
            select(GoalCompletion).where(GoalCompletion.member_id == survivor_id)
        )
    }
    for completion in session.scalars(
        select(GoalCompletion).where(GoalCompletion.member_id == merged_id)
    ).all():
        if (other := kept.get(completion.goal_id)) is None:
            completion.member_id = survivor_id
            continue
        other.completed_at = min(other.completed_at, completion.completed_at)
        session.delete(completion)
    session.flush()


def export_loyalty(session: Session, customer: Customer) -> dict[str, Any]:
    member = session.scalar(
        select(LoyaltyMember).where(
            LoyaltyMember.workspace_id == customer.workspace_id,
            LoyaltyMember.customer_id == customer.id,
        )
    )
    if member is None:
        return {}
    entries = session.scalars(
        select(LedgerEntry).where(LedgerEntry.member_id == member.id).order_by(LedgerEntry.id)
    )
    tiers = dict(
        session.execute(
            select(LoyaltyTier.id, LoyaltyTier.key).where(
                LoyaltyTier.program_id == member.program_id
            )
        )
        .tuples()
        .all()
    )
    changes = session.scalars(
        select(TierChange).where(TierChange.member_id == member.id).order_by(TierChange.id)
    )
    redemptions = session.execute(
        select(Redemption, Reward)
        .join(Reward, Reward.id == Redemption.reward_id)
        .join(LedgerEntry, LedgerEntry.id == Redemption.entry_id)
        .where(LedgerEntry.member_id == member.id)
        .order_by(Redemption.id)
    ).tuples()
    reached = session.execute(
        select(GoalCompletion, LoyaltyGoal)
        .join(LoyaltyGoal, LoyaltyGoal.id == GoalCompletion.goal_id)
        .where(GoalCompletion.member_id == member.id)
        .order_by(GoalCompletion.id)
    ).tuples()
    return {
        "loyalty": {
            "joined_at": member.created_at,
            "tier": tiers.get(member.tier_id or 0),
            "ledger": [
                {
                    "point_type": e.point_type,
                    "kind": e.kind,
                    "amount": e.amount,
                    "reason": e.reason,
                    "order": e.order_ref,
                    "occurred_at": e.occurred_at,
                    "available_at": e.available_at,
                    "expires_at": e.expires_at,
                }
                for e in entries
            ],
            "tier_history": [
                {
                    "from": tiers.get(c.from_tier_id or 0),
                    "to": tiers.get(c.to_tier_id or 0),
                    "reason": c.reason,
                    "changed_at": c.changed_at,
                }
                for c in changes
            ],
            "rewards": [
                {
                    "reward": reward.name_ko or reward.name_en or reward.key,
                    "points": redemption.points,
                    "point_type": redemption.point_type,
                    "code": redemption.code,
                    "status": redemption.status,
                    "redeemed_at": redemption.created_at,
                    "cancelled_at": redemption.cancelled_at,
                }
                for redemption, reward in redemptions
            ],
            "goals": [
                {"goal": goal.name or goal.key, "kind": goal.kind, "reached_at": c.completed_at}
                for c, goal in reached
            ],
        }
    }
