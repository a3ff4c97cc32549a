"""Stored text analyses: one per text, skipped when unchanged; the survey-comment bus consumer
and its replay; corrections; the taxonomy; workspace isolation; merge and erasure; 422s."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.events import bus
from cxloop.feedback import texts as survey_texts
from cxloop.models import (
    BusCheckpoint,
    Response,
    TextAnalysis,
    TextAnalysisCategory,
    TextCategory,
    TextCorrection,
)
from cxloop.profiles import identity
from cxloop.text.registry import service as text_registry
from cxloop.text.sources import SourceText
from cxloop.text.store import service as text_store
from tests.factories import Tenant, make_customer
from tests.helpers.text import LATE, answer, live_survey, texts_of

CONSUMER = "text_survey_comments"
KIND = "상담원분이 정말 친절하게 도와주셨어요 감사합니다"


def drain(database: Database) -> int:
    return bus.drain(database, names=[CONSUMER])


def analyses(session: Session, tenant: Tenant) -> list[TextAnalysis]:
    session.expire_all()
    return list(
        session.scalars(
            select(TextAnalysis)
            .where(TextAnalysis.workspace_id == tenant.id)
            .order_by(TextAnalysis.source_id)
        )
    )


# --- storing -------------------------------------------------------------------------------------


def test_a_text_is_stored_once_and_skipped_while_unchanged(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    survey_id = live_survey(client, tenant)
    first = answer(client, tenant, survey_id, nps=2, comment=LATE)
    second = answer(client, tenant, survey_id, nps=10, comment=KIND)
    items = texts_of(session, tenant, [first, second])

    report = text_store.analyse_and_store(
        session, workspace_id=tenant.id, source_type="survey_response", items=items
    )
    assert (report.analysed, report.skipped) == (2, 0)
    late, kind = analyses(session, tenant)
    assert (late.source_id, late.sentiment, late.lang) == (first, "negative", "ko")
    assert "delivery" in late.categories
    assert (kind.sentiment, kind.categories) == ("positive", ["customer_service"])
    assert late.occurred_at == session.get(Response, first).submitted_at  # type: ignore[union-attr]
    assert late.text_hash == text_store.text_hash(LATE)
    shipped = text_registry.shipped_run(session)
    assert late.model_run_id == shipped.id and shipped.workspace_id is None

    again = text_store.analyse_and_store(
        session, workspace_id=tenant.id, source_type="survey_response", items=items
    )
    assert (again.analysed, again.skipped) == (0, 2)
    forced = text_store.analyse_and_store(
        session, workspace_id=tenant.id, source_type="survey_response", items=items, force=True
    )
    assert (forced.analysed, forced.skipped) == (2, 0)
    assert len(analyses(session, tenant)) == 2

    changed = [SourceText(first, KIND, items[0].occurred_at, items[0].customer_id)]
    report = text_store.analyse_and_store(
        session, workspace_id=tenant.id, source_type="survey_response", items=changed
    )
    assert report.analysed == 1
    assert analyses(session, tenant)[0].sentiment == "positive"
    categories = session.scalars(
        select(TextAnalysisCategory.category).where(
            TextAnalysisCategory.analysis_id == analyses(session, tenant)[0].id
        )
    ).all()
    assert categories == ["customer_service"]


def test_the_bus_consumer_analyses_new_comments_and_a_replay_changes_nothing(
    client: TestClient, tenant: Tenant, session: Session, tx_database: Database
) -> None:
    customer = make_customer(session, workspace=tenant.workspace, user_id="c-1")
    survey_id = live_survey(client, tenant)
    response_id = answer(client, tenant, survey_id, nps=1, comment=LATE, customer_id=customer.id)
    answer(client, tenant, survey_id, nps=9, comment=None, customer_id=customer.id)
    assert analyses(session, tenant) == []  # nothing inside the request that took the answer

    drain(tx_database)
    [stored] = analyses(session, tenant)
    assert (stored.source_id, stored.customer_id, stored.sentiment) == (
        response_id,
        customer.id,
        "negative",
    )
    analysed_at = stored.analysed_at

    # Replay the whole log: the checkpoint goes back, the analysis stays as it was.
    session.execute(
        update(BusCheckpoint).where(BusCheckpoint.consumer == CONSUMER).values(position=0)
    )
    session.flush()
    drain(tx_database)
    [replayed] = analyses(session, tenant)
    assert (replayed.id, replayed.analysed_at) == (stored.id, analysed_at)


def test_the_source_lists_comments_in_batches_and_gives_weak_labels(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    survey_id = live_survey(client, tenant)
    ids = [
        answer(client, tenant, survey_id, nps=score, comment=text)
        for score, text in ((0, LATE), (7, "그냥 그래요"), (10, KIND), (5, None))
    ]
    source = survey_texts.survey_texts
    assert source.count(session, workspace_id=tenant.id, since=None) == 3
    page = source.batch(session, workspace_id=tenant.id, after_id=0, limit=2, since=None)
    assert [t.source_id for t in page] == ids[:2]
    rest = source.batch(session, workspace_id=tenant.id, after_id=ids[1], limit=2, since=None)
    assert [t.source_id for t in rest] == [ids[2]]
    weak = source.weak_labels(session, workspace_id=tenant.id, limit=10)
    assert {(w.source_id, w.label) for w in weak} == {(ids[0], "negative"), (ids[2], "positive")}


# --- corrections ---------------------------------------------------------------------------------


def test_a_correction_changes_what_is_shown_and_survives_reanalysis(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    survey_id = live_survey(client, tenant)
    response_id = answer(client, tenant, survey_id, nps=6, comment=LATE)
    items = texts_of(session, tenant, [response_id])
    text_store.analyse_and_store(
        session, workspace_id=tenant.id, source_type="survey_response", items=items
    )
    [analysis] = analyses(session, tenant)
    assert analysis.sentiment == "negative"

    reply = client.post(
        f"/api/v1/text/analyses/{analysis.id}/corrections",
        json={"sentiment": "neutral", "categories": ["price", "delivery"]},
        headers=tenant.key("agent"),
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["analysis"]["sentiment"] == "neutral"
    assert body["analysis"]["categories"] == ["delivery", "price"]  # taxonomy order
    assert body["analysis"]["corrected"] == ["sentiment", "categories"]
    assert [(c["field"], c["value"], c["previous"]) for c in body["corrections"]] == [
        ("sentiment", "neutral", "negative"),
        ("categories", ["delivery", "price"], analysis.categories),
    ]
    shown = client.get(f"/api/v1/text/analyses/{analysis.id}", headers=tenant.key("viewer"))
    assert shown.json()["analysis"]["sentiment"] == "neutral"
    listed = client.get("/api/v1/text/analyses?category=price", headers=tenant.api).json()
    assert [a["id"] for a in listed["items"]] == [analysis.id]

    # A forced reanalysis of the same text keeps the person's labels.
    text_store.analyse_and_store(
        session,
        workspace_id=tenant.id,
        source_type="survey_response",
        items=texts_of(session, tenant, [response_id]),
        force=True,
    )
    [again] = analyses(session, tenant)
    assert (again.sentiment, again.categories) == ("neutral", ["delivery", "price"])
    [label] = text_store.strong_labels(session, workspace_id=tenant.id)
    assert (label.source_id, label.sentiment, label.categories) == (
        response_id,
        "neutral",
        ("delivery", "price"),
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "sentiment", id="nothing-to-correct"),
        pytest.param({"sentiment": "angry"}, "sentiment", id="unknown-sentiment"),
        pytest.param({"categories": ["weather"]}, "categories", id="category-not-in-taxonomy"),
        pytest.param({"categories": "delivery"}, "categories", id="categories-not-a-list"),
        pytest.param({"sentiment": "positive", "note": "x"}, "note", id="unknown-field"),
    ],
)
def test_bad_corrections_are_422_problems(
    client: TestClient, tenant: Tenant, session: Session, body: dict[str, Any], field: str
) -> None:
    survey_id = live_survey(client, tenant)
    response_id = answer(client, tenant, survey_id, nps=6, comment=LATE)
    text_store.analyse_and_store(
        session,
        workspace_id=tenant.id,
        source_type="survey_response",
        items=texts_of(session, tenant, [response_id]),
    )
    [analysis] = analyses(session, tenant)
    reply = client.post(
        f"/api/v1/text/analyses/{analysis.id}/corrections", json=body, headers=tenant.api
    )
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in reply.json()["errors"]}
    corrections = select(func.count()).where(TextCorrection.analysis_id == analysis.id)
    assert session.scalar(corrections) == 0


def test_a_viewer_cannot_correct(client: TestClient, tenant: Tenant, session: Session) -> None:
    survey_id = live_survey(client, tenant)
    response_id = answer(client, tenant, survey_id, nps=6, comment=LATE)
    text_store.analyse_and_store(
        session,
        workspace_id=tenant.id,
        source_type="survey_response",
        items=texts_of(session, tenant, [response_id]),
    )
    [analysis] = analyses(session, tenant)
    reply = client.post(
        f"/api/v1/text/analyses/{analysis.id}/corrections",
        json={"sentiment": "positive"},
        headers=tenant.key("viewer"),
    )
    assert reply.status_code == 403


# --- listing, isolation --------------------------------------------------------------------------


def test_listing_filters_pages_and_stays_in_its_workspace(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    other = Tenant(session)
    survey_id = live_survey(client, tenant)
    ids = [
        answer(client, tenant, survey_id, nps=n, comment=c)
        for n, c in ((1, LATE), (10, KIND), (2, "The app keeps crashing when I pay."))
    ]
    text_store.analyse_and_store(
        session,
        workspace_id=tenant.id,
        source_type="survey_response",
        items=texts_of(session, tenant, ids),
    )
    theirs = live_survey(client, other)
    their_id = answer(client, other, theirs, nps=1, comment=LATE)
    text_store.analyse_and_store(
        session,
        workspace_id=other.id,
        source_type="survey_response",
        items=texts_of(session, other, [their_id]),
    )

    page = client.get("/api/v1/text/analyses?limit=2", headers=tenant.api).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(
        f"/api/v1/text/analyses?limit=2&cursor={page['next_cursor']}", headers=tenant.api
    ).json()
    seen = [a["source_id"] for a in page["items"] + rest["items"]]
    assert sorted(seen) == sorted(ids) and rest["next_cursor"] is None

    negative = client.get("/api/v1/text/analyses?sentiment=negative", headers=tenant.api).json()
    assert sorted(a["source_id"] for a in negative["items"]) == [ids[0], ids[2]]
    english = client.get("/api/v1/text/analyses?lang=en", headers=tenant.api).json()
    assert [a["source_id"] for a in english["items"]] == [ids[2]]
    assert "website_app" in english["items"][0]["categories"]

    their_analysis = analyses(session, other)[0]
    assert (
        client.get(f"/api/v1/text/analyses/{their_analysis.id}", headers=tenant.api).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/text/analyses/{their_analysis.id}/corrections",
            json={"sentiment": "positive"},
            headers=tenant.api,
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("sentiment=angry", id="sentiment"),
        pytest.param("lang=fr", id="lang"),
        pytest.param("limit=0", id="limit"),
        pytest.param("since=yesterday", id="since"),
        pytest.param("cursor=not-a-cursor", id="cursor"),
        pytest.param("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", id="range"),
    ],
)
def test_bad_list_queries_are_422_problems(client: TestClient, tenant: Tenant, query: str) -> None:
    reply = client.get(f"/api/v1/text/analyses?{query}", headers=tenant.api)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")


def test_the_api_needs_a_key(client: TestClient) -> None:
    for path in ("/api/v1/text/analyses", "/api/v1/text/categories", "/api/v1/text/models"):
        assert client.get(path).status_code == 401


# --- taxonomy ------------------------------------------------------------------------------------


def test_the_taxonomy_is_seeded_then_edited_and_used(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    listed = client.get("/api/v1/text/categories?limit=100", headers=tenant.api).json()
    keys = [c["key"] for c in listed["items"]]
    assert keys == [
        "delivery",
        "price",
        "product_quality",
        "customer_service",
        "website_app",
        "payment_refund",
        "loyalty_rewards",
        "store_experience",
    ]
    assert listed["items"][0]["name_ko"] == "배송"

    created = client.post(
        "/api/v1/text/categories",
        json={
            "key": "gift_wrapping",
            "name_ko": "선물 포장",
            "name_en": "Gift wrapping",
            "seeds_ko": ["선물포장", "리본"],
            "seeds_en": ["Gift Wrap"],
        },
        headers=tenant.api,
    )
    assert created.status_code == 201, created.text
    assert created.json()["seeds_en"] == ["gift wrap"]
    duplicate = client.post(
        "/api/v1/text/categories",
        json={"key": "gift_wrapping", "name_ko": "a", "name_en": "b"},
        headers=tenant.api,
    )
    assert duplicate.status_code == 409
    off = client.patch(
        "/api/v1/text/categories/delivery", json={"active": False}, headers=tenant.api
    )
    assert off.status_code == 200 and off.json()["active"] is False

    survey_id = live_survey(client, tenant)
    response_id = answer(
        client, tenant, survey_id, nps=9, comment="선물포장에 리본까지 예뻐요 배송도 빨라요"
    )
    text_store.analyse_and_store(
        session,
        workspace_id=tenant.id,
        source_type="survey_response",
        items=texts_of(session, tenant, [response_id]),
    )
    [analysis] = analyses(session, tenant)
    assert "gift_wrapping" in analysis.categories
    assert "delivery" not in analysis.categories

    forbidden = client.post(
        "/api/v1/text/categories",
        json={"key": "x_y", "name_ko": "a", "name_en": "b"},
        headers=tenant.key("agent"),
    )
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"key": "Bad Key", "name_ko": "a", "name_en": "b"}, id="key-pattern"),
        pytest.param({"key": "ok_key", "name_ko": "", "name_en": "b"}, id="empty-name"),
        pytest.param({"key": "ok_key", "name_ko": "a"}, id="missing-name"),
        pytest.param(
            {"key": "ok_key", "name_ko": "a", "name_en": "b", "seeds_ko": [" "]}, id="blank-seed"
        ),
        pytest.param({"key": "ok_key", "name_ko": "a", "name_en": "b", "x": 1}, id="extra"),
    ],
)
def test_bad_categories_are_422_problems(
    client: TestClient, tenant: Tenant, session: Session, body: dict[str, Any]
) -> None:
    reply = client.post("/api/v1/text/categories", json=body, headers=tenant.api)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.json()["errors"]
    assert (
        session.scalar(
            select(func.count())
            .select_from(TextCategory)
            .where(TextCategory.workspace_id == tenant.id, TextCategory.key == "ok_key")
        )
        == 0
    )


def test_patching_an_unknown_category_is_404(client: TestClient, tenant: Tenant) -> None:
    reply = client.patch("/api/v1/text/categories/nope", json={"active": False}, headers=tenant.api)
    assert reply.status_code == 404


# --- profiles: merge and erasure -----------------------------------------------------------------


def test_erasure_removes_the_customers_words_and_merge_moves_analyses(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    kept = make_customer(session, workspace=tenant.workspace, user_id="keep")
    merged = make_customer(session, workspace=tenant.workspace, user_id="merged")
    survey_id = live_survey(client, tenant)
    mine = answer(client, tenant, survey_id, nps=1, comment=LATE, customer_id=merged.id)
    theirs = answer(client, tenant, survey_id, nps=10, comment=KIND, customer_id=kept.id)
    text_store.analyse_and_store(
        session,
        workspace_id=tenant.id,
        source_type="survey_response",
        items=texts_of(session, tenant, [mine, theirs]),
    )
    first, _ = analyses(session, tenant)
    reply = client.post(
        f"/api/v1/text/analyses/{first.id}/corrections",
        json={"sentiment": "neutral"},
        headers=tenant.api,
    )
    assert reply.status_code == 201

    identity.merge_customers(session, survivor=kept, merged=merged, reason="test")
    session.flush()
    assert {a.customer_id for a in analyses(session, tenant)} == {kept.id}

    reply = client.post(f"/api/v1/customers/{kept.id}/erase", headers=tenant.api)
    assert reply.status_code == 200, reply.text
    for analysis in analyses(session, tenant):
        assert analysis.keywords == []
        assert all("clause" not in aspect for aspect in analysis.aspects)
        assert analysis.sentiment in ("negative", "neutral", "positive")  # counts stay
    assert text_store.strong_labels(session, workspace_id=tenant.id) == []
