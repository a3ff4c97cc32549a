"""The segment rule language: each family of conditions, NOT/OR nesting, local days, merged and
erased profiles, workspace isolation, validation, descriptions — checked as the exact set of
customers one compiled query finds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.insights.segments import (
    check_segment_references,
    compile_rule,
    count_matching,
    describe,
    parse_rule,
    sample_matching,
)
from cxloop.insights.segments.language import (
    ConsentCondition,
    IdentityCondition,
    LifecycleCondition,
    TextCondition,
)
from cxloop.models import (
    ConsentRecord,
    Customer,
    CustomerPrediction,
    Event,
    InsightsRun,
    Order,
    OrderItem,
    Response,
    Segment,
    SegmentMember,
    Survey,
    TextAnalysis,
    TextAnalysisCategory,
    Workspace,
)
from cxloop.models.customer import (
    CONSENT_CHANNELS,
    CONSENT_PURPOSES,
    IDENTITY_KINDS,
    LIFECYCLE_STAGES,
)
from cxloop.models.text import SENTIMENTS
from cxloop.profiles.identity import merge_customers
from tests.factories import make_customer, make_workspace, unique

NOW = datetime(2026, 3, 15, 3, 0, tzinfo=UTC)  # 12:00 in Seoul
KST = ZoneInfo("Asia/Seoul")
LIVE = ("vip", "top_clv", "happy_vip", "lapsed_vip", "browser", "survivor", "plain")


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@dataclass
class Shop:
    """A workspace of named customers with their orders, events, answers and predictions."""

    session: Session
    workspace: Workspace
    survey: Survey
    run: InsightsRun
    people: dict[str, Customer]

    def ids(self, *names: str) -> set[int]:
        return {self.people[name].id for name in names}

    def names(self, ids: set[int]) -> set[str]:
        return {name for name, c in self.people.items() if c.id in ids}

    def customer(self, name: str, *, stage: str = "lead", **kw: Any) -> Customer:
        customer = make_customer(self.session, workspace=self.workspace, **kw)
        customer.lifecycle_stage = stage
        self.people[name] = customer
        return customer

    def order(
        self,
        who: str,
        when: float | datetime,
        total: int,
        *items: tuple[str, str, int, int],
        **kw: Any,
    ) -> None:
        """An order ``when`` days ago (or at that moment), with (sku, category, price,
        quantity) items."""
        customer = self.people[who]
        order = Order(
            workspace_id=self.workspace.id,
            customer_id=customer.id,
            external_id=unique("O-"),
            total=Decimal(total),
            placed_at=when if isinstance(when, datetime) else ago(when),
            properties={},
            **kw,
        )
        self.session.add(order)
        self.session.flush()
        self.session.add_all(
            OrderItem(
                order_id=order.id,
                workspace_id=self.workspace.id,
                sku=sku,
                category=category,
                price=Decimal(price),
                quantity=quantity,
            )
            for sku, category, price, quantity in items
        )
        self.session.flush()

    def event(self, who: str, name: str, *, at: datetime, **properties: Any) -> None:
        self.session.add(
            Event(
                workspace_id=self.workspace.id,
                customer_id=self.people[who].id,
                message_id=unique("m-"),
                type="track",
                name=name,
                timestamp=at,
                received_at=at,
                properties=properties,
                context={},
            )
        )
        self.session.flush()

    def nps(self, who: str, days: float, score: int, *, completed: bool = True) -> None:
        self.session.add(
            Response(
                workspace_id=self.workspace.id,
                survey_id=self.survey.id,
                version=1,
                customer_id=self.people[who].id,
                nps=score,
                completed=completed,
                submitted_at=ago(days),
                started_at=ago(days),
            )
        )
        self.session.flush()

    def consent(self, who: str, purpose: str, channel: str, granted: bool, days: float) -> None:
        self.session.add(
            ConsentRecord(
                workspace_id=self.workspace.id,
                customer_id=self.people[who].id,
                purpose=purpose,
                channel=channel,
                granted=granted,
                source="test",
                recorded_at=ago(days),
            )
        )
        self.session.flush()

    def text(self, who: str, category: str, sentiment: str, days: float) -> None:
        analysis = TextAnalysis(
            workspace_id=self.workspace.id,
            source_type="survey_response",
            source_id=int(unique("")),
            customer_id=self.people[who].id,
            lang="ko",
            sentiment=sentiment,
            score=-0.8 if sentiment == "negative" else 0.8,
            categories=[category],
            text_hash=unique("h"),
            occurred_at=ago(days),
        )
        self.session.add(analysis)
        self.session.flush()
        self.session.add(
            TextAnalysisCategory(
                analysis_id=analysis.id,
                workspace_id=self.workspace.id,
                category=category,
                sentiment=sentiment,
                occurred_at=ago(days),
            )
        )
        self.session.flush()

    def predict(self, who: str, **scores: Any) -> None:
        self.session.add(
            CustomerPrediction(
                workspace_id=self.workspace.id,
                customer_id=self.people[who].id,
                run_id=self.run.id,
                **scores,
            )
        )
        self.session.flush()

    def segment(self, *members: str, rule: dict[str, Any] | None = None) -> Segment:
        segment = Segment(
            workspace_id=self.workspace.id,
            name=unique("segment "),
            rule=rule or {"type": "all", "rules": []},
        )
        self.session.add(segment)
        self.session.flush()
        self.session.add_all(
            SegmentMember(
                segment_id=segment.id,
                customer_id=self.people[m].id,
                workspace_id=self.workspace.id,
            )
            for m in members
        )
        self.session.flush()
        return segment


def open_shop(session: Session) -> Shop:
    workspace = make_workspace(session)
    survey = Survey(workspace_id=workspace.id, key=unique("nps"), name="NPS", kind="nps")
    run = InsightsRun(workspace_id=workspace.id, status="ready", as_of=NOW)
    session.add_all([survey, run])
    session.flush()
    return Shop(session, workspace, survey, run, {})


@pytest.fixture
def shop(session: Session) -> Shop:
    """The shop every case reads; see each customer's comment for what makes them."""
    shop = open_shop(session)
    # A VIP who bought 10 days ago and answered NPS 9, then 4 five days ago.
    shop.customer(
        "vip",
        stage="repeat",
        email="vip@example.com",
        traits={
            "tier": "VIP",
            "age": 41,
            "tags": ["newsletter", "beta"],
            "address": {"city": "서울"},
        },
    )
    shop.order("vip", 10, 50_000, ("SKU-1", "shoes", 25_000, 2))
    shop.nps("vip", 60, 9)
    shop.nps("vip", 5, 4)
    shop.nps("vip", 1, 10, completed=False)  # an unfinished answer is no score
    shop.consent("vip", "marketing", "email", True, 100)
    shop.text("vip", "delivery", "negative", 3)
    shop.predict(
        "vip", clv_12m=150_000, clv_percentile=0.5, churn_risk=0.3, rfm_cell="loyal", cluster=2
    )
    # Gold tier but the top CLV; last NPS 6 (2 before it).
    shop.customer("top_clv", stage="repeat", user_id="u-top", traits={"tier": "Gold", "age": 29})
    shop.order("top_clv", 30, 200_000, ("SKU-2", "bags", 200_000, 1))
    shop.order("top_clv", 200, 100_000)
    shop.nps("top_clv", 100, 2)
    shop.nps("top_clv", 10, 6)
    shop.predict(
        "top_clv",
        clv_12m=900_000,
        clv_percentile=0.95,
        churn_risk=0.1,
        rfm_cell="champions",
        cluster=1,
    )
    # A VIP who bought recently and whose last NPS is 9 (3 before it).
    shop.customer("happy_vip", stage="customer", traits={"tier": "VIP"})
    shop.order("happy_vip", 5, 30_000)
    shop.order("happy_vip", 4, 99_000, status="refunded")
    shop.nps("happy_vip", 20, 3)
    shop.nps("happy_vip", 2, 9)
    shop.predict(
        "happy_vip", clv_percentile=0.7, churn_risk=0.6, rfm_cell="potential_loyalists", cluster=2
    )
    # A VIP whose last order was 120 days ago.
    shop.customer("lapsed_vip", stage="churned", traits={"tier": "VIP"})
    shop.order("lapsed_vip", 120, 70_000)
    shop.nps("lapsed_vip", 150, 2)
    shop.text("lapsed_vip", "delivery", "negative", 45)
    shop.predict("lapsed_vip", clv_percentile=0.2, churn_risk=0.9, rfm_cell="at_risk", cluster=3)
    # Viewed products three times this week; never bought; withdrew SMS marketing.
    shop.customer("browser", phone="010-1234-5678", traits={"tier": "Basic"})
    shop.event("browser", "Product Viewed", at=ago(1), category="shoes", price=30_000)
    shop.event("browser", "Product Viewed", at=ago(3), category="shoes", price=80_000)
    shop.event("browser", "Product Viewed", at=ago(6), category="bags", price=120_000)
    shop.event("browser", "Page Viewed", at=ago(40))
    shop.consent("browser", "marketing", "sms", True, 50)
    shop.consent("browser", "marketing", "sms", False, 10)
    shop.text("browser", "delivery", "positive", 2)
    # A profile another was merged into; the merged one's rows count for it.
    shop.customer("survivor", stage="customer", traits={"tier": "Silver"})
    shop.event("survivor", "Product Viewed", at=ago(2), category="bags")
    shop.event("survivor", "Product Viewed", at=ago(4), category="bags")
    merged = shop.customer("merged", traits={"tier": "VIP"})
    shop.order("merged", 50, 40_000)
    merge_customers(session, survivor=shop.people["survivor"], merged=merged, reason="test")
    session.flush()
    shop.order("merged", 3, 20_000)  # written for the merged profile after the merge
    shop.event("merged", "Product Viewed", at=ago(5), category="bags")
    # Nothing at all, and no service mail.
    shop.customer("plain", stage="anonymous")
    shop.consent("plain", "service", "email", False, 5)
    # Erased: matches nothing although a VIP who bought and scored 1.
    erased = shop.customer("erased", traits={"tier": "VIP"})
    shop.order("erased", 2, 10_000)
    shop.nps("erased", 2, 1)
    erased.erased_at = ago(1)
    session.flush()
    # Another workspace's VIP top-CLV detractor who bought yesterday.
    other = open_shop(session)
    other.customer("outsider", traits={"tier": "VIP"})
    other.order("outsider", 1, 500_000)
    other.nps("outsider", 1, 0)
    other.predict("outsider", clv_percentile=0.99)
    other.consent("outsider", "marketing", "email", True, 5)
    for days in (1, 2, 3):
        other.event("outsider", "Product Viewed", at=ago(days))
    other.segment("outsider")
    return shop


