"""Per-customer behaviour features: one row of numbers per customer, read from every domain that
sees the customer, as of a moment.

``load_behaviour`` returns a customers × features matrix of floats for the churn model, and for
any other model that wants a general description of each customer (k-means clusters, lookalike
scores). The database does the work: one grouped query per source (orders, events, care
conversations, survey responses, text analyses, consent changes), each returning one row per
customer; Python only places those rows into the matrix by customer id. Nothing is read at or
after ``as_of``, so a matrix "as of" a past moment holds only what was known then.

Rows are the workspace's customers with something counted in at least one feature (an order or
an event before ``as_of``, a survey score, an analysed text, a conversation or a marketing
consent withdrawn in the last 90 days), listed by id; a profile with none of these has no row.
The rules are those of ``features``: a merged profile's rows count for its survivor
(``Customer.merged_into_id``), erased profiles do not count, money is summed only in one
currency, and days are the workspace's local days.

Windows ("last 30 days", "the 90 days before") are exact spans of 24-hour days ending at
``as_of``. A value that does not exist for a customer is NaN (no purchase: no days since the last
one; no survey answer: no score); a count of nothing is 0. Scikit-learn's gradient boosting takes
NaN as "missing"; a model that cannot (k-means) must impute first, e.g. with the column median.

The features, in ``FEATURE_NAMES`` order:

orders (non-void orders in ``currency``; refunded and cancelled are void)
    ``days_since_last_purchase``, ``days_since_first_purchase`` — local days from the purchase
    day to the last day observed (the day before ``as_of``'s moment), as RFM's recency;
    ``purchase_days`` (distinct local days with an order), ``orders``, ``revenue``,
    ``average_order_value``; ``orders_last_30d``, ``orders_last_90d``, ``orders_previous_90d``
    (days 90–180 before ``as_of``) and ``order_trend`` = (last 90 − previous 90) / (last 90 +
    previous 90), from −1 (stopped) to +1 (new), NaN when both are 0; ``void_order_share``, the
    share of all the customer's orders (any currency) that were refunded or cancelled;
    ``weekend_order_share``, the share of non-void orders placed on a local Saturday or Sunday.
events (every event but the insights domain's own ``Segment Entered`` / ``Segment Exited``)
    ``days_since_last_seen`` (local days), ``events_last_30d``, ``active_days_last_30d`` and
    ``active_days_last_90d`` (distinct local days with an event: the event log has no session
    id, so a day of activity stands for a session), ``mobile_event_share`` (events sent from
    the iOS, Android or another mobile SDK, by the event's ``channel``, which ingestion derives
    from ``context.library``; a phone's browser counts as web).
care
    ``conversations_last_90d``: conversations opened in the last 90 days.
feedback
    ``last_nps`` (0–10) and ``last_csat``: the customer's latest answer of each before
    ``as_of``, partial responses included.
text
    ``negative_text_share``: the share of the customer's analysed texts (survey comments,
    messages, reviews — ``TextAnalysis.customer_id``) written before ``as_of`` that read
    negative (a person's correction counts over the model's answer). The analysis itself may
    have been made later: it reads a text that existed at ``as_of``.
consent
    ``marketing_withdrawn_last_90d``: 1 when a marketing consent (any channel) went from
    granted to withdrawn in the last 90 days, else 0.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    cast,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from cxloop.core.timeutil import as_utc
from cxloop.events.commerce import ZERO_DECIMAL_CURRENCIES
from cxloop.insights.features import DEFAULT_TZ, VOID_ORDER_STATUSES, local_day
from cxloop.models import (
    ConsentRecord,
    Conversation,
    Customer,
    Event,
    Order,
    Response,
    TextAnalysis,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Events the insights domain writes itself: a customer entering a segment is not their activity.
INSIGHTS_EVENT_NAMES = ("Segment Entered", "Segment Exited")
# Event channels of the mobile SDKs (see ``events.segment.channel_of``).
MOBILE_CHANNELS = ("ios", "android", "mobile")
MARKETING_PURPOSES = ("marketing",)
RECENT_DAYS = 30
QUARTER_DAYS = 90
# Local weekday of a day number: 1970-01-01 was a Thursday, so (day + 3) % 7 is 0 on Mondays.
_WEEKDAY_SHIFT = 3
_SATURDAY = 5

ORDER_FEATURES = (
    "days_since_last_purchase",
    "days_since_first_purchase",
    "purchase_days",
    "orders",
    "revenue",
    "average_order_value",
    "orders_last_30d",
    "orders_last_90d",
    "orders_previous_90d",
    "order_trend",
    "void_order_share",
    "weekend_order_share",
)
EVENT_FEATURES = (
    "days_since_last_seen",
    "events_last_30d",
    "active_days_last_30d",
    "active_days_last_90d",
    "mobile_event_share",
)
CARE_FEATURES = ("conversations_last_90d",)
FEEDBACK_FEATURES = ("last_nps", "last_csat")
TEXT_FEATURES = ("negative_text_share",)
CONSENT_FEATURES = ("marketing_withdrawn_last_90d",)
FEATURE_NAMES = (
    *ORDER_FEATURES,
    *EVENT_FEATURES,
    *CARE_FEATURES,
    *FEEDBACK_FEATURES,
    *TEXT_FEATURES,
    *CONSENT_FEATURES,
)
# What a customer absent from a source has: 0 for counts, NaN where there is no value to give.
_ZERO_WHEN_ABSENT = frozenset(
    {
        "purchase_days",
        "orders",
        "revenue",
        "orders_last_30d",
        "orders_last_90d",
        "orders_previous_90d",
        "events_last_30d",
        "active_days_last_30d",
        "active_days_last_90d",
        "conversations_last_90d",
        "marketing_withdrawn_last_90d",
    }
)

WORDS_FILE = Path(__file__).parent / "behaviour_features.toml"
VALUE_FORMATS = ("days", "count", "money", "share", "score", "trend", "flag")


@dataclass(frozen=True)
class FeatureWords:
    """How one feature is named and said, per language ("ko", "en")."""

    format: str
    names: dict[str, str]
    sentences: dict[str, str]  # with "{value}" where the formatted value goes
    missing: dict[str, str]  # when there is no value (or a flag is not set)


def _load_words() -> dict[str, FeatureWords]:
    data = tomllib.loads(WORDS_FILE.read_text(encoding="utf-8"))
    words = {
        name: FeatureWords(
            format=item["format"],
            names={"ko": item["name_ko"], "en": item["name_en"]},
            sentences={"ko": item["ko"], "en": item["en"]},
            missing={"ko": item["missing_ko"], "en": item["missing_en"]},
        )
        for name, item in data.items()
    }
    if missing := [name for name in FEATURE_NAMES if name not in words]:
        raise ValueError(f"{WORDS_FILE.name}: no words for {', '.join(missing)}")
    if odd := [name for name, w in words.items() if w.format not in VALUE_FORMATS]:
        raise ValueError(f"{WORDS_FILE.name}: unknown format of {', '.join(odd)}")
    return words


FEATURE_WORDS = _load_words()


def _language(language: str) -> str:
    return language if language in ("ko", "en") else "en"


def feature_name(name: str, language: str = "ko") -> str:
    """The feature's short name in ``language`` ("ko" or "en"; English for any other)."""
    return FEATURE_WORDS[name].names[_language(language)]


