"""The compiler of a segment rule (``language``) to one SQL statement of customer ids for SQLite
and PostgreSQL alike, and the count and sample of the customers a rule matches.

How the data is read, the same for every condition:

* Only the workspace's live customers match: not merged into another profile, not erased.
* A row (event, order, response, consent record, identity, text, membership) that still names a
  profile merged into another counts for the survivor, as in ``insights.features``; rows of
  erased profiles do not count.
* "Within D days" means on one of the last D local days of the time zone given (today is the
  first of them), up to ``now``: ``within_days: 1`` is today. Nothing after ``now`` is read, so
  a rule evaluated "as of" a past moment sees only what had happened by then.
* Orders refunded or cancelled do not count; revenue is summed in one currency only.
* Scores are the last completed response's (``nps``, ``csat`` or ``ces``) that has the score.
* Predictions are the customer's current row in ``customer_predictions``; a customer the last
  run did not score has none, and a comparison with a prediction they lack is false.
* A consent condition follows the consent policy (``profiles.consent``): ``granted: true``
  matches the customers it would allow to be sent that purpose on that channel (service: unless
  the latest service record withdrew it; marketing, third party and night-time advertising: the
  latest record is an opt-in). The time of day is left to the sender (night-time holds).
* ``not`` is the complement among live customers: a customer without the trait, prediction or
  score a condition asks about matches its negation.

The compiled statement starts from ``customers``; a condition on the customer's own row (trait,
stage) is a predicate, any other (a prediction too) is a LEFT JOIN of the distinct customers it
holds for, an uncorrelated subquery each database computes once, tested so that PostgreSQL keeps
``customers`` as the side it starts from: its estimates of such subqueries' rows are far off (a
GROUP BY over a UNION is "200 groups"), and the semi-joins ``IN (...)`` would give it, once
reordered on those estimates, looped over whole subqueries (minutes on a million customers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Float,
    FromClause,
    Numeric,
    Select,
    String,
    Subquery,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from cxloop.core.timeutil import as_utc, utcnow
from cxloop.insights.features import DEFAULT_TZ, VOID_ORDER_STATUSES
from cxloop.insights.segments.json_sql import (
    JsonPath,
    bytewise,
    json_array_has_number,
    json_array_has_text,
    json_flag,
    json_number,
    json_present,
    json_text,
    json_text_is,
    text_position,
)
from cxloop.insights.segments.language import (
    AllGroup,
    AnyGroup,
    Condition,
    ConsentCondition,
    EventCondition,
    IdentityCondition,
    LifecycleCondition,
    NotGroup,
    OrderCondition,
    PredictionCondition,
    Rule,
    ScoreCondition,
    SegmentCondition,
    TextCondition,
    TraitCondition,
    ValueTest,
    check_segment_references,
    invalid_rule,
    parse_rule,
)
from cxloop.models import (
    ConsentRecord,
    Customer,
    CustomerPrediction,
    Event,
    Identity,
    Order,
    OrderItem,
    Response,
    SegmentMember,
    TextAnalysis,
    TextAnalysisCategory,
    Workspace,
)
from cxloop.models.base import table_of

# --- value tests of JSON documents -------------------------------------------------------------


def _compare(left: Any, op: str, right: Any) -> ColumnElement[bool]:
    match op:
        case "eq":
            return cast(ColumnElement[bool], left == right)
        case "neq":
            return cast(ColumnElement[bool], left != right)
        case "gt":
            return cast(ColumnElement[bool], left > right)
        case "gte":
            return cast(ColumnElement[bool], left >= right)
        case "lt":
            return cast(ColumnElement[bool], left < right)
        case "lte":
            return cast(ColumnElement[bool], left <= right)
    raise ValueError(f"unknown comparison {op}")


_COMPLEMENT = {"eq": "neq", "neq": "eq", "gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
_HOLDS = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _value_equals(doc: Any, path: JsonPath, value: Any) -> ColumnElement[bool]:
    if isinstance(value, bool):
        return json_flag(*path.args(doc)) == int(value)
    if isinstance(value, str):
        return json_text_is(*path.args(doc), literal(value, String()))
    return json_number(*path.args(doc)) == literal(float(value), Float())


def _value_test(doc: Any, test: ValueTest) -> tuple[ColumnElement[bool], bool]:
    """The SQL of one value test (NULL where the value is missing or of another type), and
    whether the test is that SQL's complement (``neq``)."""
    path = JsonPath.of(test.key)
    value = test.value
    if test.op == "exists":
        return json_present(*path.args(doc)), False
    if test.op in ("eq", "neq"):
        return _value_equals(doc, path, value), test.op == "neq"
    if test.op == "in":
        texts = [v for v in value if isinstance(v, str)]
        numbers = [float(v) for v in value if not isinstance(v, str)]
        tests: list[ColumnElement[bool]] = []
        if texts:
            tests.append(json_text(*path.args(doc)).in_(texts))
        if numbers:
            tests.append(json_number(*path.args(doc)).in_(numbers))
        return or_(*tests), False
    if test.op == "contains":
        one_element = literal(json.dumps([value], ensure_ascii=False), String())
        if isinstance(value, str):
            needle = literal(value, String())
            within = text_position(json_text(*path.args(doc)), needle) > 0
            return or_(within, json_array_has_text(*path.args(doc), one_element, needle)), False
        number = literal(float(value), Float())
        return json_array_has_number(*path.args(doc), one_element, number), False
    if isinstance(value, str):
        return _compare(
            bytewise(json_text(*path.args(doc))), test.op, literal(value, String())
        ), False
    return _compare(json_number(*path.args(doc)), test.op, literal(float(value), Float())), False


