"""The segment rule language: its JSON (pydantic models), its limits, parsing, and the saved
segments a rule names.

A rule is a tree. Groups ``{"type": "all" | "any", "rules": [...]}`` and ``{"type": "not",
"rule": ...}`` nest conditions on a customer's traits, lifecycle stage, consents, identities,
events, orders, survey scores, texts, predictions and the members of other saved segments. A
rule is at most ``MAX_DEPTH`` nodes deep and holds at most ``MAX_CONDITIONS`` conditions. What
each condition means on the data is told in ``compiler``; how it reads in words, in ``wording``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.insights.rfm import CELL_KEYS
from cxloop.models import Segment
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


def invalid_rule(message: str, *, where: str = "", code: str, **params: Any) -> ValidationFailed:
    """The error that refuses a rule: ``message`` about the field ``where`` (the rule itself
    when empty), with a stable ``code`` and its ``params``."""
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
            raise invalid_rule("a rule is a JSON object with a type", code="segment_rule.shape")
        if _raw_depth(data) > MAX_DEPTH:
            raise invalid_rule(
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
        raise invalid_rule(
            f"rules nest at most {MAX_DEPTH} levels deep",
            code="segment_rule.depth",
            limit=MAX_DEPTH,
        )
    if conditions > MAX_CONDITIONS:
        raise invalid_rule(
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
                raise invalid_rule(
                    f"segment {sid} does not exist in this workspace",
                    code="segment_rule.unknown_segment",
                    segment_id=sid,
                )
            if found[sid][2] is not None:
                raise invalid_rule(
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
            raise invalid_rule(
                f"segment {sid} would then include itself (segments "
                f"{' → '.join(str(s) for s in (*path, sid))})",
                code="segment_rule.cycle",
                segment_id=sid,
            )
        return 1 + max((chain(n, (*path, sid)) for n in rules.get(sid, [])), default=0)

    longest = max((chain(sid, ()) for sid in referenced_segments(rule)), default=0)
    if longest > MAX_SEGMENT_CHAIN:
        raise invalid_rule(
            f"segments may name other segments at most {MAX_SEGMENT_CHAIN} deep",
            code="segment_rule.segment_chain",
            limit=MAX_SEGMENT_CHAIN,
        )
