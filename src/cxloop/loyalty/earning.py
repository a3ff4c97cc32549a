"""Earning points from the event log: the ``loyalty_earning`` bus consumer.

Each event earns at most once per rule: the ledger's ``source_key`` is unique per program, and
is the order id for orders (an order sent again under another messageId earns nothing more)
and the event for the rest. The consumer's checkpoint advances in the same transaction as the
points, so a crash before the commit earns nothing and the batch is handed over again; a
replay finds the keys taken and earns nothing twice.

``Order Refunded`` and ``Order Cancelled`` take an order's points back: all of them on a
cancellation or a refund without an amount, otherwise in proportion of the refunded total to
the order's total (never more than is left of them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.db import dialect_insert
from cxloop.core.timeutil import utcnow
from cxloop.events.commerce import line_items, money
from cxloop.loyalty import ledger
from cxloop.loyalty.program import Program, programs_with_events
from cxloop.loyalty.tiers import upgrade_members
from cxloop.models import EarningRule, Event, LedgerEntry, LoyaltyMember

REFUND_EVENTS = frozenset({"Order Refunded", "Order Cancelled"})


# --- members -----------------------------------------------------------------------------------


def ensure_members(
    session: Session, *, program: Program, customer_ids: Iterable[int], joined_at: datetime
) -> dict[int, LoyaltyMember]:
    """The program's members for these customers, enrolling those not yet in it."""
    ids = set(customer_ids)
    if not ids:
        return {}
    p = program.program

    def enrolled(among: set[int]) -> dict[int, LoyaltyMember]:
        return {
            m.customer_id: m
            for m in session.scalars(
                select(LoyaltyMember).where(
                    LoyaltyMember.program_id == p.id, LoyaltyMember.customer_id.in_(among)
                )
            )
        }

    # Most customers of a batch are members already: only the others are inserted.
    members = enrolled(ids)
    missing = ids - members.keys()
    if not missing:
        return members
    base = program.tiers[0].id if program.tiers else None
    insert = dialect_insert(session)
    # Many parameter sets for one statement: compiled once, not once per batch size.
    session.execute(
        insert(LoyaltyMember).on_conflict_do_nothing(index_elements=["program_id", "customer_id"]),
        [
            {
                "workspace_id": p.workspace_id,
                "program_id": p.id,
                "customer_id": customer_id,
                "tier_id": base,
                "tier_since": joined_at if base else None,
                "created_at": joined_at,
            }
            for customer_id in sorted(missing)
        ],
    )
    return {**members, **enrolled(missing)}


# --- what an event is worth --------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def condition_holds(condition: dict[str, Any], properties: dict[str, Any]) -> bool:
    """Whether an event's properties pass one ``where`` condition of a rule."""
    op = condition.get("op", "eq")
    present = condition["property"] in properties
    actual = properties.get(condition["property"])
    expected = condition.get("value")
    if op == "exists":
        return present and actual is not None
    if op == "in":
        return isinstance(expected, list) and str(actual) in {str(v) for v in expected}
    if op == "contains":
        return isinstance(actual, str) and str(expected).casefold() in actual.casefold()
    if op in ("gt", "gte", "lt", "lte"):
        a, b = _number(actual), _number(expected)
        if a is None or b is None:
            return False
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    same = (
        actual == expected
        or (_number(actual) is not None and _number(actual) == _number(expected))
        or (isinstance(actual, str) and isinstance(expected, str) and actual == expected)
    )
    return same if op == "eq" else not same


def _order_id(properties: dict[str, Any]) -> str | None:
    value = properties.get("order_id") or properties.get("orderId")
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()[:128]
    return text or None


@dataclass(frozen=True)
class OrderAmounts:
    total: Decimal  # what the order came to: the base of proportional reversals, minimum order
    eligible: Decimal  # what earns: the total less excluded products
    # Of the eligible amount, what falls in categories the rule gives their own rate, by rate.
    at_category_rates: dict[Decimal, Decimal] = field(default_factory=dict)

    def points(self, rate: Decimal, multiplier: Decimal) -> int:
        """The points earned at the member's ``rate`` (percent) on what has no category rate
        and at each category's rate on the rest."""
        rated = sum(self.at_category_rates.values(), Decimal(0))
        value = max(self.eligible - rated, Decimal(0)) * rate + sum(
            (amount * category_rate for category_rate, amount in self.at_category_rates.items()),
            Decimal(0),
        )
        return _whole(value / 100 * multiplier)


