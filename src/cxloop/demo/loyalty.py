"""The demo's loyalty program: saved before the year's events are read, so the bus earns every
order's points (and every survey answer's) as it would have live; at the end some members
spend their points on ₩5,000 coupons, points whose day has come expire, and tiers are set."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cxloop.accounts.access import Principal
from cxloop.demo.context import DemoContext
from cxloop.loyalty import ledger
from cxloop.loyalty.program import load_programs, save_program
from cxloop.loyalty.schemas import ProgramIn, RuleIn, TierIn
from cxloop.loyalty.tasks import expire_points
from cxloop.loyalty.tiers import evaluate_tiers
from cxloop.models import LoyaltyMember

COUPON = 5000
PROGRAM = ProgramIn(
    name="cxloop 멤버십",
    pending_days=14,
    expiry_months=12,
    leaderboard=True,
    tiers=[
        TierIn(key="welcome", name="Welcome"),
        TierIn(key="silver", name="Silver", threshold=300000, birthday_bonus=1000),
        TierIn(key="gold", name="Gold", threshold=1000000, free_shipping=True, birthday_bonus=3000),
    ],
    rules=[
        RuleIn(
            key="orders",
            name="구매 적립 (스킨케어 3%)",
            rate_percent=1,
            rate_by_tier={"gold": 2},
            rate_by_category={"뷰티/스킨케어": 3},
        ),
        RuleIn(
            key="first-review",
            name="첫 리뷰",
            kind="event",
            event="Product Reviewed",
            points=500,
            once_per_member=True,
        ),
        RuleIn(key="survey", name="설문 응답", kind="event", event="Survey Answered", points=300),
    ],
)


def add_loyalty_program(ctx: DemoContext) -> None:
    """Phase: the program, before the bus reads the year's events."""
    owner = Principal(workspace_id=ctx.workspace_id, role="owner", user_id=ctx.owner_id)
    with ctx.database.session() as session:
        save_program(session, principal=owner, workspace_id=ctx.workspace_id, program_in=PROGRAM)


def settle_loyalty(ctx: DemoContext) -> None:
    """Phase: coupons bought with points over the last months, expiry, tiers as of today."""
    rng = ctx.rng("loyalty")
    with ctx.database.session() as session:
        program = load_programs(session, workspace_ids=[ctx.workspace_id])[ctx.workspace_id]
        members = list(
            session.scalars(
                select(LoyaltyMember)
                .where(LoyaltyMember.program_id == program.program.id)
                .order_by(LoyaltyMember.id)
            )
        )
        task = ctx.task("Loyalty (coupons, expiry, tiers)", len(members))
        for member in members:
            task.advance(1)
            if rng.random() > 0.4:
                continue
            # A coupon or two, bought on a day of the last four months.
            for _ in range(rng.choice((1, 1, 2))):
                when = ctx.now - timedelta(days=rng.randint(1, 120), hours=rng.randint(0, 23))
                try:
                    ledger.take(
                        session,
                        member=member,
                        point_type="points",
                        kind="redeem",
                        amount=COUPON,
                        now=when,
                        reason="₩5,000 할인 쿠폰",
                    )
                except ledger.NotEnoughPoints:
                    break
        session.flush()
        evaluate_tiers(session, program, now=ctx.now)
        task.finish()
    expire_points(ctx.database)
