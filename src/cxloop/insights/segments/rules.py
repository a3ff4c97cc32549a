"""The segment rule language: its JSON (pydantic models), its plain-language description in
Korean and English, and its compiler to one SQL statement of customer ids for SQLite and
PostgreSQL alike.

A rule is a tree. Groups ``{"type": "all" | "any", "rules": [...]}`` and ``{"type": "not",
"rule": ...}`` nest conditions on a customer's traits, lifecycle stage, consents, identities,
events, orders, survey scores, texts, predictions and the members of other saved segments. A
rule is at most ``MAX_DEPTH`` nodes deep and holds at most ``MAX_CONDITIONS`` conditions.

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

The compiled statement starts from ``customers``; a condition on a row of the customer (trait,
stage, prediction) is a predicate, any other is a LEFT JOIN of the distinct customers it holds
for, an uncorrelated subquery each database computes once, tested so that PostgreSQL keeps
``customers`` as the side it starts from: its estimates of such subqueries' rows are far off (a
GROUP BY over a UNION is "200 groups"), and the semi-joins ``IN (...)`` would give it, once
reordered on those estimates, looped over whole subqueries (minutes on a million customers).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, cast
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import (
    Boolean,
    ColumnElement,
    CompoundSelect,
    Float,
    FromClause,
    Integer,
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
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.insights.features import DEFAULT_TZ, VOID_ORDER_STATUSES
from cxloop.insights.rfm import CELL_KEYS, cell_name
from cxloop.models import (
    ConsentRecord,
    Customer,
    CustomerPrediction,
    Event,
    Identity,
    Order,
    OrderItem,
    Response,
    Segment,
    SegmentMember,
    TextAnalysis,
    TextAnalysisCategory,
    Workspace,
)
from cxloop.models.base import table_of
from cxloop.models.customer import LIFECYCLE_STAGES

MAX_DEPTH = 6  # nodes from the root to the deepest condition, both counted
MAX_CONDITIONS = 50
MAX_FILTERS = 10  # property filters of one event condition
MAX_LIST = 100  # values of one ``in`` list
# A rule may name a segment whose rule names another, and so on, this many segments deep.
MAX_SEGMENT_CHAIN = 4
MAX_DAYS = 3650
MAX_COUNT = 1_000_000
MAX_AMOUNT = 1e15
# The scales of the headline scores (as the survey definitions give them).
SCORE_SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
PREDICTED_NUMBERS = (
    "clv_3m",
    "clv_6m",
    "clv_12m",
    "clv_percentile",
    "churn_risk",
    "p_alive",
    "expected_purchases_3m",
    "expected_purchases_6m",
    "expected_purchases_12m",
)
# Predicted shares: a value between 0 and 1.
PREDICTED_SHARES = ("clv_percentile", "churn_risk", "p_alive")

# --- the rule JSON ------------------------------------------------------------------------------

# One key of a trait or property path: no dots (they separate keys), quotes, brackets or
# backslashes, so the path needs no escaping in either database's JSON path syntax.
_KEY_PART = r"[^.\"'\\\[\]{}$\s][^.\"'\\\[\]{}$]{0,63}"
KeyPath = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=200, pattern=rf"^{_KEY_PART}(\.{_KEY_PART}){{0,4}}$"
    ),
]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text128 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Text64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
MAX_TEXT = 500  # characters of a string a trait or property is compared with
Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]
ValueOp = Literal["eq", "neq", "gt", "gte", "lt", "lte", "contains", "exists", "in"]
CompareOp = Literal["eq", "neq", "gt", "gte", "lt", "lte"]
_ORDERING = ("gt", "gte", "lt", "lte")


def _is_scalar(value: Any) -> bool:
    """A string, number or boolean a JSON value may be compared with."""
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return math.isfinite(value) and abs(value) <= MAX_AMOUNT
    return False


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueTest(_Node):
    """A test of one value in a JSON document (a customer's traits, an event's properties).

    ``eq``/``neq`` compare a string, number or boolean of the same JSON type (``neq`` is the
    complement of ``eq``: a missing key is "not equal"); ``gt``…``lte`` compare numbers, or
    strings by their bytes (ISO dates sort right); ``contains`` is a substring of a string or an
    element of an array (case-sensitive); ``exists`` is a key present and not null; ``in`` is
    ``eq`` to any of a list.
    """

    key: KeyPath
    op: ValueOp = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> ValueTest:
        value = self.value
        if self.op == "exists":
            if value is not None:
                raise ValueError("exists takes no value")
        elif self.op == "in":
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
                raise ValueError(f"in needs a list of 1 to {MAX_LIST} values")
            for item in value:
                if isinstance(item, bool) or not _is_scalar(item):
                    raise ValueError("in compares strings and numbers")
        elif not _is_scalar(value):
            raise ValueError(
                f"{self.op} needs one value: a string of at most {MAX_TEXT} characters, "
                "a number or a boolean"
            )
        elif self.op in _ORDERING and isinstance(value, bool):
            raise ValueError(f"{self.op} compares numbers or strings, not booleans")
        elif self.op == "contains" and isinstance(value, bool):
            raise ValueError("contains looks for a string or a number, not a boolean")
        return self


class PropertyFilter(ValueTest):
    """A test of one property of an event, e.g. ``{"key": "category", "value": "shoes"}``."""


class TraitCondition(ValueTest):
    """A customer's trait: ``{"type": "trait", "key": "tier", "op": "eq", "value": "VIP"}``;
    nested traits by a dotted path (``address.city``)."""

    type: Literal["trait"]


class LifecycleCondition(_Node):
    """The customer's lifecycle stage is one of ``stages``."""

    type: Literal["lifecycle"]
    stages: Annotated[
        list[Literal["anonymous", "lead", "customer", "repeat", "churned"]],
        Field(min_length=1, max_length=len(LIFECYCLE_STAGES)),
    ]


