"""The journey map's themes and what lies behind a stage or a cell, over the API: the top themes
of the texts written there, the persons (moved on or dropped) and the texts a page at a time,
whose totals are the map's counts for every stage and cell; bad questions are 422s, and
another workspace sees none of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.core.timeutil import utcnow
from cxloop.models import TextAnalysis, TextTheme
from cxloop.models.text import TextThemeMember
from tests.factories import Tenant, make_workspace, unique
from tests.helpers.dashboard import answer, make_survey
from tests.journeys.story import DAY1, shop_story

PERIOD = {"start": "2026-03-02", "end": "2026-03-08"}


def _theme(session: Session, workspace_id: int, label: str) -> int:
    theme = TextTheme(
        workspace_id=workspace_id, lang="ko", label=label, keywords=[label], size=0,
        window_start=utcnow() - timedelta(weeks=12), window_end=utcnow(),
    )  # fmt: skip
    session.add(theme)
    session.flush()
    return theme.id


class Writing:
    """Survey comments by the story's persons, analysed with known scores and themes."""

    def __init__(self, session: Session, tenant: Tenant, people: dict[str, int]) -> None:
        self.session, self.tenant, self.people = session, tenant, people
        self.survey = make_survey(session, tenant.workspace)
        self.themes: dict[str, int] = {}

    def theme(self, label: str) -> int:
        if label not in self.themes:
            self.themes[label] = _theme(self.session, self.tenant.workspace.id, label)
        return self.themes[label]

    def wrote(
        self, who: str, words: str, *, hours: float, score: float, touchpoint: str | None = None,
        themes: tuple[str, ...] = (),
    ) -> int:  # fmt: skip
        from cxloop.models import Customer

        at = DAY1 + timedelta(hours=hours)
        customer = self.session.get(Customer, self.people[who])
        response = answer(
            self.session, self.survey, at=at, touchpoint=touchpoint, customer=customer
        )
        response.comment = words
        analysis = TextAnalysis(
            workspace_id=self.tenant.workspace.id, source_type="survey_response",
            source_id=response.id, customer_id=self.people[who], lang="ko",
            sentiment="negative" if score < 0 else "positive", score=score,
            text_hash=unique("h"), occurred_at=at,
        )  # fmt: skip
        self.session.add(analysis)
        self.session.flush()
        self.session.add_all(
            TextThemeMember(
                theme_id=self.theme(label), analysis_id=analysis.id,
                workspace_id=self.tenant.workspace.id,
            )
            for label in themes
        )  # fmt: skip
        self.session.flush()
        return analysis.id


def written_story(session: Session, tenant: Tenant) -> Writing:
    """The shop story, and what its persons wrote: two complaints about paying while they
    considered (at checkout), one at support, praise for the order after buying, and a note
    without a touchpoint."""
    people = shop_story(session, tenant.workspace.id)
    w = Writing(session, tenant, people)
    w.wrote("ios1", "결제가 계속 실패해요", hours=9.1, score=-0.8, touchpoint="checkout",
            themes=("결제 오류", "앱 튕김"))  # fmt: skip
    w.wrote("ios1", "상담 연결이 안 돼요 <b>지금</b>", hours=9.2, score=-0.6, touchpoint="support",
            themes=("결제 오류", "상담 대기"))  # fmt: skip
    w.wrote("web2", "카드 결제 오류, 쿠폰도 안 먹어요", hours=12.5, score=-0.4,
            touchpoint="checkout", themes=("결제 오류", "쿠폰", "배송비"))  # fmt: skip
    w.wrote("web1", "배송이 빨라요", hours=11, score=0.9, touchpoint="order", themes=("빠른 배송",))
    w.wrote("and1", "상담원 기다리는 중", hours=24 + 20.5, score=0.1, themes=("상담 대기",))
    return w


@pytest.fixture
def written(session: Session, tenant: Tenant) -> Writing:
    return written_story(session, tenant)


def _post(client: TestClient, tenant: Tenant, path: str, **body: Any) -> dict[str, Any]:
    reply = client.post(f"/api/v1/journeys/{path}", json={**PERIOD, **body}, headers=tenant.api)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _themes(place: dict[str, Any]) -> list[tuple[str, int]]:
    return [(t["label"], t["count"]) for t in place["themes"]]