def order_amounts(properties: dict[str, Any], rule: EarningRule, currency: str) -> OrderAmounts:
    """The order's total and the part of it ``rule`` pays points on: revenue (or the total, or
    the products' sum) less the products the rule excludes, with the products in categories
    that have their own rate set apart."""
    lines = line_items(properties, currency)
    total = money(properties.get("revenue"), currency)
    if total is None:
        total = money(properties.get("total"), currency)
    if total is None:
        total = sum((line.amount for line in lines), Decimal(0))
    total = max(total, Decimal(0))
    excluded_categories = {c.casefold() for c in rule.excluded_categories}
    excluded_products = set(rule.excluded_products)
    category_rates = {
        str(name).casefold(): Decimal(str(rate)) for name, rate in rule.rate_by_category.items()
    }
    excluded = kept = Decimal(0)
    by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
    for line in lines:
        category = (line.category or "").casefold()
        product = (line.fields or {}).get("external_id") or ""
        if category in excluded_categories or product in excluded_products:
            excluded += line.amount
            continue
        kept += line.amount
        if category in category_rates:
            by_rate[category_rates[category]] += line.amount
    eligible = max(total - excluded, Decimal(0))
    # A discount on the whole order is shared by the kept lines pro rata; what the order comes
    # to beyond its lines (a fee, lines left out) earns at the member's rate.
    share = min(eligible / kept, Decimal(1)) if kept > 0 else Decimal(0)
    return OrderAmounts(
        total=total,
        eligible=eligible,
        at_category_rates={rate: amount * share for rate, amount in by_rate.items()},
    )


def _whole(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def _in_window(rule: EarningRule, moment: datetime) -> bool:
    return (rule.starts_at is None or rule.starts_at <= moment) and (
        rule.ends_at is None or moment < rule.ends_at
    )


def _matches(rule: EarningRule, event: Event) -> bool:
    if event.name != rule.event or not _in_window(rule, event.timestamp):
        return False
    return all(condition_holds(c, event.properties or {}) for c in rule.where)


# --- caps ----------------------------------------------------------------------------------------


class Caps:
    """What each member has earned under a capped rule in the event's local day and month."""

    def __init__(self, session: Session, program: Program) -> None:
        self.session = session
        self.zone = program.zone
        self._earned: dict[tuple[int, int, str, datetime], int] = {}

    def _span(self, moment: datetime, unit: str) -> tuple[datetime, datetime]:
        local = moment.astimezone(self.zone)
        if unit == "day":
            start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            end = start + timedelta(days=1)
        else:
            start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            end = (start + timedelta(days=32)).replace(day=1)
        return start, end

    def _so_far(self, member_id: int, rule_id: int, unit: str, moment: datetime) -> int:
        start, end = self._span(moment, unit)
        key = (member_id, rule_id, unit, start)
        if key not in self._earned:
            self._earned[key] = int(
                self.session.scalar(
                    select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                        LedgerEntry.member_id == member_id,
                        LedgerEntry.rule_id == rule_id,
                        LedgerEntry.kind == "earn",
                        LedgerEntry.occurred_at >= start,
                        LedgerEntry.occurred_at < end,
                    )
                )
                or 0
            )
        return self._earned[key]

    def allow(self, rule: EarningRule, member_id: int, moment: datetime, points: int) -> int:
        """How many of ``points`` the caps let through; counts them as earned."""
        for unit, cap in (("day", rule.cap_per_day), ("month", rule.cap_per_month)):
            if cap is not None:
                points = max(0, min(points, cap - self._so_far(member_id, rule.id, unit, moment)))
        for unit, cap in (("day", rule.cap_per_day), ("month", rule.cap_per_month)):
            if cap is not None:
                start, _ = self._span(moment, unit)
                self._earned[(member_id, rule.id, unit, start)] += points
        return points


# --- the batch ---------------------------------------------------------------------------------


def _source_key(rule: EarningRule, event: Event, member: LoyaltyMember) -> str | None:
    if rule.once_per_member:
        return f"once:{rule.key}:{member.customer_id}"
    if rule.kind == "order":
        order_id = _order_id(event.properties or {})
        return f"order:{rule.key}:{order_id}" if order_id else None
    return f"event:{rule.key}:{event.id}"


def _taken_keys(session: Session, program_id: int, keys: Iterable[str]) -> set[str]:
    wanted = list(set(keys))
    taken: set[str] = set()
    for start in range(0, len(wanted), 500):
        taken.update(
            session.scalars(
                select(LedgerEntry.source_key).where(
                    LedgerEntry.program_id == program_id,
                    LedgerEntry.source_key.in_(wanted[start : start + 500]),
                )
            )
        )
    return taken


def _rate(rule: EarningRule, program: Program, member: LoyaltyMember) -> Decimal:
    tier = program.tier(member.tier_id)
    if tier is not None and tier.key in rule.rate_by_tier:
        return Decimal(str(rule.rate_by_tier[tier.key]))
    return rule.rate_percent