class ConsentCondition(_Node):
    """The consent policy allows (``granted``) or does not allow sending ``purpose`` on
    ``channel``."""

    type: Literal["consent"]
    purpose: Literal["service", "marketing", "third_party", "night_marketing"]
    channel: Literal["email", "sms", "kakao", "push", "in_app", "talktalk"]
    granted: bool = True


class IdentityCondition(_Node):
    """The customer has (``exists``) or has no identity of ``kind`` (email, phone, kakao, …)."""

    type: Literal["identity"]
    kind: Literal[
        "user_id",
        "anonymous_id",
        "email",
        "phone",
        "kakao",
        "naver",
        "line",
        "instagram",
        "facebook",
        "apple",
        "google",
        "talktalk",
        "social",
    ]
    exists: bool = True


class EventCondition(_Node):
    """Did (or did not) the event ``name`` at least ``at_least`` times within ``within_days``
    (ever when absent), counting only events whose properties pass every filter of ``where``.
    ``did: false`` matches customers who did it fewer than ``at_least`` times."""

    type: Literal["event"]
    name: Text200
    did: bool = True
    at_least: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 1
    within_days: Days | None = None
    where: Annotated[list[PropertyFilter], Field(max_length=MAX_FILTERS)] = []


class OrderCondition(_Node):
    """The customer's orders within ``within_days`` (ever when absent): their count or revenue
    compared with ``value``; with ``sku`` or ``category`` only orders with such an item count,
    and their revenue is those items' price times quantity. The default, ``count gte 1``, is
    "bought". Revenue is summed in ``currency`` only."""

    type: Literal["order"]
    measure: Literal["count", "revenue"] = "count"
    op: CompareOp = "gte"
    value: Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_AMOUNT)] = 1
    within_days: Days | None = None
    sku: Text128 | None = None
    category: Text200 | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "KRW"

    @model_validator(mode="after")
    def _whole_counts(self) -> OrderCondition:
        if self.measure == "count" and self.value != int(self.value):
            raise ValueError("an order count is a whole number")
        return self


class ScoreCondition(_Node):
    """The customer's last ``metric`` score (within ``within_days`` when given) compared with
    ``value``."""

    type: Literal["score"]
    metric: Literal["nps", "csat", "ces"]
    op: CompareOp
    value: int
    within_days: Days | None = None

    @model_validator(mode="after")
    def _value_on_scale(self) -> ScoreCondition:
        low, high = SCORE_SCALES[self.metric]
        if not low <= self.value <= high:
            raise ValueError(f"a {self.metric} score is between {low} and {high}")
        return self


class TextCondition(_Node):
    """The customer wrote a text (survey comment, message, review) of ``sentiment`` about
    ``category`` within ``within_days`` (ever when absent)."""

    type: Literal["text"]
    category: Text64
    sentiment: Literal["negative", "neutral", "positive"] = "negative"
    within_days: Days | None = None


class PredictionCondition(_Node):
    """The customer's current prediction: a number compared with ``value``
    (``{"field": "churn_risk", "op": "gte", "value": 0.7}``), the top ``value`` percent by
    12-month CLV (``{"field": "clv_percentile", "op": "top_percent", "value": 10}``), or an RFM
    cell or cluster among a list (``{"field": "rfm_cell", "op": "in", "value": ["loyal"]}``)."""

    type: Literal["prediction"]
    field: Literal[
        "clv_3m",
        "clv_6m",
        "clv_12m",
        "clv_percentile",
        "churn_risk",
        "p_alive",
        "expected_purchases_3m",
        "expected_purchases_6m",
        "expected_purchases_12m",
        "rfm_cell",
        "cluster",
    ]
    op: Literal["eq", "gt", "gte", "lt", "lte", "top_percent", "in"]
    value: Any

    @model_validator(mode="after")
    def _value_fits_field(self) -> PredictionCondition:
        value = self.value
        if self.field in ("rfm_cell", "cluster"):
            if self.op != "in" or not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
                raise ValueError(f'{self.field} takes op "in" and a list of 1 to {MAX_LIST} values')
            if self.field == "rfm_cell":
                unknown = [v for v in value if v not in CELL_KEYS]
                if unknown:
                    raise ValueError(
                        f"unknown RFM cell {unknown[0]!r}; the cells are {', '.join(CELL_KEYS)}"
                    )
            elif not all(type(v) is int and 0 <= v < 1000 for v in value):
                raise ValueError("clusters are whole numbers from 0 to 999")
        elif self.op == "in" or isinstance(value, bool | str) or not _is_scalar(value):
            raise ValueError(f"{self.field} is compared with one number")
        elif self.op == "top_percent":
            if self.field != "clv_percentile":
                raise ValueError("top_percent applies to clv_percentile")
            if not 0 < value <= 100:
                raise ValueError("top_percent is a share above 0 and at most 100")
        elif self.field in PREDICTED_SHARES and not 0 <= value <= 1:
            raise ValueError(f"{self.field} is a share between 0 and 1")
        return self


