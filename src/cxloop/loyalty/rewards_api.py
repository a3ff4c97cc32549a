"""The rewards catalogue and redemptions over HTTP: rewards saved, archived and given codes,
a member's points spent on a reward, their redemptions, and a redemption cancelled."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.core.errors import ContentTooLarge, ValidationFailed
from cxloop.loyalty import members, redemptions, rewards
from cxloop.loyalty.rewards import MAX_CODES_BYTES, RewardIn
from cxloop.loyalty.schemas import KEY_PATTERN
from cxloop.models import Redemption, Reward

router = APIRouter(prefix="/api/v1/loyalty", tags=["loyalty"])

CustomerId = Annotated[int, FastPath(ge=1, le=2**63 - 1, description="Customer id")]
RedemptionId = Annotated[int, FastPath(ge=1, le=2**63 - 1, description="Redemption id")]
RewardKey = Annotated[str, FastPath(pattern=KEY_PATTERN, description="The reward's key")]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]


class RewardOut(RewardIn):
    id: int
    key: str
    archived: bool
    codes_free: int | None = Field(description="Codes left in the pool (pool rewards only)")
    created_at: datetime
    updated_at: datetime


class RewardPage(BaseModel):
    items: list[RewardOut]
    next_cursor: str | None


class CodesOut(BaseModel):
    added: int = Field(description="New codes put in the pool")
    duplicates: int = Field(description="Lines whose code the pool had or the upload repeated")
    codes_free: int = Field(description="Codes left in the pool now")


class RedemptionIn(BaseModel):
    """The reward to take, by ``reward`` key or ``reward_id``, and a key that makes a retry
    return the first redemption instead of spending again."""

    model_config = ConfigDict(extra="forbid")

    reward: str | None = Field(default=None, pattern=KEY_PATTERN)
    reward_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    idempotency_key: str = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_reward(self) -> RedemptionIn:
        if (self.reward is None) == (self.reward_id is None):
            raise ValueError("name the reward by its key (reward) or its id (reward_id), not both.")
        return self


class RedemptionOut(BaseModel):
    id: int
    customer_id: int
    reward: str
    reward_id: int
    reward_name_ko: str
    reward_name_en: str
    points: int
    point_type: str
    code: str | None
    status: str
    idempotency_key: str
    created_at: datetime
    created_by: str
    cancelled_at: datetime | None
    cancelled_by: str | None


class RedemptionPage(BaseModel):
    items: list[RedemptionOut]
    next_cursor: str | None


def _reward_out(reward: Reward, free: int | None) -> RewardOut:
    settings = {name: getattr(reward, name) for name in RewardIn.model_fields}
    return RewardOut.model_validate(
        {
            **settings,
            "id": reward.id,
            "key": reward.key,
            "archived": reward.archived_at is not None,
            "codes_free": free,
            "created_at": reward.created_at,
            "updated_at": reward.updated_at,
        }
    )


def _rewards_out(session: Session, found: list[Reward]) -> list[RewardOut]:
    free = rewards.free_codes(session, reward_ids=[r.id for r in found if r.code_source == "pool"])
    return [_reward_out(r, free.get(r.id)) for r in found]


def _redemptions_out(session: Session, found: list[Redemption]) -> list[RedemptionOut]:
    shown = redemptions.details(session, redemptions=found)
    return [
        RedemptionOut(
            id=r.id,
            customer_id=shown[r.id].customer_id,
            reward=shown[r.id].reward_key,
            reward_id=r.reward_id,
            reward_name_ko=shown[r.id].reward_name_ko,
            reward_name_en=shown[r.id].reward_name_en,
            points=r.points,
            point_type=r.point_type,
            code=r.code,
            status=r.status,
            idempotency_key=r.idempotency_key,
            created_at=r.created_at,
            created_by=r.created_by,
            cancelled_at=r.cancelled_at,
            cancelled_by=r.cancelled_by,
        )
        for r in found
    ]


@router.get("/rewards", response_model=RewardPage)
def list_rewards(
    principal: ApiPrincipal,
    session: DbSession,
    include_archived: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> RewardPage:
    """The rewards catalogue in the order it was made (``next_cursor`` pages)."""
    require(principal, "loyalty:read")
    found, next_cursor = rewards.list_rewards(
        session,
        workspace_id=principal.workspace_id,
        include_archived=include_archived,
        cursor=cursor,
        limit=limit,
    )
    return RewardPage(items=_rewards_out(session, found), next_cursor=next_cursor)


@router.get("/rewards/{key}", response_model=RewardOut)
def get_reward(key: RewardKey, principal: ApiPrincipal, session: DbSession) -> RewardOut:
    """One reward, with the codes left in its pool."""
    require(principal, "loyalty:read")
    reward = rewards.find_reward(session, workspace_id=principal.workspace_id, key=key)
    return _rewards_out(session, [reward])[0]


@router.put("/rewards/{key}", response_model=RewardOut)
def put_reward(
    key: RewardKey, body: RewardIn, principal: ApiPrincipal, session: DbSession
) -> RewardOut:
    """Create or replace a reward (an archived one comes back). Audited."""
    require(principal, "loyalty:write")
    reward, _created = rewards.save_reward(
        session, principal=principal, workspace_id=principal.workspace_id, key=key, reward_in=body
    )
    return _rewards_out(session, [reward])[0]


@router.post("/rewards/{key}/archive", response_model=RewardOut)
def archive_reward(key: RewardKey, principal: ApiPrincipal, session: DbSession) -> RewardOut:
    """Take a reward out of the catalogue; its redemptions stay. Audited."""
    require(principal, "loyalty:write")
    reward = rewards.archive_reward(
        session, principal=principal, workspace_id=principal.workspace_id, key=key
    )
    return _rewards_out(session, [reward])[0]


async def _codes_text(request: Request) -> str:
    """The upload's text, read up to its limit."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_CODES_BYTES:
            raise ContentTooLarge(
                f"The upload is larger than {MAX_CODES_BYTES // 1000:,} KB; "
                "send the codes in parts."
            )
        parts.append(chunk)
    try:
        return b"".join(parts).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("The codes must be UTF-8 text, one code per line.") from None


