"""Redemptions: taking a reward of the catalogue for points, and cancelling it.

A redemption happens in one transaction: the reward is checked (active, in its window, the
member's tier), one unit of stock is taken with a conditional UPDATE, the points are spent from
the ledger and a code is claimed with a conditional UPDATE, so two redemptions racing for the
last unit or the same code never both get it. Cancelling gives the points back as a lot that
expires no later than the soonest-expiring lot they were spent from, puts a pool code back (a
generated one is voided) and returns the unit to stock.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.db import rowcount
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import newest_first
from cxloop.core.timeutil import utcnow
from cxloop.loyalty import ledger
from cxloop.loyalty.members import member_of
from cxloop.loyalty.program import Program
from cxloop.models import (
    LedgerAllocation,
    LedgerEntry,
    LoyaltyMember,
    Redemption,
    Reward,
    RewardCode,
)

GENERATED_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
GENERATED_LENGTH = 12  # 60 random bits
CLAIM_ATTEMPTS = 5


@dataclass(frozen=True)
class RedemptionDetail:
    """What a redemption is shown with besides its own columns."""

    reward_key: str
    reward_name_ko: str
    reward_name_en: str
    customer_id: int


def redemption_of(session: Session, *, workspace_id: int, redemption_id: int) -> Redemption:
    redemption = session.scalar(
        select(Redemption).where(
            Redemption.workspace_id == workspace_id, Redemption.id == redemption_id
        )
    )
    if redemption is None:
        raise NotFound(f"No redemption with id {redemption_id}.")
    return redemption


def details(session: Session, *, redemptions: Sequence[Redemption]) -> dict[int, RedemptionDetail]:
    """Each redemption's reward and the customer whose points paid for it, by redemption id."""
    if not redemptions:
        return {}
    rows = session.execute(
        select(Redemption.id, Reward.key, Reward.name_ko, Reward.name_en, LoyaltyMember.customer_id)
        .join(Reward, Reward.id == Redemption.reward_id)
        .join(LedgerEntry, LedgerEntry.id == Redemption.entry_id)
        .join(LoyaltyMember, LoyaltyMember.id == LedgerEntry.member_id)
        .where(Redemption.id.in_([r.id for r in redemptions]))
    ).tuples()
    return {
        rid: RedemptionDetail(key, name_ko, name_en, customer_id)
        for rid, key, name_ko, name_en, customer_id in rows
    }


def member_redemptions(
    session: Session, *, program: Program, customer_id: int, cursor: str | None, limit: int
) -> tuple[list[Redemption], str | None]:
    """A member's redemptions, newest first (none for a customer who never joined)."""
    member = member_of(session, program=program, customer_id=customer_id)
    if member is None:
        return [], None
    return newest_first(
        session,
        select(Redemption)
        .join(LedgerEntry, LedgerEntry.id == Redemption.entry_id)
        .where(Redemption.program_id == program.program.id, LedgerEntry.member_id == member.id),
        time=Redemption.created_at,
        id=Redemption.id,
        cursor=cursor,
        limit=max(1, min(limit, 200)),
    )


def _by_idempotency_key(session: Session, program_id: int, key: str) -> Redemption | None:
    return session.scalar(
        select(Redemption).where(
            Redemption.program_id == program_id, Redemption.idempotency_key == key
        )
    )


def _replayed(
    session: Session, done: Redemption, reward: Reward, member: LoyaltyMember | None
) -> Redemption:
    """The redemption an idempotency key made before, when it was asked for the same reward
    and member; Conflict when the key was used for another."""
    spender = session.scalar(select(LedgerEntry.member_id).where(LedgerEntry.id == done.entry_id))
    if done.reward_id != reward.id or member is None or spender != member.id:
        raise Conflict(
            "This idempotency key was already used for another redemption; use a new key "
            "for a new redemption."
        )
    return done


