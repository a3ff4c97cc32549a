"""Behaviour features read from every source in one grouped query each: exact values, local
days and windows, the rows that do not count, merged and erased profiles, nothing at or after
``as_of``, and the words for each feature."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

import cxloop.events.hooks  # noqa: F401  (merges move orders and events to the survivor)
from cxloop.insights import behaviour
from cxloop.models import (
    CareInbox,
    ConsentRecord,
    Conversation,
    Customer,
    Event,
    Order,
    Response,
    Survey,
    TextAnalysis,
    Workspace,
)
from cxloop.profiles.identity import merge_customers
from tests.factories import make_customer, make_workspace, unique

KST = ZoneInfo("Asia/Seoul")
AS_OF = datetime(2025, 7, 1, tzinfo=KST)


def kst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=KST)


@pytest.fixture
def workspace(session: Session) -> Workspace:
    return make_workspace(session)


def buy(session: Session, customer: Customer, at: datetime, total: int, **extra: Any) -> None:
    session.add(
        Order(
            workspace_id=customer.workspace_id,
            customer_id=customer.id,
            external_id=unique("O-"),
            total=Decimal(total),
            placed_at=at,
            properties={},
            **extra,
        )
    )
    session.flush()


def track(
    session: Session, customer: Customer, at: datetime, channel: str = "web", name: str = "Page"
) -> None:
    session.add(
        Event(
            workspace_id=customer.workspace_id,
            customer_id=customer.id,
            message_id=unique("m-"),
            type="track",
            name=name,
            channel=channel,
            timestamp=at,
            received_at=at,
            properties={},
            context={},
        )
    )
    session.flush()


def converse(session: Session, customer: Customer, at: datetime) -> None:
    inbox = CareInbox(
        workspace_id=customer.workspace_id, name="Support", token_hash=unique("token-")
    )
    session.add(inbox)
    session.flush()
    session.add(
        Conversation(
            workspace_id=customer.workspace_id,
            inbox_id=inbox.id,
            customer_id=customer.id,
            channel="email",
            created_at=at,
            last_message_at=at,
        )
    )
    session.flush()


def answer(session: Session, customer: Customer, at: datetime, **scores: int) -> None:
    survey = Survey(workspace_id=customer.workspace_id, key=unique("s"), name="S", kind="nps")
    session.add(survey)
    session.flush()
    session.add(
        Response(
            workspace_id=customer.workspace_id,
            survey_id=survey.id,
            version=1,
            customer_id=customer.id,
            submitted_at=at,
            started_at=at,
            completed=True,
            **scores,
        )
    )
    session.flush()


def write(session: Session, customer: Customer, at: datetime, sentiment: str) -> None:
    session.add(
        TextAnalysis(
            workspace_id=customer.workspace_id,
            source_type="survey_response",
            source_id=int(unique("")),
            customer_id=customer.id,
            lang="ko",
            sentiment=sentiment,
            score=0.0,
            text_hash="x",
            occurred_at=at,
        )
    )
    session.flush()


def consent(
    session: Session, customer: Customer, at: datetime, granted: bool, *, channel: str = "email"
) -> None:
    session.add(
        ConsentRecord(
            workspace_id=customer.workspace_id,
            customer_id=customer.id,
            purpose="marketing",
            channel=channel,
            granted=granted,
            source="test",
            recorded_at=at,
        )
    )
    session.flush()


def load(session: Session, workspace: Workspace, as_of: datetime = AS_OF) -> behaviour.Behaviour:
    return behaviour.load_behaviour(session, workspace_id=workspace.id, as_of=as_of)


def row(found: behaviour.Behaviour, customer: Customer) -> dict[str, float]:
    at = int(found.rows_of([customer.id])[0])
    assert at >= 0, "customer not in the matrix"
    return dict(zip(found.names, found.values[at].tolist(), strict=True))


def a_full_history(session: Session, customer: Customer) -> None:
    """Something from every source, some of it on the edges of the windows."""
    buy(session, customer, kst(2025, 1, 4, 12), 30_000)  # Saturday; the 90 days before
    buy(session, customer, kst(2025, 3, 15, 12), 20_000, status="refunded")
    buy(session, customer, kst(2025, 5, 10, 12), 10_000)  # Saturday
    buy(session, customer, kst(2025, 6, 10, 12), 50_000)  # Tuesday
    buy(session, customer, kst(2025, 6, 10, 18), 10_000)  # same day
    buy(session, customer, kst(2025, 6, 16, 0, 30), 5_000)  # Monday here, Sunday in UTC
    buy(session, customer, kst(2025, 6, 20, 12), 5, currency="USD")
    buy(session, customer, AS_OF, 99_000)  # at as_of: not before it
    track(session, customer, kst(2025, 3, 1, 12), "ios")
    track(session, customer, kst(2025, 6, 20, 10), "web")
    track(session, customer, kst(2025, 6, 20, 11), "ios")
    track(session, customer, kst(2025, 6, 25, 9), "android")
    track(session, customer, kst(2025, 6, 29, 23), "server", name="Segment Entered")
    track(session, customer, AS_OF, "web")
    converse(session, customer, kst(2025, 3, 1))  # more than 90 days before
    converse(session, customer, kst(2025, 5, 1))
    converse(session, customer, AS_OF)
    answer(session, customer, kst(2025, 3, 1), nps=9)
    answer(session, customer, kst(2025, 5, 1), csat=4)
    answer(session, customer, kst(2025, 6, 1), nps=3)
    answer(session, customer, kst(2025, 7, 2), nps=10, csat=1)
    write(session, customer, kst(2025, 2, 1), "negative")
    write(session, customer, kst(2025, 6, 1), "positive")
    write(session, customer, kst(2025, 6, 15), "negative")
    write(session, customer, kst(2025, 7, 5), "positive")
    consent(session, customer, kst(2025, 1, 1), True)
    consent(session, customer, kst(2025, 6, 1), False)


def test_every_feature_of_one_customer(session: Session, workspace: Workspace) -> None:
    customer = make_customer(session, workspace=workspace)
    a_full_history(session, customer)

    found = load(session, workspace)

    assert found.customer.tolist() == [customer.id]
    assert found.names == behaviour.FEATURE_NAMES
    assert row(found, customer) == {
        "days_since_last_purchase": 14.0,  # 16 → 30 June
        "days_since_first_purchase": 177.0,  # 4 January → 30 June
        "purchase_days": 4.0,
        "orders": 5.0,
        "revenue": 105_000.0,
        "average_order_value": 21_000.0,
        "orders_last_30d": 3.0,
        "orders_last_90d": 4.0,
        "orders_previous_90d": 1.0,
        "order_trend": 0.6,  # (4 − 1) / (4 + 1)
        "void_order_share": pytest.approx(1 / 7),  # of all seven orders, the dollar one too
        "weekend_order_share": 0.4,  # two Saturdays of five orders
        "days_since_last_seen": 5.0,
        "events_last_30d": 3.0,
        "active_days_last_30d": 2.0,
        "active_days_last_90d": 2.0,
        "mobile_event_share": 0.75,
        "conversations_last_90d": 1.0,
        "last_nps": 3.0,
        "last_csat": 4.0,
        "negative_text_share": pytest.approx(2 / 3),
        "marketing_withdrawn_last_90d": 1.0,
    }


def test_a_customer_known_from_one_source_has_zero_counts_and_no_values(
    session: Session, workspace: Workspace
) -> None:
    # given: a customer who only answered a survey; consent never granted is no withdrawal,
    # and a withdrawal long ago is not recent: those two have nothing counted
    answered = make_customer(session, workspace=workspace)
    answer(session, answered, kst(2025, 6, 1), nps=8)
    never = make_customer(session, workspace=workspace)
    consent(session, never, kst(2025, 6, 1), False, channel="sms")
    long_ago = make_customer(session, workspace=workspace)
    consent(session, long_ago, kst(2025, 1, 1), True)
    consent(session, long_ago, kst(2025, 2, 1), False)

    found = load(session, workspace)

    assert found.customer.tolist() == [answered.id]
    assert found.rows_of([never.id, long_ago.id, answered.id]).tolist() == [-1, -1, 0]
    values = row(found, answered)
    assert values["last_nps"] == 8
    for name in ("orders", "revenue", "events_last_30d", "active_days_last_90d",
                 "conversations_last_90d", "marketing_withdrawn_last_90d"):  # fmt: skip
        assert values[name] == 0, name
    for name in ("days_since_last_purchase", "average_order_value", "order_trend",
                 "void_order_share", "days_since_last_seen", "mobile_event_share", "last_csat",
                 "negative_text_share"):  # fmt: skip
        assert math.isnan(values[name]), name


def test_nothing_at_or_after_as_of_is_read(session: Session, workspace: Workspace) -> None:
    customer = make_customer(session, workspace=workspace)
    a_full_history(session, customer)
    before = load(session, workspace)

    # when: the future happens, from the moment of as_of on
    for at in (AS_OF, AS_OF + timedelta(days=3)):
        buy(session, customer, at, 1_000_000)
        buy(session, customer, at, 5, status="cancelled")
        track(session, customer, at, "ios")
        converse(session, customer, at)
        answer(session, customer, at, nps=0, csat=1)
        write(session, customer, at, "negative")
        consent(session, customer, at, True)
    newcomer = make_customer(session, workspace=workspace)
    buy(session, newcomer, AS_OF + timedelta(hours=1), 10_000)
    after = load(session, workspace)

    assert after.customer.tolist() == before.customer.tolist()
    np.testing.assert_array_equal(after.values, before.values)


def test_merged_profiles_count_for_their_survivor_and_erased_ones_not_at_all(
    session: Session, workspace: Workspace
) -> None:
    survivor = make_customer(session, workspace=workspace)
    merged = make_customer(session, workspace=workspace)
    buy(session, survivor, kst(2025, 6, 1, 12), 4_000)
    track(session, survivor, kst(2025, 6, 1, 12), "web")
    buy(session, merged, kst(2025, 5, 1, 12), 6_000)
    track(session, merged, kst(2025, 6, 10, 12), "ios")
    merge_customers(session, survivor=survivor, merged=merged, reason="test")
    session.flush()
    # rows still pointing at the merged profile count for the survivor too
    answer(session, merged, kst(2025, 6, 2), nps=2)
    erased = make_customer(session, workspace=workspace)
    buy(session, erased, kst(2025, 6, 1, 12), 50_000)
    track(session, erased, kst(2025, 6, 1, 12), "web")
    erased.erased_at = datetime(2025, 6, 20, tzinfo=UTC)
    elsewhere = make_customer(session, workspace=make_workspace(session))
    buy(session, elsewhere, kst(2025, 6, 1, 12), 50_000)
    session.flush()

    found = load(session, workspace)

    assert found.customer.tolist() == [survivor.id]
    values = row(found, survivor)
    assert values["orders"] == 2
    assert values["revenue"] == 10_000
    assert values["days_since_last_seen"] == 20
    assert values["mobile_event_share"] == 0.5
    assert values["last_nps"] == 2


def test_days_are_local_days(session: Session, workspace: Workspace) -> None:
    customer = make_customer(session, workspace=workspace)
    buy(session, customer, kst(2025, 6, 29, 23, 30), 1_000)  # 14:30 UTC
    buy(session, customer, kst(2025, 6, 30, 0, 30), 1_000)  # 29 June in UTC
    track(session, customer, kst(2025, 6, 30, 0, 30), "web")

    found = load(session, workspace)

    values = row(found, customer)
    assert values["purchase_days"] == 2
    assert values["days_since_last_purchase"] == 0
    assert values["days_since_last_seen"] == 0
    assert values["weekend_order_share"] == 0.5  # Sunday 29 June, Monday 30 June


def test_one_grouped_query_per_source(session: Session, workspace: Workspace) -> None:
    for _ in range(3):
        a_full_history(session, make_customer(session, workspace=workspace))
    statements: list[str] = []
    engine = session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        found = load(session, workspace)
    finally:
        event.remove(engine, "before_cursor_execute", listener)

    assert len(found) == 3
    assert len(statements) == 6
    assert all("GROUP BY" in statement for statement in statements)


def test_a_workspace_without_data_has_an_empty_matrix(
    session: Session, workspace: Workspace
) -> None:
    make_customer(session, workspace=workspace)  # a profile with nothing recorded

    found = load(session, workspace)

    assert len(found) == 0
    assert found.values.shape == (0, len(behaviour.FEATURE_NAMES))


@pytest.mark.parametrize(
    ("name", "value", "language", "currency", "expected"),
    [
        ("days_since_last_purchase", 120.0, "ko", "KRW", "마지막 구매 후 120일"),
        ("days_since_last_purchase", 120.0, "en", "KRW", "120 days since the last purchase"),
        ("days_since_last_purchase", math.nan, "ko", "KRW", "구매 이력 없음"),
        ("revenue", 1_234_500.0, "ko", "KRW", "누적 구매액 1,234,500원"),
        ("average_order_value", 45_000.0, "en", "KRW", "₩45,000 per order on average"),
        ("average_order_value", 12.5, "en", "USD", "12.50 USD per order on average"),
        ("void_order_share", 0.25, "ko", "KRW", "주문의 25% 환불·취소"),
        ("order_trend", -0.5, "en", "KRW",
         "order trend −0.50 over the last 90 days (−1 stopped, +1 started)"),
        ("last_nps", 3.0, "ko", "KRW", "최근 NPS 점수 3점"),
        ("marketing_withdrawn_last_90d", 1.0, "ko", "KRW", "최근 90일 안에 마케팅 수신 동의 철회"),
        ("marketing_withdrawn_last_90d", 0.0, "en", "KRW",
         "kept marketing consent in the last 90 days"),
        ("conversations_last_90d", 2.0, "ja", "KRW", "2 support conversations in the last 90 days"),
    ],
    ids=[
        "days-ko", "days-en", "missing", "money-ko", "money-en", "dollars", "share", "trend",
        "score", "flag-set", "flag-not-set", "other-language-english",
    ],
)  # fmt: skip
def test_each_value_in_words(
    name: str, value: float, language: str, currency: str, expected: str
) -> None:
    said = behaviour.describe_feature(name, value, language=language, currency=currency)
    assert said == expected


def test_every_feature_has_words_in_both_languages() -> None:
    for name in behaviour.FEATURE_NAMES:
        for language in ("ko", "en"):
            assert behaviour.feature_name(name, language)
            assert behaviour.describe_feature(name, 1.0, language=language)
            assert behaviour.describe_feature(name, math.nan, language=language)
