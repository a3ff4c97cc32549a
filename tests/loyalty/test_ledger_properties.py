"""The ledger under any sequence of earning, spending, expiry, reversal and replay: the balance
is the sum of the ledger and never negative, each lot is spent and expires in its turn, and a
replayed source earns once. Checked against a plain model of the lots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.loyalty import ledger
from cxloop.models import LedgerAllocation, LedgerEntry, LoyaltyMember, LoyaltyProgram
from tests.factories import make_customer, make_workspace

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Lot:
    id: int
    remaining: int
    available_at: datetime
    expires_at: datetime | None
    order: str | None


def spend_order(lot: Lot) -> tuple[bool, datetime, int]:
    return (lot.expires_at is None, lot.expires_at or T0, lot.id)


def test_any_sequence_keeps_the_ledger_whole(session: Session) -> None:
    workspace = make_workspace(session)
    customer = make_customer(session, workspace=workspace)
    program = LoyaltyProgram(workspace_id=workspace.id, point_types=["points"])
    session.add(program)
    session.flush()

    class Ledger(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            self.savepoint = session.begin_nested()
            self.member = LoyaltyMember(
                workspace_id=workspace.id, program_id=program.id, customer_id=customer.id
            )
            session.add(self.member)
            session.flush()
            self.now = T0
            self.lots: list[Lot] = []
            self.orders = 0
            self.keys: set[str] = set()

        def teardown(self) -> None:
            self.savepoint.rollback()

        def spendable(self) -> list[Lot]:
            return sorted(
                (
                    lot
                    for lot in self.lots
                    if lot.remaining > 0
                    and lot.available_at <= self.now
                    and (lot.expires_at is None or lot.expires_at > self.now)
                ),
                key=spend_order,
            )

        @rule(
            amount=st.integers(1, 1000),
            pending=st.integers(0, 3),
            lasts=st.none() | st.integers(1, 10),
            replays=st.integers(0, 2),
        )
        def earn(self, amount: int, pending: int, lasts: int | None, replays: int) -> None:
            self.orders += 1
            ref = f"O-{self.orders}"
            available = self.now + timedelta(days=pending)
            expires = None if lasts is None else available + timedelta(days=lasts)
            key = f"order:orders:{ref}"
            for _ in range(1 + replays):
                # A replay finds its key taken, as the earning consumer does.
                if session.scalar(select(LedgerEntry.id).where(LedgerEntry.source_key == key)):
                    continue
                lot = ledger.add_lot(
                    session,
                    member=self.member,
                    point_type="points",
                    kind="earn",
                    amount=amount,
                    occurred_at=self.now,
                    available_at=available,
                    expires_at=expires,
                    reason=ref,
                    source_key=key,
                    order_ref=ref,
                )
                self.lots.append(Lot(lot.id, amount, available, expires, ref))

        @rule(amount=st.integers(1, 1500))
        def redeem(self, amount: int) -> None:
            have = sum(lot.remaining for lot in self.spendable())
            try:
                ledger.take(
                    session,
                    member=self.member,
                    point_type="points",
                    kind="redeem",
                    amount=amount,
                    now=self.now,
                    reason="redeem",
                )
            except ledger.NotEnoughPoints:
                assert have < amount
                return
            assert have >= amount
            for lot in self.spendable():
                used = min(amount, lot.remaining)
                lot.remaining -= used
                amount -= used

        @rule(days=st.integers(0, 6))
        def time_passes(self, days: int) -> None:
            self.now += timedelta(days=days, hours=1)

        @rule()
        def expire(self) -> None:
            ledger.expire_lots(session, member=self.member, point_type="points", now=self.now)
            for lot in self.lots:
                if lot.expires_at is not None and lot.expires_at <= self.now:
                    lot.remaining = 0

        @precondition(lambda self: self.orders > 0)
        @rule(data=st.data(), share=st.integers(1, 100))
        def reverse(self, data: st.DataObject, share: int) -> None:
            ref = f"O-{data.draw(st.integers(1, self.orders))}"
            own = [lot for lot in self.lots if lot.order == ref]
            asked = max(1, sum(lot.remaining for lot in own) * share // 100)
            ledger.take(
                session,
                member=self.member,
                point_type="points",
                kind="reverse",
                amount=asked,
                now=self.now,
                reason="refund",
                lots=ledger.reversible_lots(
                    session, member=self.member, point_type="points", order_ref=ref, now=self.now
                ),
                partial=True,
            )
            # The order's own lots first (expired or not: those points are lost anyway), then
            # the spendable ones, then the pending ones.
            live = [lot for lot in self.lots if lot.expires_at is None or lot.expires_at > self.now]
            spendable = [lot for lot in self.spendable() if lot.order != ref]
            pending = [lot for lot in live if lot.available_at > self.now and lot.order != ref]
            for lot in [
                *sorted(own, key=spend_order),
                *spendable,
                *sorted(pending, key=spend_order),
            ]:
                used = min(asked, lot.remaining)
                lot.remaining -= used
                asked -= used

        @invariant()
        def the_ledger_is_whole(self) -> None:
            session.flush()
            entries = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.member_id == self.member.id
            )
            lots = select(func.coalesce(func.sum(LedgerEntry.remaining), 0)).where(
                LedgerEntry.member_id == self.member.id
            )
            total = session.scalar(entries)
            assert total == session.scalar(lots) >= 0
            assert total == sum(lot.remaining for lot in self.lots)
            remaining = dict(
                session.execute(
                    select(LedgerEntry.id, LedgerEntry.remaining).where(
                        LedgerEntry.member_id == self.member.id, LedgerEntry.amount > 0
                    )
                )
                .tuples()
                .all()
            )
            # Each lot was spent, expired or taken back exactly as the model says: oldest first.
            assert remaining == {lot.id: lot.remaining for lot in self.lots}
            # Every taking is spread over lots to the point.
            takings = session.execute(
                select(LedgerEntry.amount, func.coalesce(func.sum(LedgerAllocation.amount), 0))
                .outerjoin(LedgerAllocation, LedgerAllocation.entry_id == LedgerEntry.id)
                .where(LedgerEntry.member_id == self.member.id, LedgerEntry.amount < 0)
                .group_by(LedgerEntry.id, LedgerEntry.amount)
            ).all()
            assert all(-amount == allocated for amount, allocated in takings)

    run_state_machine_as_test(
        Ledger,
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