def _null_safe(expr: ColumnElement[bool], negated: bool) -> ColumnElement[bool]:
    """``expr``, or its complement with NULL (a value missing) counted as false first."""
    if not negated:
        return expr
    return not_(func.coalesce(expr, false()))


def property_matches(doc: Any, test: ValueTest) -> ColumnElement[bool]:
    """The SQL of one value test of a JSON document (an event's properties) for a WHERE or a
    CASE: a missing value or one of another type never passes (except ``neq``)."""
    return _null_safe(*_value_test(doc, test))


# --- the compiler -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """A condition on the customer's own row: a predicate."""

    expr: ColumnElement[bool]


@dataclass(frozen=True)
class _Set:
    """A condition held by the customers a subquery lists (``owner``; repeated unless
    ``unique``)."""

    owners: Select[Any] | CompoundSelect
    unique: bool = False


@dataclass(frozen=True)
class _Leaf:
    fact: _Row | _Set
    negated: bool


@dataclass(frozen=True)
class _Junction:
    conjunction: bool  # AND; OR when False
    parts: tuple[_Leaf | _Junction, ...]


@dataclass
class _Compiler:
    workspace_id: int
    now: datetime
    zone: ZoneInfo
    joins: list[Subquery] = field(default_factory=list)

    # -- time --

    def since(self, days: int | None) -> datetime | None:
        """Local midnight that starts the last ``days`` local days (today the last), in UTC."""
        if days is None:
            return None
        today = self.now.astimezone(self.zone).date()
        first = today - timedelta(days=days - 1)
        return datetime.combine(first, time(), tzinfo=self.zone).astimezone(UTC)

    def window(self, column: Any, days: int | None) -> list[ColumnElement[bool]]:
        clauses = [column <= self.now]
        start = self.since(days)
        if start is not None:
            clauses.append(column >= start)
        return clauses

    # -- rows of other tables, counted for the surviving profile --

    def owned(
        self,
        source: FromClause,
        customer_id: Any,
        columns: Sequence[Any],
        where: Sequence[ColumnElement[bool]],
    ) -> CompoundSelect:
        """Rows of ``source`` as (owner, *columns): the row's customer, or the profile it was
        merged into (rows written for a merged profile after the merge moved its others)."""
        direct = select(customer_id.label("owner"), *columns).select_from(source).where(*where)
        # Driven by the few merged profiles (an IN list both planners look rows up by), not by
        # every row of the window joined to its customer.
        merged_ids = select(Customer.id).where(
            # A range on the merge index's first column (ids start at 1): SQLite's statistics
            # do not tell it how few are not NULL, and would have it read every customer.
            Customer.merged_into_id >= 1,
            Customer.workspace_id == self.workspace_id,
            Customer.erased_at.is_(None),
        )
        survivor = aliased(Customer)
        owner = select(survivor.merged_into_id).where(survivor.id == customer_id).scalar_subquery()
        moved = (
            select(owner.label("owner"), *columns)
            .select_from(source)
            .where(*where, customer_id.in_(merged_ids))
        )
        return union_all(direct, moved)

    # -- the conditions --

    def fact(self, rule: Condition) -> tuple[_Row | _Set, bool]:
        """A condition's SQL, and whether the condition is that SQL's complement."""
        match rule:
            case TraitCondition():
                expr, negated = _value_test(Customer.traits, rule)
                return _Row(expr), negated
            case LifecycleCondition():
                return _Row(Customer.lifecycle_stage.in_(rule.stages)), False
            case ConsentCondition():
                return self.consent(rule)
            case IdentityCondition():
                rows = self.owned(
                    table_of(Identity),
                    Identity.customer_id,
                    [],
                    [Identity.workspace_id == self.workspace_id, Identity.kind == rule.kind],
                )
                return _Set(rows), not rule.exists
            case EventCondition():
                return self.event(rule)
            case OrderCondition():
                return self.order(rule)
            case ScoreCondition():
                return self.score(rule)
            case TextCondition():
                return self.text(rule)
            case PredictionCondition():
                return self.prediction(rule), False
            case SegmentCondition():
                rows = self.owned(
                    table_of(SegmentMember),
                    SegmentMember.customer_id,
                    [],
                    [
                        SegmentMember.workspace_id == self.workspace_id,
                        SegmentMember.segment_id == rule.segment_id,
                    ],
                )
                return _Set(rows), not rule.member
        raise AssertionError(f"unknown condition {rule!r}")

    def consent(self, rule: ConsentCondition) -> tuple[_Set, bool]:
        rows = self.owned(
            table_of(ConsentRecord),
            ConsentRecord.customer_id,
            [
                ConsentRecord.granted.label("granted"),
                ConsentRecord.recorded_at.label("at"),
                ConsentRecord.id.label("row_id"),
            ],
            [
                ConsentRecord.workspace_id == self.workspace_id,
                ConsentRecord.purpose == rule.purpose,
                ConsentRecord.channel == rule.channel,
                ConsentRecord.recorded_at <= self.now,
            ],
        ).subquery()
        latest = _latest(rows)
        if rule.purpose == "service":
            # Allowed unless the latest record withdrew it: the withdrawn are the set.
            withdrawn = select(latest.c.owner).where(
                latest.c.latest == 1, latest.c.granted.is_(False)
            )
            return _Set(withdrawn, unique=True), rule.granted
        granted = select(latest.c.owner).where(latest.c.latest == 1, latest.c.granted.is_(True))
        return _Set(granted, unique=True), not rule.granted

    def event(self, rule: EventCondition) -> tuple[_Set, bool]:
        where = [
            Event.workspace_id == self.workspace_id,
            Event.name == rule.name,
            *self.window(Event.timestamp, rule.within_days),
        ]
        for test in rule.where:
            expr, negated = _value_test(Event.properties, test)
            where.append(_null_safe(expr, negated))
        rows = self.owned(table_of(Event), Event.customer_id, [], where)
        if rule.at_least == 1:
            return _Set(rows), not rule.did
        counted = rows.subquery()
        often = (
            select(counted.c.owner).group_by(counted.c.owner).having(func.count() >= rule.at_least)
        )
        return _Set(often, unique=True), not rule.did

    def order(self, rule: OrderCondition) -> tuple[_Set, bool]:
        where = [
            Order.workspace_id == self.workspace_id,
            Order.status.not_in(VOID_ORDER_STATUSES),
            *self.window(Order.placed_at, rule.within_days),
        ]
        if rule.measure == "revenue":
            where.append(Order.currency == rule.currency)
        source: FromClause = table_of(Order)
        amount: Any = Order.total
        by_item = rule.sku is not None or rule.category is not None
        if by_item:
            source = source.join(
                table_of(OrderItem),
                and_(OrderItem.order_id == Order.id, OrderItem.workspace_id == self.workspace_id),
            )
            if rule.sku is not None:
                where.append(OrderItem.sku == rule.sku)
            if rule.category is not None:
                where.append(OrderItem.category == rule.category)
            amount = OrderItem.price * OrderItem.quantity
        op: str = rule.op
        value = rule.value
        # A customer without such orders has 0 of them: when 0 passes the test, the customers
        # who fail it are the ones listed, and the condition is their complement.
        negated = _HOLDS[op](0, value)
        if negated:
            op = _COMPLEMENT[op]
        if rule.measure == "count" and (op, value) in (("gte", 1), ("gt", 0), ("neq", 0)):
            # Any such order at all.
            return _Set(self.owned(source, Order.customer_id, [], where)), negated
        columns = [Order.id.label("order_id"), amount.label("amount")]
        listed = self.owned(source, Order.customer_id, columns, where).subquery()
        if rule.measure == "count":
            measure: Any = func.count(listed.c.order_id.distinct()) if by_item else func.count()
            threshold: Any = int(value)
        else:
            measure = func.sum(listed.c.amount)
            threshold = literal(Decimal(str(value)), Numeric(18, 2))
        owners = (
            select(listed.c.owner).group_by(listed.c.owner).having(_compare(measure, op, threshold))
        )
        return _Set(owners, unique=True), negated

    def score(self, rule: ScoreCondition) -> tuple[_Set, bool]:
        column = getattr(Response, rule.metric)
        rows = self.owned(
            table_of(Response),
            Response.customer_id,
            [
                column.label("score"),
                Response.submitted_at.label("at"),
                Response.id.label("row_id"),
            ],
            [
                Response.workspace_id == self.workspace_id,
                Response.completed.is_(True),
                Response.customer_id.is_not(None),
                column.is_not(None),
                *self.window(Response.submitted_at, rule.within_days),
            ],
        ).subquery()
        latest = _latest(rows)
        owners = select(latest.c.owner).where(
            latest.c.latest == 1, _compare(latest.c.score, rule.op, rule.value)
        )
        return _Set(owners, unique=True), False

    def text(self, rule: TextCondition) -> tuple[_Set, bool]:
        source = table_of(TextAnalysisCategory).join(
            table_of(TextAnalysis), TextAnalysis.id == TextAnalysisCategory.analysis_id
        )
        rows = self.owned(
            source,
            TextAnalysis.customer_id,
            [],
            [
                TextAnalysisCategory.workspace_id == self.workspace_id,
                TextAnalysisCategory.category == rule.category,
                TextAnalysisCategory.sentiment == rule.sentiment,
                *self.window(TextAnalysisCategory.occurred_at, rule.within_days),
                TextAnalysis.workspace_id == self.workspace_id,
                TextAnalysis.customer_id.is_not(None),
            ],
        )
        return _Set(rows), False

    def prediction(self, rule: PredictionCondition) -> _Set:
        """The customers whose prediction passes the test (one row each): joining only those,
        not every customer's prediction, keeps PostgreSQL's hash of it small (a million
        predictions spilled to disk)."""
        value = rule.value
        column = getattr(CustomerPrediction, rule.field)
        if rule.field in ("rfm_cell", "cluster"):
            test = column.in_(value)
        elif rule.op == "top_percent":
            # clv_percentile ranks 0 (lowest) to 1 (highest), rounded to six places.
            test = column >= round(1 - value / 100, 6)
        else:
            test = _compare(column, rule.op, float(value))
        owners = select(CustomerPrediction.customer_id.label("owner")).where(
            CustomerPrediction.workspace_id == self.workspace_id, test
        )
        return _Set(owners, unique=True)

    # -- the tree --

    def normal(self, rule: Rule, negated: bool = False) -> _Leaf | _Junction:
        """The rule with every ``not`` pushed down to its conditions (De Morgan)."""
        if isinstance(rule, AllGroup | AnyGroup):
            conjunction = isinstance(rule, AllGroup) != negated
            return _Junction(conjunction, tuple(self.normal(r, negated) for r in rule.rules))
        if isinstance(rule, NotGroup):
            return self.normal(rule.rule, not negated)
        fact, complement = self.fact(rule)
        return _Leaf(fact, complement != negated)

    def expression(self, node: _Leaf | _Junction) -> ColumnElement[bool]:
        if isinstance(node, _Junction):
            parts = [self.expression(part) for part in node.parts]
            return and_(true(), *parts) if node.conjunction else or_(false(), *parts)
        if isinstance(node.fact, _Row):
            return _null_safe(node.fact.expr, node.negated)
        owners = _distinct_owners(node.fact, f"condition_{len(self.joins) + 1}")
        self.joins.append(owners)
        column = owners.c.owner
        if node.negated:
            return column.is_(None)
        # COALESCE, not IS NOT NULL: a test that NULL cannot pass would let PostgreSQL turn the
        # LEFT JOIN into an inner join it may reorder, and its estimate of a subquery's rows
        # (200 groups for any GROUP BY over a UNION) then has it loop over whole subqueries.
        return func.coalesce(column, 0) != 0

    def statement(self, rule: Rule) -> Select[tuple[int]]:
        root = self.normal(rule)
        parts = root.parts if isinstance(root, _Junction) and root.conjunction else (root,)
        where: list[ColumnElement[bool]] = [
            Customer.workspace_id == self.workspace_id,
            Customer.merged_into_id.is_(None),
            Customer.erased_at.is_(None),
        ]
        where.extend(self.expression(part) for part in parts)
        source: FromClause = table_of(Customer)
        for owners in self.joins:
            source = source.outerjoin(owners, owners.c.owner == Customer.id)
        return select(Customer.id).select_from(source).where(*where)