def format_money(amount: float, currency: str, language: str) -> str:
    """An amount as people read it: 45,000원 / ₩45,000; 12.50 USD in other currencies."""
    if currency.upper() == "KRW":
        whole = f"{round(amount):,}"
        return f"{whole}원" if language == "ko" else f"₩{whole}"
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        return f"{round(amount):,} {currency.upper()}"
    return f"{amount:,.2f} {currency.upper()}"


def describe_feature(
    name: str, value: float, *, language: str = "ko", currency: str = "KRW"
) -> str:
    """One customer's value of a feature in words: "마지막 구매 후 120일" / "120 days since
    the last purchase"."""
    words = FEATURE_WORDS[name]
    lang = _language(language)
    if value is None or math.isnan(value) or (words.format == "flag" and value == 0):
        return words.missing[lang]
    match words.format:
        case "days" | "count":
            shown = f"{round(value):,}"
        case "money":
            shown = format_money(value, currency, lang)
        case "share":
            shown = f"{value * 100:.0f}%"
        case "trend":
            shown = f"{value:+.2f}".replace("-", "−")
        case "score":
            shown = f"{value:g}"
        case _:  # a flag that is set
            shown = ""
    return words.sentences[lang].format(value=shown)


@dataclass(frozen=True)
class Behaviour:
    """Feature values (``values[i, j]``: customer ``customer[i]``, feature ``names[j]``)."""

    customer: IntArray  # ascending survivor ids
    names: tuple[str, ...]
    values: FloatArray
    as_of: datetime

    def __len__(self) -> int:
        return int(self.customer.shape[0])

    def column(self, name: str) -> FloatArray:
        """One feature's values for every customer (a view, not a copy)."""
        return self.values[:, self.names.index(name)]

    def rows_of(self, customers: npt.ArrayLike) -> IntArray:
        """Row index of each given customer id; -1 for customers not in the matrix."""
        wanted = np.asarray(customers, dtype=np.int64)
        at = np.searchsorted(self.customer, wanted)
        inside = at < self.customer.shape[0]
        found = np.zeros(wanted.shape, dtype=bool)
        found[inside] = self.customer[at[inside]] == wanted[inside]
        return np.where(found, at, -1).astype(np.int64)


