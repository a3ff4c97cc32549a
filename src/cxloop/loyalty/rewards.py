"""The rewards catalogue and redemptions: what members may take for their points, the coupon
codes behind it, and taking and cancelling a reward.

A redemption happens in one transaction: the reward is checked (active, in its window, the
member's tier), one unit of stock is taken with a conditional UPDATE, the points are spent from
the ledger and a code is claimed with a conditional UPDATE, so two redemptions racing for the
last unit or the same code never both get it. Cancelling gives the points back as a lot that
expires no later than the soonest-expiring lot they were spent from, puts a pool code back (a
generated one is voided) and returns the unit to stock.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.db import rowcount
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import newest_first, oldest_first
from cxloop.core.timeutil import utcnow
from cxloop.loyalty import ledger
from cxloop.loyalty.members import member_of
from cxloop.loyalty.program import Program, require_program
from cxloop.loyalty.schemas import KEY_PATTERN
from cxloop.models import (
    LedgerAllocation,
    LedgerEntry,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    Redemption,
    Reward,
    RewardCode,
)

MAX_CODES_BYTES = 1_000_000  # one upload: 1 MB of text
MAX_CODES_PER_UPLOAD = 20_000
CODE_PATTERN = re.compile(r"[!-~]{1,64}")  # visible ASCII, no spaces
GENERATED_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
GENERATED_LENGTH = 12  # 60 random bits
CLAIM_ATTEMPTS = 5


class RewardIn(BaseModel):
    """A catalogue entry's settings, as the API and the settings page save them."""

    model_config = ConfigDict(extra="forbid")

    name_ko: str = Field(default="", max_length=200)
    name_en: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    kind: Literal["coupon", "discount", "gift", "experience"] = "coupon"
    value: Decimal | None = Field(
        default=None, ge=0, le=Decimal("1e14"), description="What it is worth to the customer"
    )
    cost: int = Field(ge=1, le=100_000_000, description="Points it costs")
    point_type: str = Field(default="points", pattern=KEY_PATTERN)
    stock: int | None = Field(default=None, ge=0, le=1_000_000_000, description="None: no limit")
    min_tier: str | None = Field(
        default=None, pattern=KEY_PATTERN, description="The lowest tier that may redeem it"
    )
    code_source: Literal["pool", "generated", "none"] = "none"
    code_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,20}$")
    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RewardIn:
        if not (self.name_ko.strip() or self.name_en.strip()):
            raise ValueError("a reward needs a name (name_ko or name_en).")
        if any("\x00" in text for text in (self.name_ko, self.name_en, self.description)):
            raise ValueError("names and the description cannot hold the NUL character.")
        for moment in (self.starts_at, self.ends_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("starts_at and ends_at need a time zone offset.")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must come after starts_at.")
        return self


@dataclass(frozen=True)
class CodesUploaded:
    """What an upload did: codes added, lines that repeated a code already there or earlier in
    the upload, and the reward's free codes now."""

    added: int
    duplicates: int
    free: int


@dataclass(frozen=True)
class RedemptionDetail:
    """What a redemption is shown with besides its own columns."""

    reward_key: str
    reward_name_ko: str
    reward_name_en: str
    customer_id: int


# --- the catalogue ------------------------------------------------------------------------------


def find_reward(
    session: Session, *, workspace_id: int, key: str | None = None, reward_id: int | None = None
) -> Reward:
    """The workspace's reward with this key (or id); NotFound when it has none."""
    query = select(Reward).where(Reward.workspace_id == workspace_id)
    if key is not None:
        query = query.where(Reward.key == key)
    else:
        query = query.where(Reward.id == reward_id)
    reward = session.scalar(query)
    if reward is None:
        raise NotFound(
            f"No reward with key {key!r}." if key is not None else f"No reward with id {reward_id}."
        )
    return reward


def list_rewards(
    session: Session,
    *,
    workspace_id: int,
    include_archived: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Reward], str | None]:
    """A page of the catalogue in the order it was made, and the next page's cursor."""
    query = select(Reward).where(Reward.workspace_id == workspace_id)
    if not include_archived:
        query = query.where(Reward.archived_at.is_(None))
    return oldest_first(
        session,
        query,
        time=Reward.created_at,
        id=Reward.id,
        cursor=cursor,
        limit=max(1, min(limit, 200)),
    )


def free_codes(session: Session, *, reward_ids: Sequence[int]) -> dict[int, int]:
    """How many pool codes each reward has left."""
    if not reward_ids:
        return {}
    rows = session.execute(
        select(RewardCode.reward_id, func.count())
        .where(RewardCode.reward_id.in_(set(reward_ids)), RewardCode.status == "free")
        .group_by(RewardCode.reward_id)
    ).tuples()
    found = dict(rows.all())
    return {reward_id: int(found.get(reward_id, 0)) for reward_id in reward_ids}