def _latest(rows: Subquery) -> Subquery:
    """``rows`` (owner, …, at, row_id) with ``latest`` = 1 on each owner's last row."""
    return select(
        rows,
        func.row_number()
        .over(partition_by=rows.c.owner, order_by=(rows.c.at.desc(), rows.c.row_id.desc()))
        .label("latest"),
    ).subquery()


def _distinct_owners(fact: _Set, name: str) -> Subquery:
    if fact.unique:
        return fact.owners.subquery(name)
    listed = fact.owners.subquery()
    return select(listed.c.owner).group_by(listed.c.owner).subquery(name)


def compile_rule(
    rule: Rule | Mapping[str, Any], *, workspace_id: int, now: datetime, tz: str = DEFAULT_TZ
) -> Select[tuple[int]]:
    """One SELECT of the ids of the workspace's live customers the rule matches as of ``now``,
    local days in ``tz``; the same statement runs on SQLite and PostgreSQL."""
    parsed = parse_rule(rule)
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError, OSError) as exc:  # not found, or not a zone name
        raise invalid_rule(f"unknown time zone {tz!r}", code="segment_rule.time_zone") from exc
    compiler = _Compiler(workspace_id=workspace_id, now=as_utc(now), zone=zone)
    return compiler.statement(parsed)