def test_the_map_names_the_top_themes_of_each_stage_and_cell(
    client: TestClient, tenant: Tenant, written: Writing
) -> None:
    body = _post(client, tenant, "map")

    stages = {s["key"]: s for s in body["stages"]}
    cells = {(c["stage"], c["touchpoint"]): c for c in body["cells"]}
    assert _themes(stages["consideration"]) == [("결제 오류", 3), ("상담 대기", 2), ("배송비", 1)]
    assert stages["consideration"]["texts"] == 4
    assert _themes(stages["purchase"]) == [("빠른 배송", 1)]
    # Four themes at the checkout: the three most frequent, ties by name.
    checkout = cells[("consideration", "checkout")]
    assert _themes(checkout) == [("결제 오류", 2), ("배송비", 1), ("앱 튕김", 1)]
    assert checkout["texts"] == 2
    assert _themes(cells[("consideration", "support")]) == [("결제 오류", 1), ("상담 대기", 1)]
    assert (cells[("purchase", "order")]["texts"], _themes(cells[("purchase", "order")])) == (
        1, [("빠른 배송", 1)]
    )  # fmt: skip
    assert cells[("consideration", "product")]["themes"] == []
    # What the map said before stays as it was.
    assert (checkout["persons"], checkout["moved_on"], checkout["flagged"]) == (6, 5, False)