def matching(shop: Shop, rule: dict[str, Any]) -> set[str]:
    statement = compile_rule(rule, workspace_id=shop.workspace.id, now=NOW, tz="Asia/Seoul")
    found = set(shop.session.scalars(statement))
    return shop.names(found)


def trait(key: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"type": "trait", "key": key, "op": op, "value": value}


def not_(rule: dict[str, Any]) -> dict[str, Any]:
    return {"type": "not", "rule": rule}


def all_(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"type": "all", "rules": list(rules)}


def any_(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"type": "any", "rules": list(rules)}


EXAMPLE = all_(
    any_(
        trait("tier", "eq", "VIP"),
        {"type": "prediction", "field": "clv_percentile", "op": "top_percent", "value": 10},
    ),
    {"type": "order", "within_days": 90},
    {"type": "score", "metric": "nps", "op": "lte", "value": 6},
)
VIEWED_3_IN_7 = {"type": "event", "name": "Product Viewed", "at_least": 3, "within_days": 7}

CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # traits
    ("trait-eq", trait("tier", "eq", "VIP"), {"vip", "happy_vip", "lapsed_vip"}),
    (
        "trait-neq-includes-missing",
        trait("tier", "neq", "VIP"),
        {"top_clv", "browser", "survivor", "plain"},
    ),
    ("trait-number-gte", trait("age", "gte", 30), {"vip"}),
    ("trait-number-lt", trait("age", "lt", 30), {"top_clv"}),
    ("trait-string-is-not-a-number", trait("age", "eq", "41"), set()),
    ("trait-array-is-not-its-element", trait("tags", "eq", "beta"), set()),
    ("trait-neq-of-another-type", trait("tags", "neq", "beta"), set(LIVE)),
    ("trait-object-is-not-a-string", trait("address", "eq", "서울"), set()),
    (
        "trait-string-order-by-bytes",
        trait("tier", "gt", "Gold"),
        {"vip", "happy_vip", "lapsed_vip", "survivor"},
    ),
    ("trait-array-contains", trait("tags", "contains", "beta"), {"vip"}),
    ("trait-substring", trait("tier", "contains", "IP"), {"vip", "happy_vip", "lapsed_vip"}),
    ("trait-nested-path", trait("address.city", "eq", "서울"), {"vip"}),
    ("trait-exists", trait("address.city", "exists"), {"vip"}),
    ("trait-in", trait("tier", "in", ["Gold", "Silver"]), {"top_clv", "survivor"}),
    # lifecycle
    ("lifecycle-one", {"type": "lifecycle", "stages": ["repeat"]}, {"vip", "top_clv"}),
    (
        "lifecycle-several",
        {"type": "lifecycle", "stages": ["customer", "lead"]},
        {"happy_vip", "browser", "survivor"},
    ),
    # consent, as the policy decides it
    (
        "consent-marketing-opt-in",
        {"type": "consent", "purpose": "marketing", "channel": "email"},
        {"vip"},
    ),
    (
        "consent-withdrawn-is-not-granted",
        {"type": "consent", "purpose": "marketing", "channel": "sms"},
        set(),
    ),
    (
        "consent-not-granted",
        {"type": "consent", "purpose": "marketing", "channel": "sms", "granted": False},
        set(LIVE),
    ),
    (
        "consent-service-allowed-without-record",
        {"type": "consent", "purpose": "service", "channel": "email"},
        set(LIVE) - {"plain"},
    ),
    (
        "consent-service-opted-out",
        {"type": "consent", "purpose": "service", "channel": "email", "granted": False},
        {"plain"},
    ),
    # identities
    ("identity-email", {"type": "identity", "kind": "email"}, {"vip"}),
    ("identity-phone", {"type": "identity", "kind": "phone"}, {"browser"}),
    (
        "identity-missing",
        {"type": "identity", "kind": "email", "exists": False},
        set(LIVE) - {"vip"},
    ),
    # events (the survivor's two views and the merged profile's late one make three)
    ("event-at-least-n", VIEWED_3_IN_7, {"browser", "survivor"}),
    (
        "event-property-filter",
        {**VIEWED_3_IN_7, "at_least": 2, "where": [{"key": "category", "value": "shoes"}]},
        {"browser"},
    ),
    (
        "event-property-number-filter",
        {
            **VIEWED_3_IN_7,
            "at_least": 1,
            "where": [{"key": "price", "op": "gte", "value": 100_000}],
        },
        {"browser"},
    ),
    (
        "event-property-neq-includes-missing",
        {
            **VIEWED_3_IN_7,
            "at_least": 2,
            "where": [{"key": "category", "op": "neq", "value": "bags"}],
        },
        {"browser"},
    ),
    (
        "event-did-not",
        {"type": "event", "name": "Product Viewed", "did": False, "within_days": 30},
        {"vip", "top_clv", "happy_vip", "lapsed_vip", "plain"},
    ),
    (
        "event-did-fewer-than",
        {**VIEWED_3_IN_7, "did": False},
        {"vip", "top_clv", "happy_vip", "lapsed_vip", "plain"},
    ),
    ("event-ever", {"type": "event", "name": "Page Viewed"}, {"browser"}),
    ("event-outside-window", {"type": "event", "name": "Page Viewed", "within_days": 30}, set()),
    # orders (refunds never count; the merged profile's orders count for the survivor)
    (
        "order-bought-90-days",
        {"type": "order", "within_days": 90},
        {"vip", "top_clv", "happy_vip", "survivor"},
    ),
    ("order-count-ever", {"type": "order", "op": "gte", "value": 2}, {"top_clv", "survivor"}),
    (
        "order-none-in-90-days",
        {"type": "order", "op": "lt", "value": 1, "within_days": 90},
        {"lapsed_vip", "browser", "plain"},
    ),
    (
        "order-revenue-gte",
        {"type": "order", "measure": "revenue", "value": 100_000, "within_days": 365},
        {"top_clv"},
    ),
    (
        "order-revenue-lt-includes-non-buyers",
        {"type": "order", "measure": "revenue", "op": "lt", "value": 60_000, "within_days": 365},
        {"vip", "happy_vip", "browser", "plain"},
    ),
    ("order-sku", {"type": "order", "sku": "SKU-1"}, {"vip"}),
    ("order-category", {"type": "order", "category": "bags", "within_days": 90}, {"top_clv"}),
    (
        "order-category-revenue-is-its-items",
        {"type": "order", "measure": "revenue", "value": 50_000, "category": "shoes"},
        {"vip"},
    ),
    # scores: the last completed answer
    (
        "score-last-nps",
        {"type": "score", "metric": "nps", "op": "lte", "value": 6},
        {"vip", "top_clv", "lapsed_vip"},
    ),
    (
        "score-last-nps-high",
        {"type": "score", "metric": "nps", "op": "gte", "value": 9},
        {"happy_vip"},
    ),
    (
        "score-last-within-days",
        {"type": "score", "metric": "nps", "op": "lte", "value": 6, "within_days": 30},
        {"vip", "top_clv"},
    ),
    ("score-csat-none", {"type": "score", "metric": "csat", "op": "gte", "value": 1}, set()),
    # texts
    ("text-negative-recent", {"type": "text", "category": "delivery", "within_days": 30}, {"vip"}),
    ("text-negative-ever", {"type": "text", "category": "delivery"}, {"vip", "lapsed_vip"}),
    (
        "text-positive",
        {"type": "text", "category": "delivery", "sentiment": "positive"},
        {"browser"},
    ),
    # predictions
    (
        "prediction-clv-top-10",
        {"type": "prediction", "field": "clv_percentile", "op": "top_percent", "value": 10},
        {"top_clv"},
    ),
    (
        "prediction-clv-amount",
        {"type": "prediction", "field": "clv_12m", "op": "gt", "value": 100_000},
        {"vip", "top_clv"},
    ),
    (
        "prediction-churn-risk",
        {"type": "prediction", "field": "churn_risk", "op": "gte", "value": 0.5},
        {"happy_vip", "lapsed_vip"},
    ),
    (
        "prediction-not-includes-unscored",
        not_({"type": "prediction", "field": "churn_risk", "op": "gte", "value": 0.5}),
        {"vip", "top_clv", "browser", "survivor", "plain"},
    ),
    (
        "prediction-rfm-cells",
        {"type": "prediction", "field": "rfm_cell", "op": "in", "value": ["champions", "loyal"]},
        {"vip", "top_clv"},
    ),
    (
        "prediction-cluster",
        {"type": "prediction", "field": "cluster", "op": "in", "value": [2]},
        {"vip", "happy_vip"},
    ),
    # the example segment of the issue
    ("example-vip-or-top-clv-bought-detractor", EXAMPLE, {"vip", "top_clv"}),
    # nesting
    (
        "not-any",
        not_(any_(trait("tier", "eq", "VIP"), {"type": "order", "within_days": 90})),
        {"browser", "plain"},
    ),
    (
        "any-of-all-and-event",
        any_(
            all_(
                {"type": "lifecycle", "stages": ["repeat"]},
                not_({"type": "score", "metric": "nps", "op": "gte", "value": 7}),
            ),
            {"type": "event", "name": "Page Viewed"},
        ),
        {"vip", "top_clv", "browser"},
    ),
    ("double-not", not_(not_(trait("tier", "eq", "VIP"))), {"vip", "happy_vip", "lapsed_vip"}),
    (
        "not-all-of-sets",
        not_(all_(VIEWED_3_IN_7, {"type": "identity", "kind": "phone"})),
        set(LIVE) - {"browser"},
    ),
    (
        "all-with-negated-set",
        all_(trait("tier", "eq", "VIP"), not_({"type": "order", "within_days": 90})),
        {"lapsed_vip"},
    ),
    ("empty-all-is-everyone", all_(), set(LIVE)),
    ("empty-any-is-nobody", any_(), set()),
]