class SegmentCondition(_Node):
    """The customer is (``member``) or is not a member of the saved segment ``segment_id``."""

    type: Literal["segment"]
    segment_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    member: bool = True


class AllGroup(_Node):
    """Every rule holds (an empty list: every live customer)."""

    type: Literal["all"]
    rules: Annotated[list[Rule], Field(max_length=MAX_CONDITIONS)]


class AnyGroup(_Node):
    """At least one rule holds (an empty list: nobody)."""

    type: Literal["any"]
    rules: Annotated[list[Rule], Field(max_length=MAX_CONDITIONS)]


class NotGroup(_Node):
    """The rule does not hold."""

    type: Literal["not"]
    rule: Rule


Condition = (
    TraitCondition
    | LifecycleCondition
    | ConsentCondition
    | IdentityCondition
    | EventCondition
    | OrderCondition
    | ScoreCondition
    | TextCondition
    | PredictionCondition
    | SegmentCondition
)
Rule = Annotated[AllGroup | AnyGroup | NotGroup | Condition, Field(discriminator="type")]
for _model in (AllGroup, AnyGroup, NotGroup):
    _model.model_rebuild()
_RULE: TypeAdapter[Rule] = TypeAdapter(Rule)
TYPES = (
    "all",
    "any",
    "not",
    "trait",
    "lifecycle",
    "consent",
    "identity",
    "event",
    "order",
    "score",
    "text",
    "prediction",
    "segment",
)


# --- parsing and limits -------------------------------------------------------------------------


def _invalid(message: str, *, where: str = "", code: str, **params: Any) -> ValidationFailed:
    error: dict[str, Any] = {"field": where or "rule", "message": message, "code": code}
    if params:
        error["params"] = params
    return ValidationFailed(
        f"The segment rule is not valid: {where + ': ' if where else ''}{message}.",
        errors=[error],
    )