def _every_person(
    client: TestClient, tenant: Tenant, *, outcome: str = "all", **spot: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    items: list[dict[str, Any]] = []
    after = None
    for _ in range(20):
        page = _post(client, tenant, "map/persons", outcome=outcome, after=after, limit=2, **spot)
        items += page["items"]
        after = page["next_after"]
        if after is None:
            return page, items
    raise AssertionError("the pages never end")


def _every_text(
    client: TestClient, tenant: Tenant, **spot: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        page = _post(client, tenant, "map/verbatims", cursor=cursor, limit=1, **spot)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return page, items
    raise AssertionError("the pages never end")


def test_every_stage_and_cell_drills_down_to_exactly_its_counts(
    client: TestClient, tenant: Tenant, written: Writing
) -> None:
    body = _post(client, tenant, "map")
    spots = [({"stage": s["key"]}, s) for s in body["stages"]] + [
        ({"stage": c["stage"], "touchpoint": c["touchpoint"]}, c) for c in body["cells"]
    ]
    assert len(spots) == 5 + 5

    for spot, counted in spots:
        page, everyone = _every_person(client, tenant, **spot)
        _, moved = _every_person(client, tenant, outcome="moved_on", **spot)
        _, dropped = _every_person(client, tenant, outcome="dropped", **spot)
        ids = [p["customer_id"] for p in everyone]
        assert (page["persons"], page["moved_on"]) == (counted["persons"], counted["moved_on"])
        assert len(ids) == len(set(ids)) == counted["persons"], spot
        assert ids == sorted(ids)
        assert sum(p["moved_on"] for p in everyone) == counted["moved_on"] == len(moved), spot
        assert len(dropped) == page["dropped"] == counted["persons"] - counted["moved_on"]
        assert {p["customer_id"] for p in moved} | {p["customer_id"] for p in dropped} == set(ids)

        texts_page, texts = _every_text(client, tenant, **spot)
        assert texts_page["texts"] == len(texts) == counted["texts"], spot
        for theme in counted["themes"]:
            of_theme, shown = _every_text(client, tenant, theme=theme["id"], **spot)
            assert of_theme["texts"] == len(shown) == theme["count"], (spot, theme)
            assert all(theme["id"] in [t["id"] for t in v["themes"]] for v in shown)


def test_the_persons_behind_a_cell_are_who_did_it_there(
    client: TestClient, tenant: Tenant, written: Writing
) -> None:
    people = written.people

    checkout_dropped = _post(
        client, tenant, "map/persons", stage="consideration", touchpoint="checkout",
        outcome="dropped",
    )  # fmt: skip
    stage = _post(client, tenant, "map/persons", stage="consideration")

    assert [p["customer_id"] for p in checkout_dropped["items"]] == [people["ios1"]]
    assert checkout_dropped["touchpoint"] == "checkout" and checkout_dropped["next_after"] is None
    # The merged profile counts as its survivor; "early" considered before the period.
    expected = sorted(people[n] for n in ("web1", "web2", "web3", "ios1", "ios2", "and1"))
    assert [p["customer_id"] for p in stage["items"]] == expected
    dropped = {p["customer_id"] for p in stage["items"] if not p["moved_on"]}
    assert dropped == {people["ios1"], people["and1"]}


def test_the_texts_behind_a_cell_come_newest_first_with_words_and_themes(
    client: TestClient, tenant: Tenant, written: Writing
) -> None:
    page = _post(client, tenant, "map/verbatims", stage="consideration", touchpoint="checkout")
    paying = _post(
        client, tenant, "map/verbatims", stage="consideration",
        theme=written.themes["상담 대기"],
    )  # fmt: skip

    assert page["texts"] == 2 and page["next_cursor"] is None
    first, second = page["items"]
    assert (first["text"], first["customer_id"]) == (
        "카드 결제 오류, 쿠폰도 안 먹어요", written.people["web2"]
    )  # fmt: skip
    assert [t["label"] for t in first["themes"]] == ["결제 오류", "쿠폰", "배송비"]
    assert (first["sentiment"], first["score"]) == ("negative", -0.4)
    assert second["text"] == "결제가 계속 실패해요"
    assert first["occurred_at"] > second["occurred_at"]
    assert paying["theme"]["label"] == "상담 대기"
    assert [v["text"] for v in paying["items"]] == [
        "상담원 기다리는 중",
        "상담 연결이 안 돼요 <b>지금</b>",
    ]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("map/persons", {"stage": "nowhere"}, "stage"),
        ("map/persons", {"stage": "Not A Key"}, "stage"),
        ("map/persons", {"stage": "purchase", "touchpoint": "nowhere"}, "touchpoint"),
        ("map/persons", {"stage": "purchase", "outcome": "maybe"}, "outcome"),
        ("map/persons", {"stage": "purchase", "limit": 0}, "limit"),
        ("map/verbatims", {"stage": "purchase", "cursor": "not-a-cursor"}, None),
        ("map/verbatims", {"stage": "purchase", "theme": 2**31 - 2}, "theme"),
        ("map/verbatims", {"stage": "purchase", "start": "2026-03-08", "end": "2026-03-01"}, None),
        ("map/persons", {}, "stage"),
    ],
    ids=[
        "unknown-stage", "bad-key", "unknown-touchpoint", "bad-outcome", "zero-limit",
        "forged-cursor", "unknown-theme", "period-backwards", "no-stage",
    ],
)  # fmt: skip
def test_bad_questions_are_refused_with_a_problem(
    client: TestClient, tenant: Tenant, path: str, body: dict[str, Any], field: str | None
) -> None:
    reply = client.post(f"/api/v1/journeys/{path}", json={**PERIOD, **body}, headers=tenant.api)

    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert field in reply.text


def test_another_workspace_sees_none_of_it(
    client: TestClient, session: Session, tenant: Tenant, written: Writing
) -> None:
    other = Tenant(session)
    theirs = make_workspace(session)  # a theme that is nobody's here
    foreign_theme = _theme(session, theirs.id, "남의 테마")

    persons = client.post(
        "/api/v1/journeys/map/persons", json={**PERIOD, "stage": "consideration"},
        headers=other.api,
    )  # fmt: skip
    texts = client.post(
        "/api/v1/journeys/map/verbatims", json={**PERIOD, "stage": "consideration"},
        headers=other.api,
    )  # fmt: skip
    their_theme = client.post(
        "/api/v1/journeys/map/verbatims",
        json={**PERIOD, "stage": "consideration", "theme": foreign_theme},
        headers=tenant.api,
    )
    anonymous = client.post("/api/v1/journeys/map/persons", json={"stage": "purchase"})

    assert (persons.json()["persons"], persons.json()["items"]) == (0, [])
    assert (texts.json()["texts"], texts.json()["items"]) == (0, [])
    assert their_theme.status_code == 422
    assert anonymous.status_code == 401
