"""Churn risk on a time split: a population whose churn its behaviour foretells scores high and
above the BG/NBD baseline, nothing at or after ``as_of`` is read, small workspaces fail clearly,
reasons come in words, and a new model is put in use only when it is not worse."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cxloop.insights import churn
from cxloop.models import (
    CareInbox,
    Conversation,
    Customer,
    Event,
    Order,
    Response,
    Survey,
    Workspace,
)
from tests.factories import make_customer, make_workspace, unique

KST = ZoneInfo("Asia/Seoul")
AS_OF = datetime(2025, 7, 1, tzinfo=KST)
HORIZON = 90
STAYERS, LEAVERS_BEFORE, LEAVERS_AFTER = 200, 50, 50


def kst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=KST)


@pytest.fixture
def workspace(session: Session) -> Workspace:
    return make_workspace(session)


def months(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    year, month = first
    found = []
    while (year, month) <= last:
        found.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def population(session: Session, workspace: Workspace, *, seed: int = 1) -> dict[str, list[int]]:
    """Customers buying about monthly from July 2024; some of them stop.

    Stayers buy on to the end. "Before" leavers stop after December 2024, "after" leavers
    after March 2025; most leavers complain first (a conversation, an NPS of 0–4) a few weeks
    before their last purchase. Most stayers who answer surveys are happy; a few are not, and
    some ask for help. The purchase histories alone look alike until the leavers stop.
    """
    rng = np.random.default_rng(seed)
    kinds = ["stay"] * STAYERS + ["before"] * LEAVERS_BEFORE + ["after"] * LEAVERS_AFTER
    session.execute(
        insert(Customer),
        [{"workspace_id": workspace.id, "display_name": f"{k}-{i}"} for i, k in enumerate(kinds)],
    )
    ids = session.scalars(
        select(Customer.id).where(Customer.workspace_id == workspace.id).order_by(Customer.id)
    ).all()
    inbox = CareInbox(workspace_id=workspace.id, name="Support", token_hash=unique("token-"))
    survey = Survey(workspace_id=workspace.id, key=unique("nps"), name="NPS", kind="nps")
    session.add_all([inbox, survey])
    session.flush()
    orders: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    talks: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    groups: dict[str, list[int]] = {"stay": [], "before": [], "after": []}
    for customer, kind in zip(ids, kinds, strict=True):
        groups[kind].append(customer)
        last = {"stay": (2025, 6), "before": (2024, 12), "after": (2025, 3)}[kind]
        for n, (year, month) in enumerate(months((2024, 7), last)):
            if n > 0 and rng.random() > 0.85:
                continue
            at = kst(year, month, int(rng.integers(1, 27)), int(rng.integers(9, 22)))
            orders.append(
                {
                    "workspace_id": workspace.id,
                    "customer_id": customer,
                    "external_id": unique("O-"),
                    "total": Decimal(int(rng.integers(10, 80)) * 1000),
                    "placed_at": at,
                    "properties": {},
                }
            )
            events.append(
                {
                    "workspace_id": workspace.id,
                    "customer_id": customer,
                    "message_id": unique("m-"),
                    "type": "track",
                    "name": "Order Completed",
                    "channel": "web",
                    "timestamp": at,
                    "received_at": at,
                    "properties": {},
                    "context": {},
                }
            )
        complaint: datetime | None = None
        if kind == "stay":
            # some stayers are unhappy too, and some ask for help
            if rng.random() < 0.4:
                answered = kst(2024, 8, 1) + timedelta(days=int(rng.integers(0, 320)))
                score = int(rng.integers(0, 5) if rng.random() < 0.2 else rng.integers(7, 11))
                answers.append({"customer": customer, "at": answered, "nps": score})
            if rng.random() < 0.1:
                complaint = kst(2024, 8, 1) + timedelta(days=int(rng.integers(0, 320)))
        else:
            # most leavers complain a few weeks before the month of their last purchase ends
            year, month = last
            warned = kst(year, month, 1) - timedelta(days=int(rng.integers(5, 20)))
            if rng.random() < 0.8:
                answers.append({"customer": customer, "at": warned, "nps": int(rng.integers(0, 5))})
            if rng.random() < 0.7:
                complaint = warned
        if complaint is not None:
            talks.append(
                {
                    "workspace_id": workspace.id,
                    "inbox_id": inbox.id,
                    "customer_id": customer,
                    "channel": "email",
                    "created_at": complaint,
                    "last_message_at": complaint,
                }
            )
    session.execute(insert(Order), orders)
    session.execute(insert(Event), events)
    if talks:
        session.execute(insert(Conversation), talks)
    session.execute(
        insert(Response),
        [
            {
                "workspace_id": workspace.id,
                "survey_id": survey.id,
                "version": 1,
                "customer_id": a["customer"],
                "nps": a["nps"],
                "completed": True,
                "started_at": a["at"],
                "submitted_at": a["at"],
            }
            for a in answers
        ],
    )
    session.flush()
    return groups


def fit(session: Session, workspace: Workspace, **kw: Any) -> churn.ChurnResult:
    return churn.fit_churn(
        session, workspace_id=workspace.id, as_of=AS_OF, horizon_days=HORIZON, **kw
    )


def test_behaviour_foretells_churn_better_than_bgnbd(
    session: Session, workspace: Workspace
) -> None:
    groups = population(session, workspace)

    result = fit(session, workspace)

    m = result.metrics
    customers = STAYERS + LEAVERS_BEFORE + LEAVERS_AFTER
    assert m["n_train"] == customers
    assert m["n_validation"] == customers
    assert m["n_scored"] == customers
    assert m["n_baseline"] == customers
    # validation: both groups of leavers made no purchase in the last 90 days (stayers nearly
    # always do: missing three months in a row has a chance of 0.15³)
    assert round((LEAVERS_BEFORE + LEAVERS_AFTER) / customers, 6) <= m["positive_rate"] < 0.35
    # the baseline sees the "before" leavers' silence; only the model hears the others complain
    assert m["auc"] > 0.85
    assert m["baseline_auc"] is not None
    assert m["auc"] > m["baseline_auc"] + 0.05
    assert churn.is_not_worse(m, None)
    assert result.windows == churn.ChurnWindows(
        train_features_at=AS_OF - timedelta(days=180),
        validation_features_at=AS_OF - timedelta(days=90),
        scored_at=AS_OF,
        horizon_days=HORIZON,
    )
    assert result.parameters["features"] == list(result.feature_names)
    risk = dict(zip(result.customer.tolist(), result.risk.tolist(), strict=True))
    stayers = np.array([risk[c] for c in groups["stay"]])
    leavers = np.array([risk[c] for c in groups["before"] + groups["after"]])
    assert np.median(leavers) > 0.5 > np.median(stayers)
    assert np.all((result.risk >= 0) & (result.risk <= 1))


def test_each_customer_gets_the_features_that_raise_their_risk_in_words(
    session: Session, workspace: Workspace
) -> None:
    groups = population(session, workspace)

    result = fit(session, workspace)

    for i in range(len(result)):
        reasons = result.reasons(i)
        assert len(reasons) <= churn.TOP_REASONS
        effects = [r["effect"] for r in reasons]
        assert effects == sorted(effects, reverse=True)
        assert all(e > 0 for e in effects)
        assert all(r["feature"] in result.feature_names for r in reasons)
    # a customer who stopped buying in March: the silence since is the first reason
    gone = int(np.flatnonzero(result.customer == groups["after"][0])[0])
    reasons = result.reasons(gone)
    assert reasons[0]["feature"] in ("days_since_last_purchase", "days_since_last_seen")
    days = int(reasons[0]["value"])
    assert days > 90
    words = churn.reasons_in_words(reasons, language="ko")
    english = churn.reasons_in_words(reasons, language="en")
    assert len(words) == len(english) == len(reasons)
    assert words[0] in (f"마지막 구매 후 {days}일", f"마지막 방문 후 {days}일")
    assert english[0] in (f"{days} days since the last purchase", f"last seen {days} days ago")


def test_the_same_data_give_the_same_risks(session: Session, workspace: Workspace) -> None:
    population(session, workspace)

    first = fit(session, workspace)
    second = fit(session, workspace)

    np.testing.assert_array_equal(first.risk, second.risk)
    np.testing.assert_array_equal(first.reason_feature, second.reason_feature)
    assert first.metrics == second.metrics
    assert first.parameters == second.parameters


def test_nothing_at_or_after_as_of_is_read(session: Session, workspace: Workspace) -> None:
    groups = population(session, workspace)
    before = fit(session, workspace)

    # when: every leaver comes back from the moment of as_of on, and a new customer arrives
    for customer in groups["before"] + groups["after"]:
        for at in (AS_OF, AS_OF + timedelta(days=10)):
            session.add(
                Order(
                    workspace_id=workspace.id,
                    customer_id=customer,
                    external_id=unique("O-"),
                    total=Decimal(100_000),
                    placed_at=at,
                    properties={},
                )
            )
    newcomer = make_customer(session, workspace=workspace)
    session.add(
        Order(
            workspace_id=workspace.id,
            customer_id=newcomer.id,
            external_id=unique("O-"),
            total=Decimal(1000),
            placed_at=AS_OF + timedelta(seconds=1),
            properties={},
        )
    )
    session.flush()
    after = fit(session, workspace)

    assert after.metrics == before.metrics
    assert after.customer.tolist() == before.customer.tolist()
    np.testing.assert_array_equal(after.risk, before.risk)


def test_too_few_customers_is_a_fit_error(session: Session, workspace: Workspace) -> None:
    for _ in range(5):
        customer = make_customer(session, workspace=workspace)
        session.add(
            Order(
                workspace_id=workspace.id,
                customer_id=customer.id,
                external_id=unique("O-"),
                total=Decimal(1000),
                placed_at=kst(2024, 12, 1),
                properties={},
            )
        )
    session.flush()

    with pytest.raises(churn.ChurnFitError, match="too few customers"):
        fit(session, workspace)


def test_nobody_churning_is_a_fit_error(session: Session, workspace: Workspace) -> None:
    # given: sixty customers who all buy every month
    session.execute(
        insert(Customer),
        [{"workspace_id": workspace.id, "display_name": str(i)} for i in range(60)],
    )
    ids = session.scalars(select(Customer.id).where(Customer.workspace_id == workspace.id)).all()
    session.execute(
        insert(Order),
        [
            {
                "workspace_id": workspace.id,
                "customer_id": customer,
                "external_id": unique("O-"),
                "total": Decimal(1000),
                "placed_at": kst(year, month, 10),
                "properties": {},
            }
            for customer in ids
            for year, month in months((2024, 10), (2025, 6))
        ],
    )

    with pytest.raises(churn.ChurnFitError, match="0 churned"):
        fit(session, workspace)


def test_activity_counts_purchases_or_anything_in_the_window(
    session: Session, workspace: Workspace
) -> None:
    start, end = kst(2025, 4, 1), kst(2025, 7, 1)
    buyer = make_customer(session, workspace=workspace)
    refunded = make_customer(session, workspace=workspace)
    visitor = make_customer(session, workspace=workspace)
    too_late = make_customer(session, workspace=workspace)
    segment_only = make_customer(session, workspace=workspace)

    def order(customer: Customer, at: datetime, status: str = "completed") -> None:
        session.add(
            Order(
                workspace_id=workspace.id,
                customer_id=customer.id,
                external_id=unique("O-"),
                total=Decimal(1000),
                placed_at=at,
                status=status,
                properties={},
            )
        )

    def seen(customer: Customer, at: datetime, name: str = "Page Viewed") -> None:
        session.add(
            Event(
                workspace_id=workspace.id,
                customer_id=customer.id,
                message_id=unique("m-"),
                type="track",
                name=name,
                timestamp=at,
                received_at=at,
                properties={},
                context={},
            )
        )

    order(buyer, start)  # the window's first moment is in it
    order(refunded, start + timedelta(days=3), status="refunded")
    seen(visitor, start + timedelta(days=3))
    order(too_late, end)  # its last moment is not
    seen(too_late, start - timedelta(seconds=1))
    seen(segment_only, start + timedelta(days=3), name="Segment Entered")
    session.flush()

    def active(activity: str) -> list[int]:
        found = churn.active_customers(
            session, workspace_id=workspace.id, start=start, end=end, activity=activity
        )
        return found.tolist()

    assert active("purchase") == [buyer.id]
    assert active("any") == sorted([buyer.id, visitor.id])
    assert churn.churned([buyer.id, visitor.id], np.array([buyer.id])).tolist() == [False, True]


class Linear:
    """A stand-in model whose risk is 0.1·x₀ + 0.2·x₁ (it reads x₂ and ignores it)."""

    columns = np.array([0, 1, 2])

    def risk(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(0.1 * features[:, 0] + 0.2 * features[:, 1], dtype=np.float64)


def test_a_reason_is_a_feature_whose_typical_value_would_lower_the_risk() -> None:
    model = Linear()
    features = np.array(
        [
            [3.0, 2.0, 9.0],  # above typical in x₀ and x₁: both raise the risk, x₁ most
            [1.0, 0.0, 5.0],  # typical in everything: no reason
            [0.0, 1.0, 5.0],  # x₀ below typical lowers the risk: only x₁ is a reason
        ]
    )
    typical = np.array([1.0, 0.0, 5.0])

    feature, value, effect = churn.explain(model, features, model.risk(features), typical)

    assert feature.tolist() == [[1, 0, -1], [-1, -1, -1], [1, -1, -1]]
    np.testing.assert_allclose(effect, [[0.4, 0.2, 0.0], [0.0, 0.0, 0.0], [0.2, 0.0, 0.0]])
    assert value[0, :2].tolist() == [2.0, 3.0]
    assert np.isnan(value[1]).all()


def test_typical_values_are_medians_or_missing_when_most_are() -> None:
    features = np.array([[1.0, np.nan, np.nan], [2.0, np.nan, 4.0], [10.0, 3.0, 6.0]])

    assert churn.typical_values(features).tolist()[:1] == [2.0]
    assert np.isnan(churn.typical_values(features)[1])
    assert churn.typical_values(features)[2] == 5.0


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        ({"auc": 0.80, "baseline_auc": 0.70}, None, True),
        ({"auc": 0.80, "baseline_auc": 0.70}, {"auc": 0.805}, True),
        ({"auc": 0.80, "baseline_auc": 0.70}, {"auc": 0.83}, False),
        ({"auc": 0.65, "baseline_auc": 0.70}, None, False),
        ({"auc": 0.80, "baseline_auc": None}, {"auc": 0.79}, True),
        ({"auc": None, "baseline_auc": 0.70}, None, False),
        ({"auc": 0.60, "auc_baseline_customers": 0.75, "baseline_auc": 0.70}, None, True),
        ({"auc": 0.80, "auc_baseline_customers": 0.65, "baseline_auc": 0.70}, None, False),
    ],
    ids=[
        "first-model", "within-tolerance", "worse-than-in-use", "worse-than-baseline",
        "no-baseline", "no-auc", "better-on-the-baseline-customers",
        "worse-on-the-baseline-customers",
    ],
)  # fmt: skip
def test_a_new_model_is_used_only_when_not_worse(
    new: dict[str, Any], old: dict[str, Any] | None, expected: bool
) -> None:
    assert churn.is_not_worse(new, old) is expected
