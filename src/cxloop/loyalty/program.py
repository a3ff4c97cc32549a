"""A workspace's loyalty program: reading and saving its settings, tiers and earning rules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.errors import NotFound
from cxloop.loyalty.schemas import ProgramIn, ProgramOut, RuleIn, TierIn, TierOut
from cxloop.models import EarningRule, Event, LoyaltyProgram, LoyaltyTier, Workspace
from cxloop.profiles.consent import zone_named


@dataclass(frozen=True)
class Program:
    """A program with its tiers (lowest rank first) and active earning rules, as one bus batch
    or one request uses them."""

    program: LoyaltyProgram
    tiers: tuple[LoyaltyTier, ...]
    rules: tuple[EarningRule, ...]
    zone: ZoneInfo

    def tier(self, tier_id: int | None) -> LoyaltyTier | None:
        return next((t for t in self.tiers if t.id == tier_id), None)

    def expiry_of(self, available_at: datetime) -> datetime | None:
        """When points available at ``available_at`` expire: that many calendar months later
        in the workspace's zone (15 March → 15 March of the next year, at the same local
        time), never when the program's points do not expire."""
        months = self.program.expiry_months
        if months is None:
            return None
        local = available_at.astimezone(self.zone)
        month = local.month - 1 + months
        year, month = local.year + month // 12, month % 12 + 1
        day = min(local.day, 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)
        return local.replace(year=year, month=month, day=day).astimezone(available_at.tzinfo)


def program_of(session: Session, *, workspace_id: int) -> LoyaltyProgram | None:
    return session.scalar(select(LoyaltyProgram).where(LoyaltyProgram.workspace_id == workspace_id))


def require_program(session: Session, *, workspace_id: int) -> LoyaltyProgram:
    program = program_of(session, workspace_id=workspace_id)
    if program is None:
        raise NotFound("this workspace has no loyalty program yet: save its settings first.")
    return program


def load_programs(session: Session, *, workspace_ids: Sequence[int]) -> dict[int, Program]:
    """The active programs of these workspaces, by workspace id."""
    if not workspace_ids:
        return {}
    programs = list(
        session.scalars(
            select(LoyaltyProgram).where(
                LoyaltyProgram.workspace_id.in_(set(workspace_ids)), LoyaltyProgram.active
            )
        )
    )
    if not programs:
        return {}
    ids = [p.id for p in programs]
    tiers: dict[int, list[LoyaltyTier]] = {i: [] for i in ids}
    for tier in session.scalars(
        select(LoyaltyTier).where(LoyaltyTier.program_id.in_(ids)).order_by(LoyaltyTier.rank)
    ):
        tiers[tier.program_id].append(tier)
    rules: dict[int, list[EarningRule]] = {i: [] for i in ids}
    for rule in session.scalars(
        select(EarningRule)
        .where(EarningRule.program_id.in_(ids), EarningRule.active)
        .order_by(EarningRule.id)
    ):
        rules[rule.program_id].append(rule)
    zones: dict[int, str | None] = dict(
        session.execute(
            select(Workspace.id, Workspace.timezone).where(
                Workspace.id.in_([p.workspace_id for p in programs])
            )
        )
        .tuples()
        .all()
    )
    return {
        p.workspace_id: Program(
            program=p,
            tiers=tuple(tiers[p.id]),
            rules=tuple(rules[p.id]),
            zone=zone_named(zones.get(p.workspace_id)),
        )
        for p in programs
    }


def programs_with_events(
    session: Session, events: Sequence[Event]
) -> list[tuple[Program, list[Event]]]:
    """A bus batch's track events grouped under their workspace's active program (the events
    of workspaces without one are left out)."""
    by_workspace: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        if event.type == "track":
            by_workspace[event.workspace_id].append(event)
    programs = load_programs(session, workspace_ids=list(by_workspace))
    return [(program, by_workspace[ws]) for ws, program in programs.items()]


def _tier_in(tier: LoyaltyTier) -> TierOut:
    return TierOut(
        key=tier.key,
        name=tier.name,
        measure=tier.measure,
        threshold=tier.threshold,
        free_shipping=bool(tier.benefits.get("free_shipping")),
        birthday_bonus=int(tier.benefits.get("birthday_bonus") or 0),
        rank=tier.rank,
    )


RULE_FIELDS = tuple(RuleIn.model_fields)


def _rule_in(rule: EarningRule) -> RuleIn:
    return RuleIn.model_validate({name: getattr(rule, name) for name in RULE_FIELDS})