def _check_redeemable(program: Program, reward: Reward, member: LoyaltyMember | None) -> None:
    now = utcnow()
    if reward.archived_at is not None or not reward.active:
        raise ValidationFailed(f"Reward {reward.key!r} cannot be redeemed: it is not active.")
    if reward.starts_at is not None and now < reward.starts_at:
        raise ValidationFailed(
            f"Reward {reward.key!r} cannot be redeemed before {reward.starts_at.isoformat()}."
        )
    if reward.ends_at is not None and now >= reward.ends_at:
        raise ValidationFailed(
            f"Reward {reward.key!r} could be redeemed until {reward.ends_at.isoformat()}."
        )
    if reward.point_type not in program.program.point_types:
        raise ValidationFailed(
            f"Reward {reward.key!r} costs {reward.point_type!r}, no longer a point type of "
            "the program."
        )
    if reward.min_tier is not None:
        needed = next((t for t in program.tiers if t.key == reward.min_tier), None)
        if needed is None:
            raise ValidationFailed(
                f"Reward {reward.key!r} is for tier {reward.min_tier!r}, which the program no "
                "longer has."
            )
        held = program.tier(member.tier_id) if member is not None else None
        # A member without a tier stands where every member starts: the lowest one.
        held = held or (program.tiers[0] if program.tiers else None)
        if held is None or held.rank < needed.rank:
            raise ValidationFailed(
                f"Reward {reward.key!r} is for members of tier {needed.name or needed.key!r} "
                f"and above; this member is "
                f"{'in tier ' + repr(held.name or held.key) if held else 'in no tier'}."
            )


def open_to(program: Program, reward: Reward, member: LoyaltyMember | None) -> bool:
    """Whether ``member`` may redeem ``reward`` now (points and stock aside)."""
    try:
        _check_redeemable(program, reward, member)
    except ValidationFailed:
        return False
    return True


def _take_stock(session: Session, reward: Reward) -> None:
    """One unit of the reward's stock (nothing to take when it has no limit)."""
    taken = rowcount(
        session.execute(
            update(Reward)
            .where(Reward.id == reward.id, or_(Reward.stock.is_(None), Reward.stock > 0))
            .values(stock=Reward.stock - 1)
            .execution_options(synchronize_session=False)
        )
    )
    session.expire(reward, ["stock"])
    if taken != 1:
        raise Conflict(f"Reward {reward.key!r} is out of stock.")


