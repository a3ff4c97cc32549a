"""The rewards catalogue: what members may take for their points (coupons, discounts, gifts,
experiences), with stock, cost, tier limits and dates, and the coupon codes behind a reward
(uploaded to its pool). Taking and cancelling a reward is in ``redemptions``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.pagination import oldest_first
from cxloop.core.timeutil import utcnow
from cxloop.loyalty.program import require_program
from cxloop.loyalty.schemas import KEY_PATTERN, check_window
from cxloop.models import (
    LoyaltyProgram,
    LoyaltyTier,
    Reward,
    RewardCode,
)

MAX_CODES_BYTES = 1_000_000  # one upload: 1 MB of text
MAX_CODES_PER_UPLOAD = 20_000
CODE_PATTERN = re.compile(r"[!-~]{1,64}")  # visible ASCII, no spaces


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
        check_window(self.starts_at, self.ends_at)
        return self


@dataclass(frozen=True)
class CodesUploaded:
    """What an upload did: codes added, lines that repeated a code already there or earlier in
    the upload, and the reward's free codes now."""

    added: int
    duplicates: int
    free: int


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