def survivor_id() -> ColumnElement[int]:
    """The id a row of ``Customer`` counts for: its survivor's when it was merged."""
    return func.coalesce(Customer.merged_into_id, Customer.id)


def live_customer(workspace_id: int) -> list[ColumnElement[bool]]:
    """The customer conditions of every source query: this workspace, not erased."""
    return [Customer.workspace_id == workspace_id, Customer.erased_at.is_(None)]


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _end_day(as_of: datetime, zone: ZoneInfo) -> int:
    """The local day number of the last moment before ``as_of`` (as ``features`` counts it)."""
    last_moment = (as_of - timedelta(microseconds=1)).astimezone(zone)
    return (last_moment.date() - datetime(1970, 1, 1).date()).days


def _orders_query(workspace_id: int, as_of: datetime, zone: ZoneInfo, currency: str) -> Select[Any]:
    # Orders are first grouped by customer and local day, so the day (a time-zone expression)
    # is computed once per order and distinct days are rows; then by customer.
    day = local_day(Order.placed_at, zone, as_of)
    counted = and_(Order.status.not_in(VOID_ORDER_STATUSES), Order.currency == currency)
    quarter = as_of - timedelta(days=QUARTER_DAYS)
    survivor = survivor_id()
    per_day = (
        select(
            survivor.label("customer"),
            day.label("day"),
            _count_if(counted).label("counted"),
            cast(func.sum(case((counted, Order.total), else_=0)), Float).label("revenue"),
            _count_if(and_(counted, Order.placed_at >= as_of - timedelta(days=RECENT_DAYS))).label(
                "recent"
            ),
            _count_if(and_(counted, Order.placed_at >= quarter)).label("quarter"),
            _count_if(
                and_(
                    counted,
                    Order.placed_at >= as_of - timedelta(days=2 * QUARTER_DAYS),
                    Order.placed_at < quarter,
                )
            ).label("previous"),
            _count_if(Order.status.in_(VOID_ORDER_STATUSES)).label("void"),
            func.count().label("every"),
        )
        .select_from(Order)
        .join(Customer, Customer.id == Order.customer_id)
        .where(
            Order.workspace_id == workspace_id,
            Order.placed_at < as_of,
            *live_customer(workspace_id),
        )
        .group_by(survivor, day)
        .subquery("order_days")
    )
    d = per_day.c
    bought = d.counted > 0
    return select(
        d.customer,
        func.max(case((bought, d.day))),
        func.min(case((bought, d.day))),
        _count_if(bought),
        func.sum(d.counted),
        func.sum(d.revenue),
        func.sum(d.recent),
        func.sum(d.quarter),
        func.sum(d.previous),
        func.sum(d.void),
        func.sum(d.every),
        func.sum(case(((d.day + _WEEKDAY_SHIFT) % 7 >= _SATURDAY, d.counted), else_=0)),
    ).group_by(d.customer)