def _claim_pool_code(
    session: Session, reward: Reward, redemption: Redemption, now: datetime
) -> str:
    """Claim a free code of the pool for ``redemption``: the UPDATE only takes a code still
    free, so a code another redemption claimed in the meantime is passed over."""
    for _attempt in range(CLAIM_ATTEMPTS):
        candidate = session.execute(
            select(RewardCode.id, RewardCode.code)
            .where(RewardCode.reward_id == reward.id, RewardCode.status == "free")
            .order_by(RewardCode.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if candidate is None:
            raise Conflict(
                f"Reward {reward.key!r} has no codes left: upload more codes to its pool."
            )
        claimed = rowcount(
            session.execute(
                update(RewardCode)
                .where(RewardCode.id == candidate.id, RewardCode.status == "free")
                .values(status="issued", redemption_id=redemption.id, issued_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        if claimed == 1:
            return str(candidate.code)
    raise Conflict(
        f"The codes of reward {reward.key!r} were being claimed at the same moment; please retry."
    )


def _generate_code(session: Session, reward: Reward, redemption: Redemption, now: datetime) -> str:
    body = "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(GENERATED_LENGTH))
    code = f"{reward.code_prefix}{body}"
    session.add(
        RewardCode(
            workspace_id=reward.workspace_id,
            reward_id=reward.id,
            code=code,
            status="issued",
            generated=True,
            redemption_id=redemption.id,
            created_at=now,
            issued_at=now,
        )
    )
    return code


def _issue(
    session: Session,
    *,
    principal: Principal,
    reward: Reward,
    member: LoyaltyMember,
    idempotency_key: str,
) -> Redemption:
    now = utcnow()
    _take_stock(session, reward)
    spend = ledger.take(
        session,
        member=member,
        point_type=reward.point_type,
        kind="redeem",
        amount=reward.cost,
        now=now,
        reason=f"reward: {reward.name_ko or reward.name_en}",
        source_key=f"reward:{idempotency_key}",
        created_by_id=principal.user_id,
    )
    assert spend is not None  # take refuses rather than take less
    redemption = Redemption(
        workspace_id=reward.workspace_id,
        program_id=reward.program_id,
        reward_id=reward.id,
        entry_id=spend.id,
        points=reward.cost,
        point_type=reward.point_type,
        status="issued",
        idempotency_key=idempotency_key,
        created_at=now,
        created_by=principal.label[:320],
    )
    session.add(redemption)
    session.flush()
    if reward.code_source == "pool":
        redemption.code = _claim_pool_code(session, reward, redemption, now)
    elif reward.code_source == "generated":
        redemption.code = _generate_code(session, reward, redemption, now)
    session.flush()
    return redemption


def redeem_reward(
    session: Session,
    *,
    principal: Principal,
    program: Program,
    customer_id: int,
    reward: Reward,
    idempotency_key: str,
) -> Redemption:
    """Spend a member's points on ``reward`` and issue its code (audited as
    ``loyalty.redeem_reward``). The same idempotency key again returns the same redemption;
    422 when the reward is not open to the member or points are short, 409 when it is out of
    stock or codes."""
    if "\x00" in idempotency_key:
        raise ValidationFailed("The idempotency key cannot hold the NUL character.")
    member = member_of(session, program=program, customer_id=customer_id)
    done = _by_idempotency_key(session, program.program.id, idempotency_key)
    if done is not None:
        return _replayed(session, done, reward, member)
    _check_redeemable(program, reward, member)
    if member is None:
        raise ledger.NotEnoughPoints(f"{reward.cost} points asked, 0 available.")
    try:
        with session.begin_nested():
            redemption = _issue(
                session,
                principal=principal,
                reward=reward,
                member=member,
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        # The same key redeemed at the same moment by another request, which committed first.
        done = _by_idempotency_key(session, program.program.id, idempotency_key)
        if done is None:
            raise
        return _replayed(session, done, reward, member)
    record_audit(
        session,
        principal=principal,
        action="loyalty.redeem_reward",
        workspace_id=reward.workspace_id,
        target_type="loyalty_redemption",
        target_id=redemption.id,
        detail={
            "reward": reward.key,
            "customer_id": member.customer_id,
            "points": reward.cost,
            "point_type": reward.point_type,
        },
    )
    return redemption


def _earliest_expiry(session: Session, spend_id: int) -> datetime | None:
    """When the soonest-expiring lot the spend took from expires (None when none expires)."""
    return session.scalar(
        select(func.min(LedgerEntry.expires_at))
        .join(LedgerAllocation, LedgerAllocation.lot_id == LedgerEntry.id)
        .where(LedgerAllocation.entry_id == spend_id)
    )


def cancel_redemption(
    session: Session, *, principal: Principal, workspace_id: int, redemption_id: int
) -> Redemption:
    """Cancel a redemption (audited as ``loyalty.redemption_cancel``): its points come back,
    available at once and expiring no later than the soonest-expiring lot they were spent
    from; a pool code goes back to the pool, a generated one is voided; the unit goes back to
    stock. Cancelling a cancelled redemption changes nothing."""
    redemption = redemption_of(session, workspace_id=workspace_id, redemption_id=redemption_id)
    now = utcnow()
    changed = rowcount(
        session.execute(
            update(Redemption)
            .where(Redemption.id == redemption.id, Redemption.status == "issued")
            .values(status="cancelled", cancelled_at=now, cancelled_by=principal.label[:320])
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(redemption)
    if changed != 1:
        return redemption
    spend = session.get(LedgerEntry, redemption.entry_id)
    member = session.get(LoyaltyMember, spend.member_id) if spend is not None else None
    if spend is None or member is None:  # gone only with the member, and the redemption too
        raise NotFound(f"No redemption with id {redemption_id}.")
    reward = session.get(Reward, redemption.reward_id)
    assert reward is not None  # the redemption goes with its reward
    refund = ledger.add_lot(
        session,
        member=member,
        point_type=spend.point_type,
        kind="refund",
        amount=-spend.amount,
        occurred_at=now,
        available_at=now,
        expires_at=_earliest_expiry(session, spend.id),
        reason=f"reward cancelled: {reward.name_ko or reward.name_en}",
        source_key=f"reward-refund:{redemption.id}",
        created_by_id=principal.user_id,
    )
    redemption.refund_entry_id = refund.id
    for generated, status in ((False, "free"), (True, "void")):
        session.execute(
            update(RewardCode)
            .where(
                RewardCode.redemption_id == redemption.id,
                RewardCode.status == "issued",
                RewardCode.generated == generated,
            )
            .values(
                status=status,
                redemption_id=None if status == "free" else redemption.id,
                issued_at=None if status == "free" else RewardCode.issued_at,
            )
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Reward)
        .where(Reward.id == reward.id, Reward.stock.is_not(None))
        .values(stock=Reward.stock + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire(reward, ["stock"])
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="loyalty.redemption_cancel",
        workspace_id=workspace_id,
        target_type="loyalty_redemption",
        target_id=redemption.id,
        detail={
            "reward": reward.key,
            "customer_id": member.customer_id,
            "points": -spend.amount,
            "point_type": spend.point_type,
        },
    )
    return redemption