def earn_batch(session: Session, program: Program, events: Sequence[Event]) -> set[int]:
    """Apply a batch of one workspace's events to its program; returns the members whose
    orders changed (their tier is evaluated after)."""
    names = {rule.event for rule in program.rules}
    relevant = [
        e for e in events if e.type == "track" and (e.name in names or e.name in REFUND_EVENTS)
    ]
    if not relevant:
        return set()
    earning = [e for e in relevant if e.name in names]
    members = ensure_members(
        session,
        program=program,
        customer_ids={e.customer_id for e in earning},
        joined_at=min((e.timestamp for e in earning), default=utcnow()),
    )
    # Each event's (rule, member, key) candidates, in rule order.
    candidates: dict[int, list[tuple[EarningRule, LoyaltyMember, str]]] = defaultdict(list)
    for event in earning:
        member = members[event.customer_id]
        for rule in program.rules:
            if _matches(rule, event) and (key := _source_key(rule, event, member)):
                candidates[id(event)].append((rule, member, key))
    taken = _taken_keys(
        session, program.program.id, (c[2] for found in candidates.values() for c in found)
    )
    caps = Caps(session, program)
    changed: set[int] = set()
    # Lots are written together, before a refund reads the ledger and at the end.
    lots: list[ledger.NewLot] = []
    for event in relevant:
        if event.name in REFUND_EVENTS:
            ledger.add_lots(session, lots)
            lots.clear()
            changed.update(_take_back(session, program, event))
            continue
        for rule, member, key in candidates.get(id(event), ()):
            if key in taken:
                continue
            taken.add(key)
            if rule.kind == "order":
                changed.add(member.id)
            lot = _earning(program, caps, event, rule, member, key)
            if lot is not None:
                lots.append(lot)
    ledger.add_lots(session, lots)
    return changed


def _earning(
    program: Program,
    caps: Caps,
    event: Event,
    rule: EarningRule,
    member: LoyaltyMember,
    key: str,
) -> ledger.NewLot | None:
    """The lot ``event`` earns under ``rule`` (None when nothing, as under a cap)."""
    properties = event.properties or {}
    order_ref = None
    order_total = None
    if rule.kind == "order":
        amounts = order_amounts(properties, rule, program.program.currency)
        if rule.min_order is not None and amounts.total < rule.min_order:
            return None
        points = amounts.points(_rate(rule, program, member), rule.multiplier)
        order_ref, order_total = _order_id(properties), amounts.total
        available_at = event.timestamp + timedelta(days=program.program.pending_days)
        reason = f"order {order_ref}"
    else:
        points = _whole(Decimal(rule.points) * rule.multiplier)
        available_at = event.timestamp
        reason = rule.name or rule.event
    points = caps.allow(rule, member.id, event.timestamp, points)
    if points <= 0:
        return None
    return ledger.NewLot(
        member=member,
        point_type=rule.point_type,
        kind="earn",
        amount=points,
        occurred_at=event.timestamp,
        available_at=available_at,
        expires_at=program.expiry_of(available_at),
        reason=reason,
        rule_id=rule.id,
        source_event_id=event.id,
        source_key=key,
        order_ref=order_ref,
        order_amount=order_total,
    )


def _take_back(session: Session, program: Program, event: Event) -> set[int]:
    """Reverse an order's points for a refund or a cancellation; returns the members touched."""
    properties = event.properties or {}
    order_ref = _order_id(properties)
    if order_ref is None:
        return set()
    lots = list(
        session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.program_id == program.program.id,
                LedgerEntry.order_ref == order_ref,
                LedgerEntry.kind.in_(("earn", "reverse")),
            )
        )
    )
    if not lots:
        return set()
    refunded = None
    if event.name == "Order Refunded":
        refunded = money(properties.get("total"), program.program.currency)
        if refunded is None:
            refunded = money(properties.get("revenue"), program.program.currency)
    taken_back = _taken_keys(
        session,
        program.program.id,
        (f"reverse:{event.id}:{lot.member_id}:{lot.point_type}" for lot in lots),
    )
    by_member: dict[tuple[int, str], list[LedgerEntry]] = defaultdict(list)
    for lot in lots:
        by_member[(lot.member_id, lot.point_type)].append(lot)
    touched: set[int] = set()
    for (member_id, point_type), entries in by_member.items():
        key = f"reverse:{event.id}:{member_id}:{point_type}"
        if key in taken_back:
            continue
        earned = sum(e.amount for e in entries if e.kind == "earn")
        left = sum(e.amount for e in entries)
        total = next((e.order_amount for e in entries if e.order_amount), None)
        if refunded is None or not total or refunded >= total:
            points = left
        else:
            points = min(left, _whole(Decimal(earned) * refunded / total + Decimal("0.5")))
        if points <= 0:
            continue
        member = session.get(LoyaltyMember, member_id)
        if member is None:
            continue
        ledger.take(
            session,
            member=member,
            point_type=point_type,
            kind="reverse",
            amount=points,
            now=event.timestamp,
            reason=f"{'refund' if event.name == 'Order Refunded' else 'cancellation'} of order "
            f"{order_ref}",
            lots=ledger.reversible_lots(
                session,
                member=member,
                point_type=point_type,
                order_ref=order_ref,
                now=event.timestamp,
            ),
            partial=True,
            source_key=key,
            source_event_id=event.id,
            order_ref=order_ref,
        )
        touched.add(member_id)
    return touched


class LoyaltyEarning:
    """Earns and takes back points as orders and other events arrive."""

    name = "loyalty_earning"
    columns: tuple[str, ...] | None = None

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        for program, batch in programs_with_events(session, events):
            changed = earn_batch(session, program, batch)
            if changed and program.tiers:
                upgrade_members(session, program, member_ids=changed, now=utcnow())


loyalty_earning = LoyaltyEarning()