def _order_features(rows: FloatArray, end_day: int) -> dict[str, FloatArray]:
    (last, first, days, orders, revenue, o30, o90, prev90, void, every, weekend) = rows.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "days_since_last_purchase": end_day - last,
            "days_since_first_purchase": end_day - first,
            "purchase_days": days,
            "orders": orders,
            "revenue": revenue,
            "average_order_value": np.where(orders > 0, revenue / orders, np.nan),
            "orders_last_30d": o30,
            "orders_last_90d": o90,
            "orders_previous_90d": prev90,
            "order_trend": np.where(o90 + prev90 > 0, (o90 - prev90) / (o90 + prev90), np.nan),
            "void_order_share": np.where(every > 0, void / every, np.nan),
            "weekend_order_share": np.where(orders > 0, weekend / orders, np.nan),
        }


def customer_activity_events(workspace_id: int) -> list[ColumnElement[bool]]:
    """Conditions on ``Event`` for the customer's own activity in a workspace."""
    return [
        Event.workspace_id == workspace_id,
        or_(Event.name.is_(None), Event.name.not_in(INSIGHTS_EVENT_NAMES)),
    ]


def _events_query(workspace_id: int, as_of: datetime, zone: ZoneInfo) -> Select[Any]:
    # By customer and local day first, as orders (a day with an event is a row), then by customer.
    day = local_day(Event.timestamp, zone, as_of)
    survivor = survivor_id()
    per_day = (
        select(
            survivor.label("customer"),
            day.label("day"),
            _count_if(Event.timestamp >= as_of - timedelta(days=RECENT_DAYS)).label("recent"),
            _count_if(Event.timestamp >= as_of - timedelta(days=QUARTER_DAYS)).label("quarter"),
            _count_if(Event.channel.in_(MOBILE_CHANNELS)).label("mobile"),
            func.count().label("every"),
        )
        .select_from(Event)
        .join(Customer, Customer.id == Event.customer_id)
        .where(
            *customer_activity_events(workspace_id),
            Event.timestamp < as_of,
            *live_customer(workspace_id),
        )
        .group_by(survivor, day)
        .subquery("event_days")
    )
    d = per_day.c
    return select(
        d.customer,
        func.max(d.day),
        func.sum(d.recent),
        _count_if(d.recent > 0),
        _count_if(d.quarter > 0),
        func.sum(d.mobile),
        func.sum(d.every),
    ).group_by(d.customer)


def _event_features(rows: FloatArray, end_day: int) -> dict[str, FloatArray]:
    last, e30, d30, d90, mobile, every = rows.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "days_since_last_seen": end_day - last,
            "events_last_30d": e30,
            "active_days_last_30d": d30,
            "active_days_last_90d": d90,
            "mobile_event_share": np.where(every > 0, mobile / every, np.nan),
        }


def _conversations_query(workspace_id: int, as_of: datetime) -> Select[Any]:
    survivor = survivor_id()
    return (
        select(survivor, func.count())
        .select_from(Conversation)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.created_at >= as_of - timedelta(days=QUARTER_DAYS),
            Conversation.created_at < as_of,
            *live_customer(workspace_id),
        )
        .group_by(survivor)
    )


def _responses_query(workspace_id: int, as_of: datetime) -> Select[Any]:
    survivor = survivor_id()

    def latest(score: Any) -> Any:
        # The newest non-empty answer first; ties on the time go to the later row.
        order = (
            case((score.is_(None), 1), else_=0),
            Response.submitted_at.desc(),
            Response.id.desc(),
        )
        return func.first_value(score).over(partition_by=survivor, order_by=order)

    scored = (
        select(
            survivor.label("customer"),
            latest(Response.nps).label("nps"),
            latest(Response.csat).label("csat"),
        )
        .select_from(Response)
        .join(Customer, Customer.id == Response.customer_id)
        .where(
            Response.workspace_id == workspace_id,
            Response.submitted_at < as_of,
            or_(Response.nps.is_not(None), Response.csat.is_not(None)),
            *live_customer(workspace_id),
        )
        .subquery("scored")
    )
    return select(scored.c.customer, func.max(scored.c.nps), func.max(scored.c.csat)).group_by(
        scored.c.customer
    )


def _texts_query(workspace_id: int, as_of: datetime) -> Select[Any]:
    survivor = survivor_id()
    return (
        select(survivor, _count_if(TextAnalysis.sentiment == "negative"), func.count())
        .select_from(TextAnalysis)
        .join(Customer, Customer.id == TextAnalysis.customer_id)
        .where(
            TextAnalysis.workspace_id == workspace_id,
            TextAnalysis.occurred_at < as_of,
            *live_customer(workspace_id),
        )
        .group_by(survivor)
    )