def _raw_depth(data: Any) -> int:
    """How deep the groups of a rule not yet parsed go (stops counting past the limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH or not isinstance(node, Mapping):
            continue
        children = node.get("rules")
        if isinstance(children, list):
            stack.extend((child, depth + 1) for child in children[: MAX_CONDITIONS + 1])
        if isinstance(node.get("rule"), Mapping):
            stack.append((node["rule"], depth + 1))
    return deepest


def _field_path(loc: Sequence[int | str]) -> str:
    # Pydantic names the union member taken by its tag; the reader needs only the positions.
    parts = [
        str(part)
        for i, part in enumerate(loc)
        if not (isinstance(part, str) and part in TYPES and _is_tag(loc, i))
    ]
    return ".".join(parts)


def _is_tag(loc: Sequence[int | str], index: int) -> bool:
    """Whether ``loc[index]`` names the union member chosen: it is the first entry or follows
    a list position or a ``rule`` field."""
    if index == 0:
        return True
    before = loc[index - 1]
    return isinstance(before, int) or before == "rule"


def parse_rule(data: Any) -> Rule:
    """The rule in ``data`` (its JSON, parsed), checked against the language and its limits;
    ``ValidationFailed`` with the field and a message for anything wrong."""
    if isinstance(data, AllGroup | AnyGroup | NotGroup | Condition):
        rule: Rule = data
    else:
        if not isinstance(data, Mapping):
            raise _invalid("a rule is a JSON object with a type", code="segment_rule.shape")
        if _raw_depth(data) > MAX_DEPTH:
            raise _invalid(
                f"rules nest at most {MAX_DEPTH} levels deep",
                code="segment_rule.depth",
                limit=MAX_DEPTH,
            )
        try:
            rule = _RULE.validate_python(data)
        except PydanticValidationError as exc:
            errors = [
                {
                    "field": _field_path(err["loc"]) or "rule",
                    "message": err["msg"].removeprefix("Value error, "),
                    "code": f"value.{err['type']}",
                }
                for err in exc.errors()
            ]
            first = errors[0]
            raise ValidationFailed(
                f"The segment rule is not valid: {first['field']}: {first['message']}.",
                errors=errors,
            ) from None
    depth, conditions = _measure(rule)
    if depth > MAX_DEPTH:
        raise _invalid(
            f"rules nest at most {MAX_DEPTH} levels deep",
            code="segment_rule.depth",
            limit=MAX_DEPTH,
        )
    if conditions > MAX_CONDITIONS:
        raise _invalid(
            f"a rule holds at most {MAX_CONDITIONS} conditions (this one has {conditions})",
            code="segment_rule.conditions",
            limit=MAX_CONDITIONS,
        )
    return rule


def _children(rule: Rule) -> list[Rule]:
    if isinstance(rule, AllGroup | AnyGroup):
        return list(rule.rules)
    if isinstance(rule, NotGroup):
        return [rule.rule]
    return []


def _measure(rule: Rule) -> tuple[int, int]:
    """The rule's depth (nodes from the root to the deepest condition) and its conditions."""
    deepest = conditions = 0
    stack: list[tuple[Rule, int]] = [(rule, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = _children(node)
        if not isinstance(node, AllGroup | AnyGroup | NotGroup):
            conditions += 1
        stack.extend((child, depth + 1) for child in children)
    return deepest, conditions


def referenced_segments(rule: Rule) -> list[int]:
    """Ids of the saved segments a rule names, in the order it names them."""
    found: list[int] = []
    stack: list[Rule] = [rule]
    while stack:
        node = stack.pop()
        if isinstance(node, SegmentCondition) and node.segment_id not in found:
            found.append(node.segment_id)
        stack.extend(reversed(_children(node)))
    return found


def check_segment_references(
    session: Session, rule: Rule, *, workspace_id: int, segment_id: int | None = None
) -> None:
    """Refuse a rule that names a segment missing from the workspace or archived, that names
    (through any chain of segments) ``segment_id``, the segment the rule is for, or whose chain
    of named segments is longer than ``MAX_SEGMENT_CHAIN``."""
    rules: dict[int, list[int]] = {}
    frontier = referenced_segments(rule)
    while frontier:
        wanted = [sid for sid in frontier if sid not in rules and sid != segment_id]
        frontier = []
        if not wanted:
            break
        rows = session.execute(
            select(Segment.id, Segment.rule, Segment.archived_at).where(
                Segment.workspace_id == workspace_id, Segment.id.in_(wanted)
            )
        ).all()
        found = {int(row[0]): row for row in rows}
        for sid in wanted:
            if sid not in found:
                raise _invalid(
                    f"segment {sid} does not exist in this workspace",
                    code="segment_rule.unknown_segment",
                    segment_id=sid,
                )
            if found[sid][2] is not None:
                raise _invalid(
                    f"segment {sid} is archived",
                    code="segment_rule.archived_segment",
                    segment_id=sid,
                )
            try:
                named = referenced_segments(
                    parse_rule(found[sid][1] or {"type": "all", "rules": []})
                )
            except ValidationFailed:
                named = []  # a stored rule that no longer parses names nothing we can follow
            rules[sid] = named
            frontier.extend(named)

    def chain(sid: int, path: tuple[int, ...]) -> int:
        if sid == segment_id or sid in path:
            raise _invalid(
                f"segment {sid} would then include itself (segments "
                f"{' → '.join(str(s) for s in (*path, sid))})",
                code="segment_rule.cycle",
                segment_id=sid,
            )
        return 1 + max((chain(n, (*path, sid)) for n in rules.get(sid, [])), default=0)

    longest = max((chain(sid, ()) for sid in referenced_segments(rule)), default=0)
    if longest > MAX_SEGMENT_CHAIN:
        raise _invalid(
            f"segments may name other segments at most {MAX_SEGMENT_CHAIN} deep",
            code="segment_rule.segment_chain",
            limit=MAX_SEGMENT_CHAIN,
        )


# --- portable SQL for JSON documents ------------------------------------------------------------
#
# Each construct takes (document, PostgreSQL path as a text[] literal, SQLite JSON path) and
# reads the value there only when it has the JSON type asked for, so a comparison never fails
# on a customer whose trait holds something else (PostgreSQL would refuse to cast "n/a").


class _JsonValue(FunctionElement[Any]):
    inherit_cache = True


class json_text(_JsonValue):
    """The string at a path (NULL when it is not a string)."""

    inherit_cache = True

    type = String()
    name = "json_text"


class json_number(_JsonValue):
    """The number at a path (NULL when it is not a number)."""

    inherit_cache = True

    type = Float()
    name = "json_number"


class json_flag(_JsonValue):
    """1 or 0 for a boolean at a path (NULL when it is not a boolean)."""

    inherit_cache = True

    type = Integer()
    name = "json_flag"


class json_present(_JsonValue):
    """Whether the path holds a value other than null."""

    inherit_cache = True

    type = Boolean()
    name = "json_present"


class json_array_has_text(_JsonValue):
    """Whether the path holds an array with a string element: (document, paths, the element
    as the JSON text of a one-element array for PostgreSQL, the element for SQLite)."""

    inherit_cache = True

    type = Boolean()
    name = "json_array_has_text"


class json_array_has_number(_JsonValue):
    """Whether the path holds an array with a number element (arguments as for text)."""

    inherit_cache = True

    type = Boolean()
    name = "json_array_has_number"


class text_position(FunctionElement[int]):
    """1-based position of a string in another, 0 when absent (case-sensitive)."""

    type = Integer()
    name = "text_position"
    inherit_cache = True


class bytewise(FunctionElement[str]):
    """A string compared by its bytes, as SQLite compares them, on PostgreSQL too."""

    type = String()
    name = "bytewise"
    inherit_cache = True


def _parts(
    compiler: SQLCompiler, element: FunctionElement[Any], *indices: int, **kw: Any
) -> list[str]:
    """The SQL of the element's arguments at ``indices`` (only those: a parameter rendered but
    left out of the statement would shift positional parameters)."""
    clauses = list(element.clauses)
    return [compiler.process(clauses[i], **kw) for i in indices]


@compiles(json_text)
def _json_text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 2, **kw)
    return f"CASE WHEN json_type({doc}, {path}) = 'text' THEN json_extract({doc}, {path}) END"


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 1, **kw)
    at = f"{doc} #> CAST({path} AS TEXT[])"
    return f"CASE WHEN jsonb_typeof({at}) = 'string' THEN {doc} #>> CAST({path} AS TEXT[]) END"