def _check_against_program(session: Session, program: LoyaltyProgram, reward_in: RewardIn) -> None:
    if reward_in.point_type not in program.point_types:
        raise ValidationFailed(
            f"{reward_in.point_type!r} is not a point type of this program "
            f"({', '.join(program.point_types)}).",
            errors=[{"field": "point_type", "message": "unknown point type"}],
        )
    if reward_in.min_tier is not None:
        tiers = session.scalars(
            select(LoyaltyTier.key).where(LoyaltyTier.program_id == program.id)
        ).all()
        if reward_in.min_tier not in tiers:
            raise ValidationFailed(
                f"{reward_in.min_tier!r} is not a tier of this program "
                f"({', '.join(tiers) or 'it has none'}).",
                errors=[{"field": "min_tier", "message": "unknown tier"}],
            )


def save_reward(
    session: Session, *, principal: Principal, workspace_id: int, key: str, reward_in: RewardIn
) -> tuple[Reward, bool]:
    """Create or replace the reward ``key`` (audited as ``loyalty.reward_save``); saving an
    archived reward brings it back. Returns the reward and whether it was created."""
    if not re.fullmatch(KEY_PATTERN, key):
        raise ValidationFailed(f"{key!r} is not a reward key (a-z, 0-9, _ and -, up to 40).")
    program = require_program(session, workspace_id=workspace_id)
    _check_against_program(session, program, reward_in)
    reward = session.scalar(
        select(Reward).where(Reward.program_id == program.id, Reward.key == key)
    )
    created = reward is None
    if reward is None:
        reward = Reward(workspace_id=workspace_id, program_id=program.id, key=key)
        session.add(reward)
    for name, value in reward_in.model_dump().items():
        setattr(reward, name, value)
    reward.archived_at = None
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="loyalty.reward_save",
        workspace_id=workspace_id,
        target_type="loyalty_reward",
        target_id=reward.id,
        detail={"key": key, "created": created, "cost": reward.cost, "stock": reward.stock},
    )
    return reward, created


def archive_reward(
    session: Session, *, principal: Principal, workspace_id: int, key: str
) -> Reward:
    """Take a reward out of the catalogue (audited as ``loyalty.reward_archive``); its
    redemptions stay and may still be cancelled. Archiving it again changes nothing."""
    reward = find_reward(session, workspace_id=workspace_id, key=key)
    if reward.archived_at is not None:
        return reward
    reward.archived_at = utcnow()
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="loyalty.reward_archive",
        workspace_id=workspace_id,
        target_type="loyalty_reward",
        target_id=reward.id,
        detail={"key": reward.key},
    )
    return reward


def parse_codes(text: str) -> list[str]:
    """The codes of an upload, one per line (blank lines skipped, spaces around a code
    trimmed); ValidationFailed naming the first wrong lines."""
    lines = text.splitlines()
    codes: list[str] = []
    wrong: list[int] = []
    for number, line in enumerate(lines, start=1):
        code = line.strip()
        if not code:
            continue
        if CODE_PATTERN.fullmatch(code):
            codes.append(code)
        else:
            wrong.append(number)
    if wrong:
        shown = ", ".join(str(n) for n in wrong[:10]) + (" …" if len(wrong) > 10 else "")
        raise ValidationFailed(
            f"{len(wrong)} line(s) are not codes (line {shown}): a code is 1 to 64 visible "
            "ASCII characters without spaces.",
            errors=[{"field": "body", "message": f"line {n}: not a code"} for n in wrong[:10]],
        )
    if not codes:
        raise ValidationFailed("The upload holds no codes: send them one per line.")
    if len(codes) > MAX_CODES_PER_UPLOAD:
        raise ValidationFailed(
            f"{len(codes):,} codes in one upload; send at most {MAX_CODES_PER_UPLOAD:,} at a time."
        )
    return codes


def upload_codes(
    session: Session, *, principal: Principal, workspace_id: int, key: str, text: str
) -> CodesUploaded:
    """Add codes to a pool reward's pool (audited as ``loyalty.codes_upload``); a code the
    reward already has, or that repeats in the upload, is counted and skipped."""
    reward = find_reward(session, workspace_id=workspace_id, key=key)
    if reward.code_source != "pool":
        raise ValidationFailed(
            f"Reward {reward.key!r} takes no uploaded codes: its codes are {reward.code_source} "
            '(save it with code_source "pool" first).'
        )
    codes = parse_codes(text)
    unique = list(dict.fromkeys(codes))
    known: set[str] = set()
    for start in range(0, len(unique), 500):
        known.update(
            session.scalars(
                select(RewardCode.code).where(
                    RewardCode.reward_id == reward.id,
                    RewardCode.code.in_(unique[start : start + 500]),
                )
            )
        )
    new = [code for code in unique if code not in known]
    if new:
        now = utcnow()
        session.execute(
            insert(RewardCode),
            [
                {
                    "workspace_id": workspace_id,
                    "reward_id": reward.id,
                    "code": code,
                    "status": "free",
                    "generated": False,
                    "created_at": now,
                }
                for code in new
            ],
        )
    record_audit(
        session,
        principal=principal,
        action="loyalty.codes_upload",
        workspace_id=workspace_id,
        target_type="loyalty_reward",
        target_id=reward.id,
        detail={"key": reward.key, "added": len(new), "duplicates": len(codes) - len(new)},
    )
    return CodesUploaded(
        added=len(new),
        duplicates=len(codes) - len(new),
        free=free_codes(session, reward_ids=[reward.id])[reward.id],
    )


# --- redeeming ----------------------------------------------------------------------------------


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