def program_settings(session: Session, *, workspace_id: int) -> ProgramOut:
    """The program as its settings page and API show it."""
    program = require_program(session, workspace_id=workspace_id)
    tiers = session.scalars(
        select(LoyaltyTier).where(LoyaltyTier.program_id == program.id).order_by(LoyaltyTier.rank)
    )
    rules = session.scalars(
        select(EarningRule).where(EarningRule.program_id == program.id).order_by(EarningRule.id)
    )
    return ProgramOut(
        name=program.name,
        active=program.active,
        currency=program.currency,
        point_types=list(program.point_types),
        pending_days=program.pending_days,
        expiry_months=program.expiry_months,
        tier_window_days=program.tier_window_days,
        point_value=program.point_value,
        leaderboard=program.leaderboard,
        tiers=[_tier_in(t) for t in tiers],
        rules=[_rule_in(r) for r in rules],
        updated_at=program.updated_at,
    )


def _rule_values(rule: RuleIn) -> dict[str, Any]:
    values = rule.model_dump(mode="python")
    values["where"] = [c.model_dump(mode="json") for c in rule.where]
    values["rate_by_tier"] = {k: str(v) for k, v in rule.rate_by_tier.items()}
    values["rate_by_category"] = {k.strip(): str(v) for k, v in rule.rate_by_category.items()}
    return values


def _tier_values(tier: TierIn, rank: int) -> dict[str, Any]:
    return {
        "key": tier.key,
        "name": tier.name,
        "rank": rank,
        "measure": tier.measure,
        "threshold": tier.threshold,
        "benefits": {"free_shipping": tier.free_shipping, "birthday_bonus": tier.birthday_bonus},
    }


def keep_by_key(
    session: Session,
    model: Any,
    existing: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    **owner: Any,
) -> None:
    """Change the rows of ``existing`` (by key) to ``rows`` and add those not there; the ones
    left out are made inactive, not deleted, so what they earned still names them."""
    wanted = {row["key"] for row in rows}
    for key, kept in existing.items():
        if key not in wanted:
            kept.active = False
    for row in rows:
        kept = existing.get(row["key"])
        if kept is None:
            session.add(model(**owner, **row))
        else:
            for name, value in row.items():
                setattr(kept, name, value)


def save_program(
    session: Session, *, principal: Principal, workspace_id: int, program_in: ProgramIn
) -> ProgramOut:
    """Create or replace the workspace's program (audited as ``loyalty.program``). Tiers and
    rules are matched by key, so points already earned keep their rule and members their
    tier; a tier left out loses its members to the nightly evaluation."""
    program = program_of(session, workspace_id=workspace_id)
    created = program is None
    if program is None:
        program = LoyaltyProgram(workspace_id=workspace_id)
        session.add(program)
    for name in (
        "name",
        "active",
        "currency",
        "point_types",
        "pending_days",
        "expiry_months",
        "tier_window_days",
        "point_value",
        "leaderboard",
    ):
        setattr(program, name, getattr(program_in, name))
    session.flush()

    tiers = {
        t.key: t
        for t in session.scalars(select(LoyaltyTier).where(LoyaltyTier.program_id == program.id))
    }
    wanted = {t.key for t in program_in.tiers}
    gone = [t.id for key, t in tiers.items() if key not in wanted]
    if gone:
        session.execute(delete(LoyaltyTier).where(LoyaltyTier.id.in_(gone)))
    # Ranks are unique: park the kept ones out of the way before renumbering.
    for offset, tier in enumerate(t for key, t in tiers.items() if key in wanted):
        tier.rank = 1000 + offset
    session.flush()
    for rank, tier_in in enumerate(program_in.tiers):
        values = _tier_values(tier_in, rank)
        existing = tiers.get(tier_in.key)
        if existing is None:
            session.add(LoyaltyTier(workspace_id=workspace_id, program_id=program.id, **values))
        else:
            for name, value in values.items():
                setattr(existing, name, value)
    rules = {
        r.key: r
        for r in session.scalars(select(EarningRule).where(EarningRule.program_id == program.id))
    }
    keep_by_key(
        session,
        EarningRule,
        rules,
        [_rule_values(r) for r in program_in.rules],
        workspace_id=workspace_id,
        program_id=program.id,
    )
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="loyalty.program",
        workspace_id=workspace_id,
        target_type="loyalty_program",
        target_id=program.id,
        detail={
            "created": created,
            "tiers": [t.key for t in program_in.tiers],
            "rules": [r.key for r in program_in.rules],
        },
    )
    return program_settings(session, workspace_id=workspace_id)
