"""The breakdown block: scores per channel, touchpoint, survey, lifecycle stage, product or
trait value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, literal, select, union_all
from sqlalchemy.orm import Session

from cxloop.core import stats
from cxloop.core.errors import ValidationFailed
from cxloop.metrics.dashboard.scope import DIMENSIONS, Dimension, Scope, _counted
from cxloop.metrics.dashboard.tally import Scores, Tally, _tally_columns, scores_of
from cxloop.models import Customer, Order, OrderItem, Product, Response, Survey

# Hidden fields a response names its product or its order by (the survey declares them).
PRODUCT_FIELD = "product_id"
ORDER_FIELD = "order_id"
MAX_TRAIT_KEY = 100


def check_trait_key(trait: str | None) -> str:
    """A trait name fit for a JSON path: 1–100 characters, no quotes, backslashes or dots."""
    name = (trait or "").strip()
    if not name:
        raise ValidationFailed(
            "Breaking down by a trait needs the trait's name.",
            errors=[{"field": "trait", "message": "name the customer trait, e.g. region"}],
        )
    if (
        len(name) > MAX_TRAIT_KEY
        or any(ch in name for ch in "\"'\\.$[]*")
        or any(ord(ch) < 32 for ch in name)
    ):
        raise ValidationFailed(
            "That is not a trait name.",
            errors=[
                {
                    "field": "trait",
                    "message": f"at most {MAX_TRAIT_KEY} characters, without quotes, "
                    "backslashes, dots or brackets",
                }
            ],
        )
    return name


@dataclass(frozen=True, slots=True)
class Segment:
    key: str | None  # the dimension's value; None for responses without one
    label: str | None  # a readable name where the key is an id (survey, product)
    scores: Scores


@dataclass(frozen=True, slots=True)
class Breakdown:
    dimension: Dimension
    trait: str | None
    scope: Scope
    segments: tuple[Segment, ...]  # most responses first
    next_offset: int | None


def _segment_statement(
    scope: Scope, dimension: Dimension, trait: str | None
) -> tuple[Select[Any], Any]:
    """The grouped statement of a dimension (before ordering and paging) and its key."""
    tally = _tally_columns(Response.nps, Response.csat, Response.ces)
    if dimension in ("channel", "touchpoint", "survey"):
        key: Any = {
            "channel": Response.channel,
            "touchpoint": Response.touchpoint,
            "survey": Response.survey_id,
        }[dimension].label("key")
        return select(key, *tally).where(*_counted(scope)).group_by(key), key
    if dimension in ("lifecycle_stage", "trait"):
        if dimension == "trait":
            key = Customer.traits[check_trait_key(trait)].as_string().label("key")
        else:
            key = Customer.lifecycle_stage.label("key")
        # Tallies add up, so the answers are tallied per customer first (from the dashboard
        # index alone) and each customer's profile is read once, not once per answer.
        per_customer = (
            select(Response.customer_id, *tally)
            .where(*_counted(scope))
            .group_by(Response.customer_id)
            .subquery("per_customer")
        )
        statement = (
            select(
                key,
                *(
                    func.sum(column).label(column.name)
                    for column in per_customer.c
                    if column.name != "customer_id"
                ),
            )
            .select_from(per_customer)
            .outerjoin(
                Customer,
                and_(
                    Customer.id == per_customer.c.customer_id,
                    Customer.workspace_id == scope.workspace_id,
                ),
            )
            .group_by(key)
        )
        return statement, key
    if dimension == "product":
        return _product_statement(scope)
    raise ValidationFailed(
        f"Unknown dimension {dimension!r}.",
        errors=[{"field": "dimension", "message": f"must be one of {', '.join(DIMENSIONS)}"}],
    )


def _product_statement(scope: Scope) -> tuple[Select[Any], Any]:
    """Responses by product: the ``product_id`` hidden field when the response has one, else
    every product of the order its ``order_id`` hidden field names (an answer about an order
    of three products counts once for each of them); responses with neither are one group."""
    # The hidden fields are read once per response (a CTE used three times is materialised on
    # SQLite and PostgreSQL alike), not once per branch of the union.
    answers = (
        select(
            Response.hidden[PRODUCT_FIELD].as_string().label("named"),
            Response.hidden[ORDER_FIELD].as_string().label("order_ref"),
            Response.nps,
            Response.csat,
            Response.ces,
        )
        .where(*_counted(scope))
        .cte("answers")
    )
    scores = (answers.c.nps, answers.c.csat, answers.c.ces)
    named, order_ref = answers.c.named, answers.c.order_ref
    by_field = select(named.label("key"), *scores).where(named.is_not(None))
    by_order = (
        select(OrderItem.external_product_id.label("key"), *scores)
        .select_from(answers)
        .join(
            Order,
            and_(Order.workspace_id == scope.workspace_id, Order.external_id == order_ref),
        )
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(named.is_(None), order_ref.is_not(None))
    )
    unknown = select(literal(None).label("key"), *scores).where(
        named.is_(None), order_ref.is_(None)
    )
    rows = union_all(by_field, by_order, unknown).subquery("by_product")
    key = rows.c.key
    statement = (
        select(key, *_tally_columns(rows.c.nps, rows.c.csat, rows.c.ces))
        .select_from(rows)
        .group_by(key)
    )
    return statement, key


def breakdown(
    session: Session,
    *,
    scope: Scope,
    dimension: Dimension,
    trait: str | None = None,
    min_n: int = stats.DEFAULT_MIN_N,
    limit: int = 50,
    offset: int = 0,
) -> Breakdown:
    """Scores per value of ``dimension`` (channel, touchpoint, survey, lifecycle_stage,
    product or a customer ``trait``), the groups with most responses first, one page."""
    statement, key = _segment_statement(scope, dimension, trait)
    responses = statement.selected_columns.responses
    rows = session.execute(
        statement.order_by(responses.desc(), key.is_(None), key).limit(limit + 1).offset(offset)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    keys = [None if row[0] is None else str(row[0]) for row in rows]
    labels = _labels(session, scope.workspace_id, dimension, [k for k in keys if k is not None])
    segments = tuple(
        Segment(
            key=k,
            label=labels.get(k) if k is not None else None,
            scores=scores_of(Tally.of(row[1:]), min_n=min_n),
        )
        for k, row in zip(keys, rows, strict=True)
    )
    return Breakdown(
        dimension=dimension,
        trait=check_trait_key(trait) if dimension == "trait" else None,
        scope=scope,
        segments=segments,
        next_offset=offset + limit if more else None,
    )


def _labels(
    session: Session, workspace_id: int, dimension: Dimension, keys: list[str]
) -> dict[str, str]:
    """Names for keys that are ids: survey names, product names."""
    if not keys:
        return {}
    if dimension == "survey":
        ids = [int(k) for k in keys if k.isdigit()]
        found = session.execute(
            select(Survey.id, Survey.name).where(
                Survey.workspace_id == workspace_id, Survey.id.in_(ids)
            )
        )
        return {str(i): name for i, name in found}
    if dimension == "product":
        found = session.execute(
            select(Product.external_id, Product.name).where(
                Product.workspace_id == workspace_id, Product.external_id.in_(keys)
            )
        )
        return {k: name for k, name in found if name}
    return {}
