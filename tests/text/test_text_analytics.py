"""Text analytics computed against hand-made analyses with known answers: weekly trends in the
workspace's weeks (KST), spikes (a Poisson test) and their notices once per category and week,
the "fix first" priority and its parts, the emotion curve by stage and touchpoint, verbatims
with their words; the REST API over them; another workspace's texts never count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.models import (
    Customer,
    Membership,
    Notification,
    TextAnalysis,
    Workspace,
)
from cxloop.notifications.service import render_notice
from cxloop.text.analytics import service as analytics
from tests.factories import Tenant, make_customer, make_user, make_workspace
from tests.helpers.text import comment, make_analysis

# Wednesday 25 November 2026, noon in Seoul: the current week began on Monday the 23rd.
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
THIS_WEEK = date(2026, 11, 23)


def week_of(monday: date, days: int = 1, hour: int = 3) -> datetime:
    """A moment ``days`` days into the KST week starting ``monday`` (03:00 UTC = noon KST)."""
    return datetime(monday.year, monday.month, monday.day, hour, tzinfo=UTC) + timedelta(days=days)


def cells(series: analytics.Series) -> list[tuple[int, int, float]]:
    return [(w.volume, w.negative, round(w.score_sum, 4)) for w in series.weeks]


# --- trends --------------------------------------------------------------------------------------


def test_weekly_trends_count_per_category_in_the_workspace_weeks(session: Session) -> None:
    ws = make_workspace(session)
    make_analysis(
        session, ws, at=week_of(date(2026, 11, 9)), sentiment="negative", score=-0.8,
        categories=("delivery",),
    )  # fmt: skip
    # Sunday 23:30 in Seoul (14:30 UTC) is still the week of the 16th …
    make_analysis(
        session, ws, at=datetime(2026, 11, 22, 14, 30, tzinfo=UTC), sentiment="positive",
        score=0.6, categories=("delivery",),
    )  # fmt: skip
    # … and Monday 00:10 in Seoul (Sunday 15:10 UTC) is this week.
    make_analysis(
        session, ws, at=datetime(2026, 11, 22, 15, 10, tzinfo=UTC), sentiment="negative",
        score=-0.4, categories=("delivery", "price"),
    )  # fmt: skip
    make_analysis(session, ws, at=week_of(THIS_WEEK), categories=("price",))
    make_analysis(
        session, ws, at=week_of(THIS_WEEK), sentiment="negative", score=-0.5, lang="en",
        categories=("delivery",),
    )  # fmt: skip
    make_analysis(  # before the window
        session, ws, at=week_of(date(2026, 11, 2)), sentiment="negative", categories=("delivery",)
    )

    window = analytics.workspace_window(session, workspace_id=ws.id, weeks=3, now=NOW)
    trends = analytics.category_trends(session, window=window)
    korean = analytics.category_trends(session, window=window, lang="ko")
    overall = analytics.overall_trend(session, window=window)

    assert window.weeks == (date(2026, 11, 9), date(2026, 11, 16), THIS_WEEK)
    assert window.start == datetime(2026, 11, 8, 15, tzinfo=UTC)  # Monday 00:00 KST
    assert window.end == datetime(2026, 11, 29, 15, tzinfo=UTC)
    assert cells(trends["delivery"]) == [(1, 1, -0.8), (1, 0, 0.6), (2, 2, -0.9)]
    assert cells(korean["delivery"]) == [(1, 1, -0.8), (1, 0, 0.6), (1, 1, -0.4)]
    assert cells(trends["price"]) == [(0, 0, 0.0), (0, 0, 0.0), (2, 1, -0.4)]
    assert set(trends) == {"delivery", "price"}
    assert [w.volume for w in overall.weeks] == [1, 1, 3]
    delivery = trends["delivery"]
    assert (delivery.volume, delivery.negative) == (4, 3)
    assert delivery.negative_share == pytest.approx(0.75)
    assert delivery.mean_score == pytest.approx(-1.1 / 4)
    assert trends["price"].weeks[0].mean_score is None


@pytest.mark.parametrize("weeks", [0, 105])
def test_a_window_has_one_to_104_weeks(session: Session, weeks: int) -> None:
    from cxloop.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        analytics.workspace_window(session, workspace_id=1, weeks=weeks)


# --- spikes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "baseline", "expected", "p_value"),
    [
        (10, [2] * 8, 2.0, 4.6498e-05),
        (5, [0] * 8, 0.5, 1.7212e-04),  # a new complaint: the floor of 0.5 a week
        (5, [2, 3] * 4, None, None),  # p = 0.109: usual noise
        (4, [0] * 8, None, None),  # below the minimum count
        (6, [4] * 8, None, None),  # 1.5 times, but p = 0.215
    ],
    ids=["ten-over-two", "new-complaint", "noise", "too-few", "not-significant"],
)
def test_the_spike_test_has_known_answers(
    count: int, baseline: list[int], expected: float | None, p_value: float | None
) -> None:
    spike = analytics.spike_test("delivery", THIS_WEEK, count, baseline)
    if expected is None:
        assert spike is None
        return
    assert spike is not None
    assert spike.expected == expected
    assert spike.p_value == pytest.approx(p_value, rel=1e-3)
    assert spike.ratio == pytest.approx(count / expected)


def _spiky(session: Session, ws: Workspace) -> None:
    """Delivery: 2 negative texts a week for 8 weeks, then 10; price: 2 a week then 4;
    product quality: none, then 5."""
    for back in range(1, 9):
        monday = THIS_WEEK - timedelta(weeks=back)
        for category in ("delivery", "price"):
            for _ in range(2):
                make_analysis(
                    session, ws, at=week_of(monday), sentiment="negative", categories=(category,)
                )
    for category, n in (("delivery", 10), ("price", 4), ("product_quality", 5)):
        for _ in range(n):
            make_analysis(
                session, ws, at=week_of(THIS_WEEK), sentiment="negative", categories=(category,)
            )


def test_spikes_are_this_weeks_negatives_far_above_the_eight_weeks_before(
    session: Session,
) -> None:
    ws = make_workspace(session)
    _spiky(session, ws)

    spikes = analytics.detect_spikes(session, workspace_id=ws.id, now=NOW)

    assert [(s.category, s.count, s.expected, s.week) for s in spikes] == [
        ("product_quality", 5, 0.5, THIS_WEEK),
        ("delivery", 10, 2.0, THIS_WEEK),
    ]
    assert spikes[1].z == pytest.approx((10 - 2) / 2**0.5, abs=1e-3)
    # a week later the burst is part of the baseline and nothing new came in
    assert analytics.detect_spikes(session, workspace_id=ws.id, now=NOW + timedelta(weeks=1)) == []


def _notices(session: Session, ws: Workspace) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.workspace_id == ws.id)
            .order_by(Notification.user_id, Notification.id)
        )
    )


def test_a_spike_notifies_the_admins_once_per_category_and_week(session: Session) -> None:
    ws = make_workspace(session)
    owner = make_user(session, workspace=ws, role="owner")
    make_user(session, workspace=ws, role="viewer")
    _spiky(session, ws)

    first = analytics.notify_spikes(session, workspace_id=ws.id, now=NOW)
    again = analytics.notify_spikes(session, workspace_id=ws.id, now=NOW + timedelta(hours=5))

    assert [s.category for s in first] == ["product_quality", "delivery"]
    assert again == []
    notices = _notices(session, ws)
    assert [(n.user_id, n.kind) for n in notices] == [(owner.id, "text_spike")] * 2
    delivery = next(n for n in notices if "delivery" in n.dedupe_key)
    assert delivery.link == "/text/verbatims?category=delivery&sentiment=negative&weeks=1"
    text = render_notice(delivery.kind, delivery.params, "ko")
    assert text.title == "부정 의견 급증: 배송 / Delivery"
    assert text.body == (
        "2026-11-23 주에 '배송 / Delivery' 부정 의견이 10건 들어왔습니다. 평소에는 주 2.0건입니다."
    )


def test_a_spike_goes_to_the_team_that_owns_the_category(session: Session) -> None:
    ws = make_workspace(session)
    make_user(session, workspace=ws, role="owner")
    courier = make_user(session, workspace=ws, role="agent")
    membership = session.scalar(
        select(Membership).where(Membership.user_id == courier.id, Membership.workspace_id == ws.id)
    )
    assert membership is not None
    membership.teams = ["logistics"]
    _spiky(session, ws)

    analytics.set_category_team(session, workspace_id=ws.id, key="delivery", team=" logistics ")
    analytics.set_category_team(
        session, workspace_id=ws.id, key="product_quality", team="logistics"
    )
    analytics.notify_spikes(session, workspace_id=ws.id, now=NOW)

    assert {(n.user_id, n.dedupe_key.split(":")[2]) for n in _notices(session, ws)} == {
        (courier.id, "delivery"),
        (courier.id, "product_quality"),
    }


# --- priority ------------------------------------------------------------------------------------


def _customer(session: Session, ws: Workspace, revenue: int, stage: str = "customer") -> Customer:
    customer = make_customer(session, workspace=ws)
    customer.total_revenue = Decimal(revenue)
    customer.lifecycle_stage = stage
    session.flush()
    return customer


def test_priority_is_volume_times_negativity_times_customer_value(session: Session) -> None:
    ws = make_workspace(session)
    rich, mid, poor = (_customer(session, ws, r) for r in (300_000, 200_000, 100_000))
    at = week_of(THIS_WEEK - timedelta(weeks=2))
    for who, sentiment in (
        (rich, "negative"),
        (rich, "negative"),
        (mid, "positive"),
        (mid, "neutral"),
    ):
        make_analysis(
            session, ws, at=at, sentiment=sentiment, categories=("delivery",), customer=who
        )
    for _ in range(3):
        make_analysis(
            session, ws, at=at, sentiment="negative", categories=("price",), customer=poor
        )
    make_analysis(
        session, ws, at=at, sentiment="positive", categories=("product_quality",), customer=mid
    )
    make_analysis(session, ws, at=at, sentiment="negative", categories=("website_app",))

    window = analytics.workspace_window(session, workspace_id=ws.id, weeks=12, now=NOW)
    ranked = analytics.priority(session, window=window)

    assert [
        (p.category, p.volume, p.negative, p.negativity, p.customers, p.mean_value,
         p.value_index, p.raw, p.score)
        for p in ranked
    ] == [
        ("delivery", 4, 2, 0.5, 1, 300_000.0, 1.5, 3.0, 100.0),
        ("price", 3, 3, 1.0, 1, 100_000.0, 0.5, 1.5, 50.0),
        ("website_app", 1, 1, 1.0, 0, None, 1.0, 1.0, 33.3),
    ]  # fmt: skip


# --- emotion curve -------------------------------------------------------------------------------


def test_the_emotion_curve_follows_stages_and_touchpoints(session: Session) -> None:
    ws = make_workspace(session)
    lead, repeat = _customer(session, ws, 0, "lead"), _customer(session, ws, 0, "repeat")
    at = week_of(THIS_WEEK - timedelta(weeks=1))
    for who, score in ((lead, -0.5), (lead, -0.3), (repeat, 0.8), (repeat, 0.6)):
        make_analysis(
            session, ws, at=at, score=score, customer=who,
            sentiment="negative" if score < 0 else "positive",
        )  # fmt: skip
    late = [
        comment(session, ws, "배송이 너무 늦어서 화가 났어요", at=at, touchpoint="배송").id,
        comment(session, ws, "택배가 일주일째 안 와요 최악", at=at, touchpoint="배송").id,
    ]
    comment(session, ws, "앱이 빠르고 편해요", at=at, touchpoint="앱")
    comment(session, ws, "질문 없음", at=at)  # no touchpoint: not on the curve

    curve = analytics.emotion_curve(
        session, workspace_id=ws.id, start=at - timedelta(days=1), end=at + timedelta(days=1)
    )

    assert [(p.key, p.n, p.mean, p.negative_share) for p in curve.stages] == [
        ("lead", 2, -0.4, 1.0),
        ("repeat", 2, 0.7, 0.0),
    ]
    # mean ± 1.96 × s / √n with s = 0.1414 (two scores 0.2 apart)
    assert (curve.stages[0].ci_low, curve.stages[0].ci_high) == (-0.596, -0.204)
    scores = session.scalars(
        select(TextAnalysis.score).where(
            TextAnalysis.workspace_id == ws.id, TextAnalysis.source_id.in_(late)
        )
    ).all()
    assert [(p.key, p.n) for p in curve.touchpoints] == [("배송", 2), ("앱", 1)]
    assert curve.touchpoints[0].mean == pytest.approx(sum(scores) / 2, abs=1e-4)
    assert curve.touchpoints[0].negative_share == 1.0


# --- verbatims -----------------------------------------------------------------------------------


def test_verbatims_bring_the_words_newest_first_page_by_page(session: Session) -> None:
    ws = make_workspace(session)
    who = make_customer(session, workspace=ws)
    start = week_of(THIS_WEEK - timedelta(weeks=1))
    for i in range(3):
        text = f"배송이 {i + 2}일이나 늦었어요 너무 답답해요"
        comment(session, ws, text, at=start + timedelta(hours=i), customer=who)
    comment(session, ws, "상담원이 친절했어요", at=start)

    first, cursor = analytics.verbatims(session, workspace_id=ws.id, category="delivery", limit=2)
    second, last = analytics.verbatims(
        session, workspace_id=ws.id, category="delivery", limit=2, cursor=cursor
    )

    assert [v.text for v in first + second] == [
        "배송이 4일이나 늦었어요 너무 답답해요",
        "배송이 3일이나 늦었어요 너무 답답해요",
        "배송이 2일이나 늦었어요 너무 답답해요",
    ]
    assert last is None
    assert {v.analysis.customer_id for v in first} == {who.id}
    assert all(v.analysis.sentiment == "negative" for v in first + second)


# --- isolation -----------------------------------------------------------------------------------


def test_another_workspaces_texts_never_count(session: Session) -> None:
    mine, theirs = make_workspace(session), make_workspace(session)
    _spiky(session, theirs)
    rich = _customer(session, theirs, 900_000, "repeat")
    make_analysis(
        session, theirs, at=week_of(THIS_WEEK), sentiment="negative", customer=rich,
        categories=("price",),
    )  # fmt: skip

    window = analytics.workspace_window(session, workspace_id=mine.id, weeks=12, now=NOW)
    assert analytics.category_trends(session, window=window) == {}
    assert analytics.overall_trend(session, window=window).volume == 0
    assert analytics.priority(session, window=window) == []
    assert analytics.detect_spikes(session, workspace_id=mine.id, now=NOW) == []
    curve = analytics.emotion_curve(
        session, workspace_id=mine.id, start=window.start, end=window.end
    )
    assert (curve.stages, curve.touchpoints) == ((), ())
    assert analytics.verbatims(session, workspace_id=mine.id) == ([], None)


# --- the REST API --------------------------------------------------------------------------------


def _recent(session: Session, tenant: Tenant) -> None:
    now = datetime.now(UTC)
    who = _customer(session, tenant.workspace, 50_000, "repeat")
    for i in range(3):
        make_analysis(
            session, tenant.workspace, at=now - timedelta(hours=i + 1), sentiment="negative",
            score=-0.6, categories=("delivery",), customer=who,
        )  # fmt: skip
    make_analysis(
        session, tenant.workspace, at=now - timedelta(hours=1), sentiment="positive", score=0.9,
        categories=("customer_service",), customer=who,
    )  # fmt: skip


def test_the_api_serves_trends_priority_spikes_and_the_curve(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    _recent(session, tenant)
    viewer = tenant.key("viewer")

    trends = client.get("/api/v1/text/trends?weeks=4", headers=viewer)
    priority = client.get("/api/v1/text/priority", headers=viewer)
    spikes = client.get("/api/v1/text/spikes", headers=viewer)
    curve = client.get("/api/v1/text/emotion-curve?lang=ko", headers=viewer)

    assert trends.status_code == 200, trends.text
    body: dict[str, Any] = trends.json()
    assert len(body["weeks"]) == 4 and body["tz"] == "Asia/Seoul"
    assert body["overall"]["volume"] == 4
    by_key = {s["key"]: s for s in body["categories"]}
    assert (by_key["delivery"]["volume"], by_key["delivery"]["negative"]) == (3, 3)
    assert sum(w["volume"] for w in by_key["delivery"]["weeks"]) == 3
    assert priority.status_code == 200
    assert [(p["category"], p["score"], p["negativity"]) for p in priority.json()["items"]] == [
        ("delivery", 100.0, 1.0)
    ]
    assert spikes.status_code == 200 and spikes.json() == {"items": []}  # 3 is below the minimum
    assert curve.status_code == 200
    assert curve.json()["stages"][0]["key"] == "repeat"
    assert curve.json()["stages"][0]["n"] == 4


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/text/trends?weeks=0", "weeks"),
        ("/api/v1/text/priority?weeks=500", "weeks"),
        ("/api/v1/text/emotion-curve?lang=fr", "lang"),
        ("/api/v1/text/verbatims?sentiment=angry", "sentiment"),
        ("/api/v1/text/verbatims?cursor=nonsense", None),
        ("/api/v1/text/themes?limit=0", "limit"),
    ],
    ids=["weeks-zero", "weeks-too-many", "lang", "sentiment", "cursor", "limit"],
)
def test_bad_parameters_are_a_422_problem(
    client: TestClient, tenant: Tenant, path: str, field: str | None
) -> None:
    reply = client.get(path, headers=tenant.api)

    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert field in reply.text


def test_setting_a_team_needs_text_manage_and_a_known_category(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    denied = client.put(
        "/api/v1/text/categories/delivery/team", json={"team": "x"}, headers=tenant.key("agent")
    )
    unknown = client.put(
        "/api/v1/text/categories/nope/team", json={"team": "x"}, headers=tenant.api
    )
    too_long = client.put(
        "/api/v1/text/categories/delivery/team", json={"team": "x" * 65}, headers=tenant.api
    )
    done = client.put(
        "/api/v1/text/categories/delivery/team", json={"team": "logistics"}, headers=tenant.api
    )

    assert (denied.status_code, unknown.status_code, too_long.status_code) == (403, 404, 422)
    assert done.status_code == 200 and done.json() == {"key": "delivery", "team": "logistics"}


def test_the_api_shows_only_the_callers_workspace(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    _recent(session, tenant)
    other = Tenant(session)

    trends = client.get("/api/v1/text/trends", headers=other.api).json()
    verbatims = client.get("/api/v1/text/verbatims", headers=other.api).json()
    mine = client.get("/api/v1/text/verbatims?category=delivery&limit=2", headers=tenant.api)

    assert trends["overall"]["volume"] == 0 and trends["categories"] == []
    assert verbatims == {"items": [], "next_cursor": None}
    assert len(mine.json()["items"]) == 2 and mine.json()["next_cursor"]