def _consent_query(workspace_id: int, as_of: datetime) -> Select[Any]:
    previous = func.lag(ConsentRecord.granted).over(
        partition_by=(ConsentRecord.customer_id, ConsentRecord.purpose, ConsentRecord.channel),
        order_by=(ConsentRecord.recorded_at, ConsentRecord.id),
    )
    changes = (
        select(
            ConsentRecord.customer_id,
            ConsentRecord.granted,
            ConsentRecord.recorded_at,
            previous.label("previous"),
        )
        .where(
            ConsentRecord.workspace_id == workspace_id,
            ConsentRecord.purpose.in_(MARKETING_PURPOSES),
            ConsentRecord.recorded_at < as_of,
        )
        .subquery("changes")
    )
    survivor = survivor_id()
    return (
        select(survivor, func.count())
        .select_from(changes)
        .join(Customer, Customer.id == changes.c.customer_id)
        .where(
            changes.c.granted == false(),
            changes.c.previous == true(),
            changes.c.recorded_at >= as_of - timedelta(days=QUARTER_DAYS),
            *live_customer(workspace_id),
        )
        .group_by(survivor)
    )


def _read(session: Session, statement: Select[Any], width: int) -> tuple[IntArray, FloatArray]:
    """Customer ids and the other columns of a per-customer query, NULL as NaN."""
    # Core rows unzipped into columns: numpy would probe each Row object as a mapping.
    columns = list(zip(*session.connection().execute(statement).all(), strict=False))
    if not columns:
        return np.zeros(0, dtype=np.int64), np.zeros((0, width), dtype=np.float64)
    ids = np.asarray(columns[0], dtype=np.int64)
    table = np.array(columns[1:], dtype=np.float64).reshape(width, -1).T
    return ids, table


def load_behaviour(
    session: Session,
    *,
    workspace_id: int,
    as_of: datetime,
    tz: str = DEFAULT_TZ,
    currency: str = "KRW",
) -> Behaviour:
    """Every customer's behaviour features from the data before ``as_of``, one query a source."""
    as_of = as_utc(as_of)
    zone = ZoneInfo(tz)
    end_day = _end_day(as_of, zone)

    parts: list[tuple[IntArray, dict[str, FloatArray]]] = []
    ids, rows = _read(session, _orders_query(workspace_id, as_of, zone, currency), 11)
    parts.append((ids, _order_features(rows, end_day)))
    ids, rows = _read(session, _events_query(workspace_id, as_of, zone), 6)
    parts.append((ids, _event_features(rows, end_day)))
    ids, rows = _read(session, _conversations_query(workspace_id, as_of), 1)
    parts.append((ids, {"conversations_last_90d": rows[:, 0]}))
    ids, rows = _read(session, _responses_query(workspace_id, as_of), 2)
    parts.append((ids, {"last_nps": rows[:, 0], "last_csat": rows[:, 1]}))
    ids, rows = _read(session, _texts_query(workspace_id, as_of), 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        negative = np.where(rows[:, 1] > 0, rows[:, 0] / rows[:, 1], np.nan)
    parts.append((ids, {"negative_text_share": negative}))
    ids, rows = _read(session, _consent_query(workspace_id, as_of), 1)
    parts.append((ids, {"marketing_withdrawn_last_90d": (rows[:, 0] > 0).astype(np.float64)}))
    return _assemble(parts, FEATURE_NAMES, as_of)


def _assemble(
    parts: Sequence[tuple[IntArray, dict[str, FloatArray]]],
    names: tuple[str, ...],
    as_of: datetime,
) -> Behaviour:
    """One matrix over the union of the sources' customers, absent values filled per feature."""
    customers = np.unique(np.concatenate([ids for ids, _ in parts])).astype(np.int64)
    values = np.full((customers.shape[0], len(names)), np.nan, dtype=np.float64)
    for j, name in enumerate(names):
        if name in _ZERO_WHEN_ABSENT:
            values[:, j] = 0.0
    for ids, columns in parts:
        at = np.searchsorted(customers, ids)
        for name, column in columns.items():
            values[at, names.index(name)] = column
    return Behaviour(customer=customers, names=names, values=values, as_of=as_of)
