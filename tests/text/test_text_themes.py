"""Themes: clustering a synthetic set with two obvious topics finds those two, labelled by their
keywords, the same way every time; a run replaces the previous window's themes; a theme that
most texts of one category share is marked; promotion makes a seeded category (API too), once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.errors import Conflict
from cxloop.feedback import texts as _survey_texts  # noqa: F401  (the survey_response source)
from cxloop.models import TextAnalysis, TextCategory, TextTheme, Workspace
from cxloop.models.text import TextThemeMember
from cxloop.text.analytics import service as analytics
from cxloop.text.analytics import themes
from tests.factories import Tenant, make_workspace
from tests.helpers.text import NOW, store, topic_texts


@pytest.fixture
def two_topics(session: Session) -> tuple[Workspace, dict[int, str]]:
    ws = make_workspace(session)
    labelled = topic_texts()
    ids = store(session, ws, [text for _, text in labelled])
    return ws, {aid: topic for aid, (topic, _) in zip(ids, labelled, strict=True)}


def members(session: Session, theme: TextTheme) -> set[int]:
    return set(
        session.scalars(
            select(TextThemeMember.analysis_id).where(TextThemeMember.theme_id == theme.id)
        )
    )


def test_two_obvious_topics_make_two_themes(
    session: Session, two_topics: tuple[Workspace, dict[int, str]]
) -> None:
    ws, topic_of = two_topics

    found = themes.recompute_themes(session, workspace_id=ws.id, now=NOW)

    assert len(found) == 2
    by_topic = {}
    for theme in found:
        topics = {topic_of[a] for a in members(session, theme)}
        assert len(topics) == 1, theme.label  # each theme is one topic only
        by_topic[topics.pop()] = theme
    assert set(by_topic) == {"parcel", "login"}
    parcel, login = by_topic["parcel"], by_topic["login"]
    assert {"배송", "택배"} <= set(parcel.keywords[:4])
    assert "로그인" in login.keywords[:3]
    assert parcel.label == " · ".join(parcel.keywords[:3])
    # most of the 25 texts of each topic are found, and every example is a member
    assert parcel.size >= 20 and login.size >= 20
    assert set(parcel.examples) <= members(session, parcel)
    assert parcel.size == len(members(session, parcel))
    assert (parcel.lang, parcel.window_end) == ("ko", NOW)
    assert parcel.negative_share is not None and parcel.negative_share > 0.5
    assert parcel.matched_category == "delivery" and (parcel.matched_share or 0) >= 0.6


def test_the_same_texts_give_the_same_themes_and_a_run_replaces_the_last(
    session: Session, two_topics: tuple[Workspace, dict[int, str]]
) -> None:
    ws, _ = two_topics
    first = [(t.label, tuple(t.keywords), t.size, members(session, t)) for t in
             themes.recompute_themes(session, workspace_id=ws.id, now=NOW)]  # fmt: skip

    second = themes.recompute_themes(session, workspace_id=ws.id, now=NOW)

    assert [(t.label, tuple(t.keywords), t.size, members(session, t)) for t in second] == first
    stored = session.scalar(
        select(func.count()).select_from(TextTheme).where(TextTheme.workspace_id == ws.id)
    )
    assert stored == 2


def test_too_few_texts_make_no_theme(session: Session) -> None:
    ws = make_workspace(session)
    store(session, ws, [text for _, text in topic_texts()[:19]])

    assert themes.recompute_themes(session, workspace_id=ws.id, now=NOW) == []


def test_texts_outside_the_window_are_left_out(
    session: Session, two_topics: tuple[Workspace, dict[int, str]]
) -> None:
    ws, _ = two_topics

    later = themes.recompute_themes(session, workspace_id=ws.id, now=NOW + timedelta(weeks=30))

    assert later == []
    left = session.scalars(
        select(TextThemeMember.analysis_id).where(TextThemeMember.workspace_id == ws.id)
    )
    assert list(left) == []  # the previous window's themes went with their members


def test_theme_trends_count_the_members_per_week(
    session: Session, two_topics: tuple[Workspace, dict[int, str]]
) -> None:
    ws, _ = two_topics
    found = themes.recompute_themes(session, workspace_id=ws.id, now=NOW)
    window = analytics.workspace_window(session, workspace_id=ws.id, weeks=12, now=NOW)

    series = analytics.theme_trends(session, window=window)

    assert {k: s.volume for k, s in series.items()} == {t.id: t.size for t in found}


def test_promoting_a_theme_makes_a_seeded_category_once(
    session: Session, two_topics: tuple[Workspace, dict[int, str]]
) -> None:
    ws, _ = two_topics
    login = next(
        t for t in themes.recompute_themes(session, workspace_id=ws.id, now=NOW)
        if "로그인" in t.keywords
    )  # fmt: skip

    category = themes.promote_theme(session, workspace_id=ws.id, theme_id=login.id)

    assert category.key == f"theme_{login.id}"
    assert category.seeds_ko == login.keywords and category.seeds_en == []
    assert category.name_ko == category.name_en == login.label
    assert login.promoted_category_key == category.key
    with pytest.raises(Conflict):
        themes.promote_theme(session, workspace_id=ws.id, theme_id=login.id)
    # new texts about it now carry the category, and the theme found again stays promoted
    fresh = store(session, ws, ["앱 로그인 오류 때문에 주문을 못 했어요"], start=500)
    analysis = session.get(TextAnalysis, fresh[0])
    assert analysis is not None and category.key in analysis.categories
    again = themes.recompute_themes(session, workspace_id=ws.id, now=NOW)
    assert [t.promoted_category_key for t in again if "로그인" in t.keywords] == [category.key]


def test_promotion_through_the_api(client: TestClient, session: Session, tenant: Tenant) -> None:
    labelled = topic_texts()
    store(session, tenant.workspace, [text for _, text in labelled])
    recomputed = client.post("/api/v1/text/themes/recompute", headers=tenant.api)
    assert recomputed.status_code == 200, recomputed.text
    listed = client.get("/api/v1/text/themes?limit=1", headers=tenant.key("viewer")).json()
    theme_id = listed["items"][0]["id"]
    assert listed["next_cursor"]

    denied = client.post(f"/api/v1/text/themes/{theme_id}/promote", headers=tenant.key("agent"))
    made = client.post(
        f"/api/v1/text/themes/{theme_id}/promote",
        json={"key": "parcel_delay", "name_ko": "택배 지연", "name_en": "Late parcels"},
        headers=tenant.api,
    )
    twice = client.post(f"/api/v1/text/themes/{theme_id}/promote", headers=tenant.api)
    other = Tenant(session)
    elsewhere = client.post(f"/api/v1/text/themes/{theme_id}/promote", headers=other.api)

    assert denied.status_code == 403
    assert made.status_code == 201, made.text
    assert made.json()["category_key"] == "parcel_delay"
    assert made.json()["theme"]["promoted_category_key"] == "parcel_delay"
    category = session.scalar(
        select(TextCategory).where(
            TextCategory.workspace_id == tenant.id, TextCategory.key == "parcel_delay"
        )
    )
    assert category is not None and category.name_en == "Late parcels"
    assert twice.status_code == 409
    assert elsewhere.status_code == 404
    assert client.get("/api/v1/text/themes", headers=other.api).json()["items"] == []