def _zone_of(session: Session, workspace_id: int, tz: str | None) -> str:
    if tz is not None:
        return tz
    found = session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    return found or DEFAULT_TZ


def count_matching(
    session: Session,
    rule: Rule | Mapping[str, Any],
    *,
    workspace_id: int,
    now: datetime | None = None,
    tz: str | None = None,
    segment_id: int | None = None,
) -> int:
    """How many of the workspace's customers the rule matches now (local days in ``tz``, else
    the workspace's time zone); ``segment_id`` is the segment being edited, if any."""
    parsed = parse_rule(rule)
    check_segment_references(session, parsed, workspace_id=workspace_id, segment_id=segment_id)
    ids = compile_rule(
        parsed,
        workspace_id=workspace_id,
        now=now or utcnow(),
        tz=_zone_of(session, workspace_id, tz),
    ).subquery()
    return int(session.scalar(select(func.count()).select_from(ids)) or 0)


def sample_matching(
    session: Session,
    rule: Rule | Mapping[str, Any],
    *,
    workspace_id: int,
    now: datetime | None = None,
    tz: str | None = None,
    segment_id: int | None = None,
    limit: int = 20,
) -> list[Customer]:
    """Up to ``limit`` of the customers the rule matches, newest profiles first."""
    parsed = parse_rule(rule)
    check_segment_references(session, parsed, workspace_id=workspace_id, segment_id=segment_id)
    statement = compile_rule(
        parsed,
        workspace_id=workspace_id,
        now=now or utcnow(),
        tz=_zone_of(session, workspace_id, tz),
    )
    ids = list(
        session.scalars(statement.order_by(Customer.id.desc()).limit(max(0, min(limit, 200))))
    )
    if not ids:
        return []
    found = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    return [found[i] for i in ids if i in found]