@router.post(
    "/rewards/{key}/codes",
    response_model=CodesOut,
    openapi_extra={
        "requestBody": {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "required": True,
            "description": "Codes, one per line (up to 1 MB and 20,000 codes)",
        }
    },
)
def upload_codes(
    key: RewardKey,
    principal: ApiPrincipal,
    session: DbSession,
    text: Annotated[str, Depends(_codes_text)],
) -> CodesOut:
    """Add codes to a pool reward, one per line; codes it has already are skipped. Audited."""
    require(principal, "loyalty:write")
    done = rewards.upload_codes(
        session, principal=principal, workspace_id=principal.workspace_id, key=key, text=text
    )
    return CodesOut(added=done.added, duplicates=done.duplicates, codes_free=done.free)


@router.post("/members/{customer_id}/redemptions", response_model=RedemptionOut)
def redeem_reward(
    customer_id: CustomerId, body: RedemptionIn, principal: ApiPrincipal, session: DbSession
) -> RedemptionOut:
    """Spend a member's points on a reward and issue its code; the same idempotency key again
    returns the same redemption. 422 when the reward is not open to the member or their points
    are short, 409 when it is out of stock or codes."""
    require(principal, "loyalty:redeem")
    loyalty = members.active_program(session, workspace_id=principal.workspace_id)
    reward = rewards.find_reward(
        session, workspace_id=principal.workspace_id, key=body.reward, reward_id=body.reward_id
    )
    redemption = redemptions.redeem_reward(
        session,
        principal=principal,
        program=loyalty,
        customer_id=customer_id,
        reward=reward,
        idempotency_key=body.idempotency_key,
    )
    return _redemptions_out(session, [redemption])[0]


@router.get("/members/{customer_id}/redemptions", response_model=RedemptionPage)
def member_redemptions(
    customer_id: CustomerId,
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> RedemptionPage:
    """A member's redemptions, newest first (``next_cursor`` pages)."""
    require(principal, "loyalty:read")
    loyalty = members.active_program(session, workspace_id=principal.workspace_id)
    found, next_cursor = redemptions.member_redemptions(
        session, program=loyalty, customer_id=customer_id, cursor=cursor, limit=limit
    )
    return RedemptionPage(items=_redemptions_out(session, found), next_cursor=next_cursor)


@router.post("/redemptions/{redemption_id}/cancel", response_model=RedemptionOut)
def cancel_redemption(
    redemption_id: RedemptionId, principal: ApiPrincipal, session: DbSession
) -> RedemptionOut:
    """Cancel a redemption: its points come back, its code goes back to the pool (a generated
    one is voided) and its unit back to stock. Cancelling it again changes nothing. Audited."""
    require(principal, "loyalty:redeem")
    redemption = redemptions.cancel_redemption(
        session,
        principal=principal,
        workspace_id=principal.workspace_id,
        redemption_id=redemption_id,
    )
    return _redemptions_out(session, [redemption])[0]