@compiles(json_number)
def _json_number_sqlite(element: json_number, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 2, **kw)
    return (
        f"CASE WHEN json_type({doc}, {path}) IN ('integer', 'real') "
        f"THEN json_extract({doc}, {path}) END"
    )


@compiles(json_number, "postgresql")
def _json_number_postgresql(element: json_number, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 1, **kw)
    at = f"{doc} #> CAST({path} AS TEXT[])"
    return (
        f"CASE WHEN jsonb_typeof({at}) = 'number' "
        f"THEN CAST({doc} #>> CAST({path} AS TEXT[]) AS DOUBLE PRECISION) END"
    )


@compiles(json_flag)
def _json_flag_sqlite(element: json_flag, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 2, **kw)
    return f"CASE json_type({doc}, {path}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"


@compiles(json_flag, "postgresql")
def _json_flag_postgresql(element: json_flag, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 1, **kw)
    at = f"{doc} #> CAST({path} AS TEXT[])"
    return f"CASE {at} WHEN 'true'::jsonb THEN 1 WHEN 'false'::jsonb THEN 0 END"


@compiles(json_present)
def _json_present_sqlite(element: json_present, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 2, **kw)
    return f"(COALESCE(json_type({doc}, {path}), 'null') <> 'null')"


@compiles(json_present, "postgresql")
def _json_present_postgresql(element: json_present, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 1, **kw)
    return f"(COALESCE(jsonb_typeof({doc} #> CAST({path} AS TEXT[])), 'null') <> 'null')"


def _array_has_sqlite(element: _JsonValue, compiler: SQLCompiler, kinds: str, **kw: Any) -> str:
    doc, path, value = _parts(compiler, element, 0, 2, 4, **kw)
    # Only compiled SQL and the kinds' literals are put together here; values stay parameters.
    return (
        f"(json_type({doc}, {path}) = 'array' AND EXISTS (SELECT 1 FROM json_each({doc}, {path})"  # noqa: S608
        f" AS element WHERE element.type IN ({kinds}) AND element.value = {value}))"
    )


