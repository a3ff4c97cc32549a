"""Points follow their customer: on a merge the merged profile's ledger joins the survivor's
(who keeps the higher tier), and a data-subject export includes the member's ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cxloop.models import Customer, LedgerEntry, LoyaltyMember, LoyaltyTier, TierChange
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
    session.execute(
        update(TierChange)
        .where(TierChange.member_id == merged.id)
        .values(member_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
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
    return {
        "loyalty": {
            "joined_at": member.created_at,
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
        }
    }