@pytest.mark.parametrize(("rule", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_matches_exactly(shop: Shop, rule: dict[str, Any], expected: set[str]) -> None:
    assert matching(shop, rule) == expected


@pytest.mark.parametrize("member", [True, False], ids=["member", "not-member"])
def test_segment_membership(shop: Shop, member: bool) -> None:
    browsers = shop.segment("browser")

    found = matching(shop, {"type": "segment", "segment_id": browsers.id, "member": member})

    assert found == ({"browser"} if member else set(LIVE) - {"browser"})


def test_another_workspaces_segment_has_no_members_here(shop: Shop) -> None:
    elsewhere = shop.session.scalars(
        select(Segment).where(Segment.workspace_id != shop.workspace.id).order_by(Segment.id)
    ).all()[-1]

    assert matching(shop, {"type": "segment", "segment_id": elsewhere.id}) == set()
    with pytest.raises(ValidationFailed, match="does not exist in this workspace"):
        count_matching(
            shop.session,
            {"type": "segment", "segment_id": elsewhere.id},
            workspace_id=shop.workspace.id,
            now=NOW,
        )


def test_the_other_workspace_sees_only_its_own(session: Session, shop: Shop) -> None:
    outsider = session.scalars(
        select(Customer).where(
            Customer.workspace_id != shop.workspace.id, Customer.traits["tier"].as_string() == "VIP"
        )
    ).all()
    other_workspace = outsider[-1].workspace_id

    ids = set(
        session.scalars(compile_rule(EXAMPLE, workspace_id=other_workspace, now=NOW, tz="UTC"))
    )

    assert ids == {outsider[-1].id}


@pytest.mark.parametrize(
    ("moment", "counted"),
    [
        (datetime(2026, 3, 15, 0, 10, tzinfo=KST), True),
        (datetime(2026, 3, 14, 23, 50, tzinfo=KST), False),
        (datetime(2026, 3, 15, 12, 0, tzinfo=KST), True),  # exactly now
        (datetime(2026, 3, 15, 12, 1, tzinfo=KST), False),  # after now
    ],
    ids=["after-local-midnight", "before-local-midnight", "at-now", "after-now"],
)
def test_within_one_day_is_today_in_local_time(
    session: Session, moment: datetime, counted: bool
) -> None:
    shop = open_shop(session)
    shop.customer("night_owl")
    shop.event("night_owl", "Signed In", at=moment)
    rule = {"type": "event", "name": "Signed In", "within_days": 1}

    assert matching(shop, rule) == ({"night_owl"} if counted else set())


def test_within_days_counts_local_days_in_the_time_zone_given(session: Session) -> None:
    shop = open_shop(session)
    # 16 December 00:30 in Seoul is the first of the 90 local days up to 15 March; 15 December
    # 23:30 is the day before
    shop.customer("early")
    shop.order("early", datetime(2025, 12, 16, 0, 30, tzinfo=KST), 1_000)
    shop.customer("late")
    shop.order("late", datetime(2025, 12, 15, 23, 30, tzinfo=KST), 1_000)
    rule = {"type": "order", "within_days": 90}

    seoul = compile_rule(rule, workspace_id=shop.workspace.id, now=NOW, tz="Asia/Seoul")
    utc = compile_rule(rule, workspace_id=shop.workspace.id, now=NOW, tz="UTC")

    assert shop.names(set(session.scalars(seoul))) == {"early"}
    # In UTC both orders fall on 15 December, the day before the window's first.
    assert shop.names(set(session.scalars(utc))) == set()


def test_count_and_sample(shop: Shop) -> None:
    count = count_matching(shop.session, EXAMPLE, workspace_id=shop.workspace.id, now=NOW)
    sample = sample_matching(
        shop.session, EXAMPLE, workspace_id=shop.workspace.id, now=NOW, limit=1
    )
    everyone = sample_matching(shop.session, all_(), workspace_id=shop.workspace.id, now=NOW)

    assert count == 2
    assert [c.id for c in sample] == [shop.people["top_clv"].id]
    assert [c.id for c in everyone] == sorted(shop.ids(*LIVE), reverse=True)


def test_a_rule_is_counted_in_one_statement(shop: Shop) -> None:
    statements: list[str] = []
    engine = shop.session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        count = count_matching(
            shop.session, EXAMPLE, workspace_id=shop.workspace.id, now=NOW, tz="Asia/Seoul"
        )
    finally:
        event.remove(engine, "before_cursor_execute", listener)

    assert count == 2
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith("SELECT COUNT")


# --- segment references --------------------------------------------------------------------------


def test_a_segment_may_not_include_itself_through_others(shop: Shop) -> None:
    first = shop.segment()
    second = shop.segment(rule={"type": "segment", "segment_id": first.id})
    first.rule = {"type": "segment", "segment_id": second.id}
    shop.session.flush()

    with pytest.raises(ValidationFailed, match="include itself") as raised:
        check_segment_references(
            shop.session,
            parse_rule(first.rule),
            workspace_id=shop.workspace.id,
            segment_id=first.id,
        )
    assert raised.value.errors[0]["code"] == "segment_rule.cycle"


def test_segments_naming_segments_go_only_so_deep(shop: Shop) -> None:
    chain = [shop.segment("browser")]
    for _ in range(4):
        chain.append(shop.segment(rule={"type": "segment", "segment_id": chain[-1].id}))
    rule = {"type": "segment", "segment_id": chain[-1].id}

    with pytest.raises(ValidationFailed, match="at most 4 deep"):
        count_matching(shop.session, rule, workspace_id=shop.workspace.id, now=NOW)
    assert (
        count_matching(
            shop.session,
            {"type": "segment", "segment_id": chain[-2].id},
            workspace_id=shop.workspace.id,
            now=NOW,
        )
        == 0
    )


def test_an_archived_segment_cannot_be_named(shop: Shop) -> None:
    gone = shop.segment("browser")
    gone.archived_at = NOW
    shop.session.flush()

    with pytest.raises(ValidationFailed, match="archived"):
        count_matching(
            shop.session,
            {"type": "segment", "segment_id": gone.id},
            workspace_id=shop.workspace.id,
            now=NOW,
        )


# --- validation ----------------------------------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    rule: dict[str, Any] = trait("tier", "eq", "VIP")
    for _ in range(depth - 1):
        rule = not_(rule)
    return rule


INVALID: list[tuple[str, Any, str, str]] = [
    ("not-an-object", ["all"], "rule", "a rule is a JSON object"),
    ("unknown-type", {"type": "magic"}, "rule", "does not match any of the expected tags"),
    ("unknown-field", {**trait("tier", "eq", "x"), "colour": 1}, "colour", "Extra inputs"),
    ("too-deep", nested(7), "rule", "at most 6 levels"),
    (
        "too-many-conditions",
        all_(*[trait("tier", "eq", str(i)) for i in range(51)]),
        "rules",
        "at most 50 items",
    ),
    (
        "too-many-conditions-nested",
        all_(*[all_(*[trait("n", "eq", i) for i in range(10)]) for _ in range(6)]),
        "rule",
        "at most 50 conditions (this one has 60)",
    ),
    ("key-with-quote", trait('ti"er', "eq", "x"), "key", "should match pattern"),
    ("key-too-long", trait("k" * 65, "eq", "x"), "key", "should match pattern"),
    ("in-without-list", trait("tier", "in", "VIP"), "rule", "in needs a list"),
    ("exists-with-value", trait("tier", "exists", "VIP"), "rule", "exists takes no value"),
    ("value-too-long", trait("tier", "eq", "x" * 501), "rule", "at most 500 characters"),
    ("ordering-a-boolean", trait("member", "gt", True), "rule", "not booleans"),
    (
        "event-window-zero",
        {"type": "event", "name": "x", "within_days": 0},
        "within_days",
        "greater than or equal to 1",
    ),
    ("event-name-too-long", {"type": "event", "name": "x" * 201}, "name", "at most 200"),
    (
        "nested-error-path",
        all_(any_({"type": "event", "name": "x", "at_least": 0})),
        "rules.0.rules.0.at_least",
        "greater than or equal to 1",
    ),
    (
        "score-off-scale",
        {"type": "score", "metric": "nps", "op": "lte", "value": 11},
        "rule",
        "between 0 and 10",
    ),
    (
        "unknown-rfm-cell",
        {"type": "prediction", "field": "rfm_cell", "op": "in", "value": ["whales"]},
        "rule",
        "unknown RFM cell 'whales'",
    ),
    (
        "top-percent-of-amount",
        {"type": "prediction", "field": "clv_12m", "op": "top_percent", "value": 10},
        "rule",
        "top_percent applies to clv_percentile",
    ),
    (
        "share-above-one",
        {"type": "prediction", "field": "churn_risk", "op": "gte", "value": 70},
        "rule",
        "between 0 and 1",
    ),
    ("fractional-count", {"type": "order", "value": 1.5}, "rule", "whole number"),
    (
        "unknown-channel",
        {"type": "consent", "purpose": "marketing", "channel": "fax"},
        "channel",
        "Input should be",
    ),
]


@pytest.mark.parametrize(
    ("data", "field", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_rules_are_refused_clearly(data: Any, field: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_rule(data)

    assert raised.value.status == 422
    assert raised.value.errors[0]["field"] == field
    assert message in raised.value.errors[0]["message"]
    assert message in raised.value.detail


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="unknown time zone 'Mars/Base'"):
        compile_rule(all_(), workspace_id=1, now=NOW, tz="Mars/Base")


def test_the_language_knows_every_stage_purpose_channel_identity_and_sentiment() -> None:
    def choices(model: type[BaseModel], name: str) -> set[str]:
        annotation = model.model_fields[name].annotation
        return set(get_args(get_args(annotation)[0]) if name == "stages" else get_args(annotation))

    assert choices(LifecycleCondition, "stages") == set(LIFECYCLE_STAGES)
    assert choices(ConsentCondition, "purpose") == set(CONSENT_PURPOSES)
    assert choices(ConsentCondition, "channel") == set(CONSENT_CHANNELS)
    assert choices(IdentityCondition, "kind") == set(IDENTITY_KINDS)
    assert choices(TextCondition, "sentiment") == set(SENTIMENTS)


def test_the_deepest_rule_allowed_is_accepted() -> None:
    assert parse_rule(nested(6)) is not None


# --- descriptions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "language", "expected"),
    [
        (
            EXAMPLE,
            "ko",
            '(속성 "tier" 값이 "VIP"임 또는 예측 CLV 상위 10%에 듦) 그리고 최근 90일 안에 구매함 '
            "그리고 마지막 NPS 점수가 6 이하임",
        ),
        (
            EXAMPLE,
            "en",
            '(trait "tier" is "VIP" or predicted CLV in the top 10%) and bought in the last 90 '
            "days and last NPS is at most 6",
        ),
        (
            not_(
                any_(VIEWED_3_IN_7, {"type": "consent", "purpose": "marketing", "channel": "sms"})
            ),
            "ko",
            '최근 7일 안에 "Product Viewed" 이벤트를 3회 미만 함 그리고 '
            "문자 마케팅 수신 동의 안 함",
        ),
        (
            not_(
                any_(VIEWED_3_IN_7, {"type": "consent", "purpose": "marketing", "channel": "sms"})
            ),
            "en",
            'did "Product Viewed" fewer than 3 times in the last 7 days and has not consented to '
            "marketing by SMS",
        ),
        (
            {
                "type": "order",
                "measure": "revenue",
                "op": "gte",
                "value": 100_000,
                "within_days": 30,
            },
            "ko",
            "최근 30일 안에 구매 금액이 100,000 KRW 이상임",
        ),
        (
            {"type": "text", "category": "배송", "within_days": 1},
            "ko",
            '오늘 "배송"에 대해 부정적으로 씀',
        ),
        (
            {"type": "order", "op": "gte", "value": 3, "within_days": 365},
            "ko",
            "최근 365일 안에 주문 수가 3건 이상임",
        ),
        (
            {"type": "order", "measure": "revenue", "value": 50_000, "category": "신발"},
            "en",
            'revenue from category "신발" is at least 50,000 KRW',
        ),
        (all_(), "en", "every customer"),
    ],
    ids=[
        "example-ko",
        "example-en",
        "not-any-ko",
        "not-any-en",
        "revenue-ko",
        "text-today-ko",
        "order-count-ko",
        "category-revenue-en",
        "empty",
    ],
)
def test_describe(rule: dict[str, Any], language: str, expected: str) -> None:
    assert describe(rule, language) == expected


def test_describe_names_segments_when_told() -> None:
    rule = not_({"type": "segment", "segment_id": 7})

    assert describe(rule, "ko", segment_names={7: "VIP"}) == '세그먼트 "VIP"에 속하지 않음'
    assert describe(rule, "en") == "not in segment #7"