def _array_has_postgresql(element: _JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path, one_element = _parts(compiler, element, 0, 1, 3, **kw)
    at = f"{doc} #> CAST({path} AS TEXT[])"
    return f"(jsonb_typeof({at}) = 'array' AND {at} @> CAST({one_element} AS JSONB))"


@compiles(json_array_has_text)
def _json_array_has_text_sqlite(
    element: json_array_has_text, compiler: SQLCompiler, **kw: Any
) -> str:
    return _array_has_sqlite(element, compiler, "'text'", **kw)


@compiles(json_array_has_number)
def _json_array_has_number_sqlite(
    element: json_array_has_number, compiler: SQLCompiler, **kw: Any
) -> str:
    return _array_has_sqlite(element, compiler, "'integer', 'real'", **kw)


@compiles(json_array_has_text, "postgresql")
@compiles(json_array_has_number, "postgresql")
def _json_array_has_postgresql(element: _JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    return _array_has_postgresql(element, compiler, **kw)


@compiles(text_position)
def _text_position_sqlite(element: text_position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = _parts(compiler, element, 0, 1, **kw)
    return f"instr({haystack}, {needle})"


@compiles(text_position, "postgresql")
def _text_position_postgresql(element: text_position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = _parts(compiler, element, 0, 1, **kw)
    return f"strpos({haystack}, {needle})"


@compiles(bytewise)
def _bytewise_sqlite(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _parts(compiler, element, 0, **kw)
    return f"({value})"  # SQLite compares text by its bytes (BINARY) unless told otherwise


@compiles(bytewise, "postgresql")
def _bytewise_postgresql(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _parts(compiler, element, 0, **kw)
    return f'({value}) COLLATE "C"'


@dataclass(frozen=True)
class _JsonPath:
    """A dotted key path in both databases' syntax."""

    keys: tuple[str, ...]

    @classmethod
    def of(cls, dotted: str) -> _JsonPath:
        return cls(tuple(dotted.split(".")))

    def args(self, doc: Any) -> tuple[Any, Any, Any]:
        postgresql = "{" + ",".join(f'"{key}"' for key in self.keys) + "}"
        sqlite = "$" + "".join(f'."{key}"' for key in self.keys)
        return doc, literal(postgresql, String()), literal(sqlite, String())


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


def _value_equals(doc: Any, path: _JsonPath, value: Any) -> ColumnElement[bool]:
    if isinstance(value, bool):
        return json_flag(*path.args(doc)) == int(value)
    if isinstance(value, str):
        return json_text(*path.args(doc)) == literal(value, String())
    return json_number(*path.args(doc)) == literal(float(value), Float())


def _value_test(doc: Any, test: ValueTest) -> tuple[ColumnElement[bool], bool]:
    """The SQL of one value test (NULL where the value is missing or of another type), and
    whether the test is that SQL's complement (``neq``)."""
    path = _JsonPath.of(test.key)
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


# --- the compiler -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """A condition on the customer's own row (or its prediction): a predicate."""

    expr: ColumnElement[bool]
    predictions: bool = False  # reads the customer_predictions row


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
    predictions: bool = False

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

    def prediction(self, rule: PredictionCondition) -> _Row:
        self.predictions = True
        value = rule.value
        if rule.field == "rfm_cell":
            return _Row(CustomerPrediction.rfm_cell.in_(value), predictions=True)
        if rule.field == "cluster":
            return _Row(CustomerPrediction.cluster.in_(value), predictions=True)
        column = getattr(CustomerPrediction, rule.field)
        if rule.op == "top_percent":
            # clv_percentile ranks 0 (lowest) to 1 (highest), rounded to six places.
            return _Row(column >= round(1 - value / 100, 6), predictions=True)
        return _Row(_compare(column, rule.op, float(value)), predictions=True)

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
        if self.predictions:
            source = source.outerjoin(
                table_of(CustomerPrediction),
                and_(
                    CustomerPrediction.customer_id == Customer.id,
                    CustomerPrediction.workspace_id == self.workspace_id,
                ),
            )
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
        raise _invalid(f"unknown time zone {tz!r}", code="segment_rule.time_zone") from exc
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


# --- plain-language description -----------------------------------------------------------------

_STAGES = {
    "ko": {
        "anonymous": "익명",
        "lead": "리드",
        "customer": "고객",
        "repeat": "재구매 고객",
        "churned": "이탈 고객",
    },
    "en": {
        "anonymous": "anonymous",
        "lead": "lead",
        "customer": "customer",
        "repeat": "repeat customer",
        "churned": "churned",
    },
}
_PURPOSES = {
    "ko": {
        "service": "서비스 안내",
        "marketing": "마케팅",
        "third_party": "제3자 제공",
        "night_marketing": "야간 광고",
    },
    "en": {
        "service": "service messages",
        "marketing": "marketing",
        "third_party": "third-party sharing",
        "night_marketing": "night-time advertising",
    },
}
_CHANNELS = {
    "ko": {
        "email": "이메일",
        "sms": "문자",
        "kakao": "카카오톡",
        "push": "푸시",
        "in_app": "앱 내 메시지",
        "talktalk": "톡톡",
    },
    "en": {
        "email": "email",
        "sms": "SMS",
        "kakao": "KakaoTalk",
        "push": "push",
        "in_app": "in-app messages",
        "talktalk": "TalkTalk",
    },
}
_IDENTITIES = {
    "ko": {
        "user_id": "회원 ID",
        "anonymous_id": "익명 ID",
        "email": "이메일",
        "phone": "전화번호",
        "kakao": "카카오",
        "naver": "네이버",
        "line": "라인",
        "instagram": "인스타그램",
        "facebook": "페이스북",
        "apple": "애플",
        "google": "구글",
        "talktalk": "톡톡",
        "social": "소셜",
    },
    "en": {
        "user_id": "user ID",
        "anonymous_id": "anonymous ID",
        "email": "email",
        "phone": "phone",
    },
}
_SENTIMENT_WORDS = {
    "ko": {"negative": "부정적으로", "neutral": "중립적으로", "positive": "긍정적으로"},
    "en": {"negative": "negatively", "neutral": "neutrally", "positive": "positively"},
}
_PREDICTIONS = {
    "ko": {
        "clv_3m": "예측 CLV(3개월)",
        "clv_6m": "예측 CLV(6개월)",
        "clv_12m": "예측 CLV(12개월)",
        "clv_percentile": "CLV 백분위",
        "churn_risk": "이탈 위험",
        "p_alive": "활성 확률",
        "expected_purchases_3m": "예상 구매 수(3개월)",
        "expected_purchases_6m": "예상 구매 수(6개월)",
        "expected_purchases_12m": "예상 구매 수(12개월)",
    },
    "en": {
        "clv_3m": "predicted CLV (3 months)",
        "clv_6m": "predicted CLV (6 months)",
        "clv_12m": "predicted CLV (12 months)",
        "clv_percentile": "CLV percentile",
        "churn_risk": "churn risk",
        "p_alive": "probability of being active",
        "expected_purchases_3m": "expected purchases (3 months)",
        "expected_purchases_6m": "expected purchases (6 months)",
        "expected_purchases_12m": "expected purchases (12 months)",
    },
}
# Comparisons: Korean puts the word after the number ("6 이하").
_OPS = {
    "ko": {"eq": "", "gt": "초과", "gte": "이상", "lt": "미만", "lte": "이하"},
    "en": {
        "eq": "is",
        "gt": "is more than",
        "gte": "is at least",
        "lt": "is less than",
        "lte": "is at most",
    },
}


def _figure(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if float(value).is_integer():
            return f"{int(value):,}"
        return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:g}"
    return f'"{value}"'


def _listed(values: Sequence[Any], language: str, *, quote: bool = True) -> str:
    words = [_figure(v) if quote else str(v) for v in values]
    return (
        ", ".join(words)
        if language == "ko"
        else (words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1])
    )


def _period(days: int | None, language: str) -> str:
    if days is None:
        return ""
    if language == "ko":
        return "오늘 " if days == 1 else f"최근 {days:,}일 안에 "
    return " today" if days == 1 else f" in the last {days:,} days"


@dataclass(frozen=True)
class _Words:
    """One condition said both ways."""

    holds: str
    fails: str


def _ko_particle(word: str, after_consonant: str, after_vowel: str) -> str:
    """The Korean particle that follows ``word``'s last sound (both forms, "이(가)", when the
    word does not end in Hangul)."""
    last = word[-1:] or " "
    if "가" <= last <= "힣":
        return after_consonant if (ord(last) - ord("가")) % 28 else after_vowel
    return f"{after_consonant}({after_vowel})"


def _compared(subject: str, op: str, value: Any, language: str, unit: str = "") -> _Words:
    """ "subject op value", and its negation, in ``language``."""
    shown = _figure(value) + unit
    if language == "ko":
        subject += _ko_particle(subject, "이", "가")
        if op in ("eq", "neq"):
            same = f"{subject} {shown}임"
            other = f"{subject} {shown}{_ko_particle(shown, '이', '가')} 아님"
            return _Words(same, other) if op == "eq" else _Words(other, same)
        word = _OPS["ko"][op]
        return _Words(
            f"{subject} {shown} {word}임",
            f"{subject} {shown} {word}{_ko_particle(word, '이', '가')} 아님",
        )
    if op == "neq":
        return _Words(f"{subject} is not {shown}", f"{subject} is {shown}")
    verb = _OPS["en"][op]
    return _Words(
        f"{subject} {verb} {shown}", f"{subject} {verb.replace('is', 'is not', 1)} {shown}"
    )


def _value_words(test: ValueTest, subject: str, language: str) -> _Words:
    ko = language == "ko"
    if test.op == "exists":
        return (
            _Words(f"{subject}이 있음", f"{subject}이 없음")
            if ko
            else _Words(f"{subject} is set", f"{subject} is not set")
        )
    if test.op == "in":
        values = _listed(test.value, language)
        return (
            _Words(
                f"{subject}{_ko_particle(subject, '이', '가')} {values} 중 하나임",
                f"{subject}{_ko_particle(subject, '이', '가')} {values} 중 하나가 아님",
            )
            if ko
            else _Words(f"{subject} is one of {values}", f"{subject} is none of {values}")
        )
    if test.op == "contains":
        shown = _figure(test.value)
        return (
            _Words(f"{subject}에 {shown} 포함", f"{subject}에 {shown} 포함 안 됨")
            if ko
            else _Words(f"{subject} contains {shown}", f"{subject} does not contain {shown}")
        )
    return _compared(subject, test.op, test.value, language)


def _condition_words(rule: Condition, language: str, names: Mapping[int, str]) -> _Words:
    ko = language == "ko"
    match rule:
        case TraitCondition():
            return _value_words(
                rule, f'속성 "{rule.key}" 값' if ko else f'trait "{rule.key}"', language
            )
        case LifecycleCondition():
            stages = _listed([_STAGES[language][s] for s in rule.stages], language, quote=False)
            if ko:
                return _Words(
                    f"생애 단계가 {stages} 중 하나임", f"생애 단계가 {stages} 중 하나가 아님"
                )
            return _Words(f"lifecycle stage is {stages}", f"lifecycle stage is not {stages}")
        case ConsentCondition():
            purpose, channel = _PURPOSES[language][rule.purpose], _CHANNELS[language][rule.channel]
            words = (
                _Words(f"{channel} {purpose} 수신 동의함", f"{channel} {purpose} 수신 동의 안 함")
                if ko
                else _Words(
                    f"consented to {purpose} by {channel}",
                    f"has not consented to {purpose} by {channel}",
                )
            )
            return words if rule.granted else _Words(words.fails, words.holds)
        case IdentityCondition():
            kind = _IDENTITIES[language].get(rule.kind, rule.kind)
            words = (
                _Words(f"{kind} 식별자 있음", f"{kind} 식별자 없음")
                if ko
                else _Words(f"has a {kind} identity", f"has no {kind} identity")
            )
            return words if rule.exists else _Words(words.fails, words.holds)
        case EventCondition():
            return _event_words(rule, language)
        case OrderCondition():
            return _order_words(rule, language)
        case ScoreCondition():
            subject = f"마지막 {rule.metric.upper()} 점수" if ko else f"last {rule.metric.upper()}"
            words = _compared(subject, rule.op, rule.value, language)
            if rule.within_days is None:
                return words
            period = _period(rule.within_days, language)
            if ko:
                return _Words(period + words.holds, period + words.fails)
            return _Words(words.holds + period, words.fails + period)
        case TextCondition():
            how = _SENTIMENT_WORDS[language][rule.sentiment]
            period = _period(rule.within_days, language)
            if ko:
                return _Words(
                    f'{period}"{rule.category}"에 대해 {how} 씀',
                    f'{period}"{rule.category}"에 대해 {how} 쓰지 않음',
                )
            return _Words(
                f'wrote {how} about "{rule.category}"{period}',
                f'did not write {how} about "{rule.category}"{period}',
            )
        case PredictionCondition():
            return _prediction_words(rule, language)
        case SegmentCondition():
            name = (
                f'"{names[rule.segment_id]}"' if rule.segment_id in names else f"#{rule.segment_id}"
            )
            words = (
                _Words(f"세그먼트 {name}에 속함", f"세그먼트 {name}에 속하지 않음")
                if ko
                else _Words(f"in segment {name}", f"not in segment {name}")
            )
            return words if rule.member else _Words(words.fails, words.holds)
    raise AssertionError(f"unknown condition {rule!r}")


def _event_words(rule: EventCondition, language: str) -> _Words:
    ko = language == "ko"
    period = _period(rule.within_days, language)
    filters = ""
    if rule.where:
        tests = [
            _value_words(t, f'"{t.key}" 값' if ko else f'property "{t.key}"', language).holds
            for t in rule.where
        ]
        filters = (" (" + ", ".join(tests) + ")") if ko else (" where " + " and ".join(tests))
    name = f'"{rule.name}"'
    if ko:
        if rule.at_least == 1:
            words = _Words(
                f"{period}{name} 이벤트{filters}를 함",
                f"{period}{name} 이벤트{filters}를 하지 않음",
            )
        else:
            words = _Words(
                f"{period}{name} 이벤트{filters}를 {rule.at_least:,}회 이상 함",
                f"{period}{name} 이벤트{filters}를 {rule.at_least:,}회 미만 함",
            )
    elif rule.at_least == 1:
        words = _Words(f"did {name}{filters}{period}", f"did not do {name}{filters}{period}")
    else:
        words = _Words(
            f"did {name}{filters} at least {rule.at_least:,} times{period}",
            f"did {name}{filters} fewer than {rule.at_least:,} times{period}",
        )
    return words if rule.did else _Words(words.fails, words.holds)


def _order_words(rule: OrderCondition, language: str) -> _Words:
    ko = language == "ko"
    period = _period(rule.within_days, language)
    what = ""
    if rule.sku is not None:
        what = f'SKU "{rule.sku}" 상품을 ' if ko else f' SKU "{rule.sku}"'
    if rule.category is not None:
        what += f'"{rule.category}" 카테고리 상품을 ' if ko else f' from category "{rule.category}"'
    bought = rule.measure == "count" and (rule.op, rule.value) in (("gte", 1), ("gt", 0))
    if bought:
        if ko:
            return _Words(f"{period}{what}구매함", f"{period}{what}구매하지 않음")
        return _Words(f"bought{what}{period}", f"did not buy{what}{period}")
    if rule.measure == "count":
        subject = "주문 수" if ko else "number of orders"
        shown: Any = int(rule.value)
        unit = "건" if ko else ""
    else:
        subject = "구매 금액" if ko else "revenue"
        shown = rule.value
        unit = f" {rule.currency}"
    if ko:
        subject = period + what.replace("상품을 ", "상품 ") + subject
    else:
        subject = f"{subject}{what}{period}"
    return _compared(subject, rule.op, shown, language, unit)


def _prediction_words(rule: PredictionCondition, language: str) -> _Words:
    ko = language == "ko"
    if rule.field == "rfm_cell":
        cells = _listed([cell_name(c, language) for c in rule.value], language, quote=False)
        if ko:
            return _Words(f"RFM 셀이 {cells} 중 하나임", f"RFM 셀이 {cells} 중 하나가 아님")
        return _Words(f"RFM cell is {cells}", f"RFM cell is not {cells}")
    if rule.field == "cluster":
        clusters = _listed(rule.value, language)
        if ko:
            return _Words(f"군집이 {clusters} 중 하나임", f"군집이 {clusters} 중 하나가 아님")
        return _Words(f"in cluster {clusters}", f"not in cluster {clusters}")
    if rule.op == "top_percent":
        share = _figure(rule.value)
        if ko:
            return _Words(f"예측 CLV 상위 {share}%에 듦", f"예측 CLV 상위 {share}%에 들지 않음")
        return _Words(
            f"predicted CLV in the top {share}%", f"predicted CLV not in the top {share}%"
        )
    subject = _PREDICTIONS[language][rule.field] + (" 값" if ko else "")
    return _compared(subject, rule.op, rule.value, language)


def _said(rule: Rule, language: str, names: Mapping[int, str], negated: bool, nested: bool) -> str:
    if isinstance(rule, NotGroup):
        return _said(rule.rule, language, names, not negated, nested)
    if isinstance(rule, AllGroup | AnyGroup):
        if not rule.rules:
            everyone = isinstance(rule, AllGroup) != negated
            if language == "ko":
                return "모든 고객" if everyone else "해당 고객 없음"
            return "every customer" if everyone else "no customer"
        if len(rule.rules) == 1:
            return _said(rule.rules[0], language, names, negated, nested)
        conjunction = isinstance(rule, AllGroup) != negated  # De Morgan, as the compiler does
        joiner = {
            ("ko", True): " 그리고 ",
            ("ko", False): " 또는 ",
            ("en", True): " and ",
            ("en", False): " or ",
        }[(language, conjunction)]
        text = joiner.join(_said(r, language, names, negated, True) for r in rule.rules)
        return f"({text})" if nested else text
    words = _condition_words(rule, language, names)
    return words.fails if negated else words.holds


def describe(
    rule: Rule | Mapping[str, Any],
    language: str = "ko",
    *,
    segment_names: Mapping[int, str] | None = None,
) -> str:
    """The rule in plain Korean (``ko``) or English (any other language), for the builder:
    "최근 90일 안에 구매함 그리고 마지막 NPS 점수가 6 이하임". Segments are named by
    ``segment_names`` where given, else by their id."""
    lang = "ko" if language.lower().startswith("ko") else "en"
    return _said(parse_rule(rule), lang, segment_names or {}, False, False)
