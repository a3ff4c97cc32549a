"""The journey map over the API: stages entered by events, persons moving on, touchpoint cells
by the stage a person was at, scores and sentiment there; stages and touchpoints saved and
audited."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.models import AuditEntry, Customer, Event, TextAnalysis
from tests.factories import Tenant, unique
from tests.journeys.story import DAY1, shop_story

PERIOD = {"start": "2026-03-02", "end": "2026-03-08"}


def _map(client: TestClient, tenant: Tenant) -> dict[str, object]:
    answer = client.post("/api/v1/journeys/map", json=PERIOD, headers=tenant.api)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _did(session: Session, person: Customer, name: str, hours: float, **properties: object) -> None:
    at = DAY1 + timedelta(hours=hours)
    session.add(
        Event(
            workspace_id=person.workspace_id, customer_id=person.id, message_id=unique("m-"),
            type="track", name=name, channel="web", timestamp=at, received_at=at,
            properties=properties, context={},
        )
    )  # fmt: skip


def test_the_map_counts_stages_and_cells_from_what_customers_did(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    shop_story(session, tenant.workspace.id)

    body = _map(client, tenant)

    stages = {s["key"]: s for s in body["stages"]}
    assert [s["key"] for s in body["stages"]] == [
        "awareness", "consideration", "purchase", "loyalty", "advocacy"
    ]  # fmt: skip
    # Six considered in the period (the seventh before it); four went on to buy, ios2 after
    # the period; web3 bought on another device (a merged profile).
    assert (stages["consideration"]["persons"], stages["consideration"]["moved_on"]) == (6, 4)
    assert (stages["purchase"]["persons"], stages["purchase"]["moved_on"]) == (4, 0)
    assert stages["awareness"]["persons"] == 0
    cells = {(c["stage"], c["touchpoint"]): c for c in body["cells"]}
    checkout = cells[("consideration", "checkout")]
    assert (checkout["persons"], checkout["moved_on"]) == (6, 5)
    support = cells[("consideration", "support")]
    assert (support["persons"], support["moved_on"]) == (2, 0)
    assert cells[("purchase", "order")]["persons"] == 4
    assert not checkout["flagged"]


def test_scores_and_a_lagging_cell_are_shown_where_they_happen(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    ws = tenant.workspace.id
    people = [Customer(workspace_id=ws) for _ in range(60)]
    session.add_all(people)
    session.flush()

    for i, person in enumerate(people):
        _did(session, person, "Product Viewed", i)
        mobile = i % 2 == 0
        _did(session, person, "Checkout Started", i + 0.5, platform="ios" if mobile else "web")
        if not mobile or i % 10 == 0:  # mobile checkouts mostly fail
            _did(session, person, "Order Completed", i + 1)
        nps = 3 if mobile else 8
        _did(session, person, "Survey Answered", i + 0.7, nps=nps, touchpoint="checkout")
    session.flush()
    mobile_checkout = {
        "touchpoints": [
            {"key": "checkout_mobile", "rules": [
                {"event": "Checkout Started", "where": [{"key": "platform", "value": "ios"}]}
            ]},
            {"key": "checkout", "rules": [{"event": "Checkout Started"}]},
        ]
    }  # fmt: skip
    saved = client.put("/api/v1/journeys/touchpoints", json=mobile_checkout, headers=tenant.api)

    body = _map(client, tenant)

    assert saved.status_code == 200, saved.text
    cells = {(c["stage"], c["touchpoint"]): c for c in body["cells"]}
    mobile = cells[("consideration", "checkout_mobile")]
    assert (mobile["persons"], mobile["moved_on"]) == (30, 6)
    assert mobile["flagged"] is True and mobile["behind_p_value"] < 0.05
    assert cells[("consideration", "checkout")]["flagged"] is False
    stage = next(s for s in body["stages"] if s["key"] == "consideration")
    # NPS at consideration: 30 passives (8) and 30 detractors (3) → −50. (A promoter's answer
    # would have entered advocacy.)
    assert stage["feeling"]["nps"]["n"] == 60 and stage["feeling"]["nps"]["estimate"] == -50.0
    assert cells[("consideration", "checkout")]["feeling"]["nps"]["n"] == 60
    audited = session.scalars(select(AuditEntry.action).where(AuditEntry.workspace_id == ws)).all()
    assert "journeys.touchpoints" in audited


def test_each_answer_counts_in_its_nps_and_csat_band_at_the_stage_it_was_given(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    # Given six people who looked at a product (consideration) and then answered a survey;
    # a promoter's answer itself enters advocacy, and one answer came before any stage.
    people = [Customer(workspace_id=tenant.workspace.id) for _ in range(6)]
    session.add_all(people)
    session.flush()
    answers: list[dict[str, object]] = [
        {"nps": 6, "csat": 4, "touchpoint": "survey"},  # detractor, satisfied
        {"nps": 7, "csat": 3, "touchpoint": "survey"},  # passive, not satisfied
        {"nps": 8.5, "touchpoint": "nowhere"},  # passive; no such touchpoint: the stage only
        {"nps": "n/a", "csat": 5},  # not a number: no NPS; satisfied
        {"nps": 10, "touchpoint": "survey"},  # promoter, at advocacy
    ]
    for i, (person, answer) in enumerate(zip(people, answers, strict=False)):
        _did(session, person, "Product Viewed", i + 1)
        _did(session, person, "Survey Answered", i + 1.5, **answer)
    _did(session, people[5], "Survey Answered", 1, nps=0, csat=1)  # before any stage
    _did(session, people[5], "Product Viewed", 2)
    session.flush()

    # When the map is drawn
    body = _map(client, tenant)

    # Then each stage and cell holds the bands of the answers given there
    def scores(feeling: dict[str, dict[str, object] | None]) -> tuple[object, ...]:
        nps, csat = feeling["nps"], feeling["csat"]
        return (
            (nps["n"], nps["estimate"]) if nps else None,
            (csat["n"], csat["estimate"]) if csat else None,
        )

    stages = {s["key"]: scores(s["feeling"]) for s in body["stages"]}
    cells = {(c["stage"], c["touchpoint"]): scores(c["feeling"]) for c in body["cells"]}
    assert stages["consideration"] == ((3, -33.3333), (3, 66.6667))
    assert stages["advocacy"] == ((1, 100.0), None)
    assert stages["purchase"] == (None, None)
    assert cells[("consideration", "survey")] == ((2, -50.0), (2, 50.0))
    assert cells[("advocacy", "survey")] == ((1, 100.0), None)


def test_saving_stages_and_touchpoints_audits_their_keys(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    stages = {
        "stages": [
            {"key": "trial", "rules": [{"event": "Trial Started"}]},
            {"key": "paid", "rules": [{"event": "Subscription Paid"}]},
        ]
    }
    touchpoints = {"touchpoints": [{"key": "app", "rules": [{"page": True}]}]}

    answers = [
        client.put("/api/v1/journeys/stages", json=stages, headers=tenant.api),
        client.put("/api/v1/journeys/touchpoints", json=touchpoints, headers=tenant.api),
    ]

    assert [a.status_code for a in answers] == [200, 200]
    entries = session.execute(
        select(AuditEntry.action, AuditEntry.target_type, AuditEntry.target_id, AuditEntry.detail)
        .where(AuditEntry.workspace_id == tenant.workspace.id)
        .order_by(AuditEntry.id)
    ).all()
    ws = str(tenant.workspace.id)
    assert [tuple(e) for e in entries] == [
        ("journeys.stages", "workspace", ws, {"stages": ["trial", "paid"]}),
        ("journeys.touchpoints", "workspace", ws, {"touchpoints": ["app"]}),
    ]


def test_stages_are_an_online_shops_until_the_workspace_saves_its_own(
    client: TestClient, tenant: Tenant
) -> None:
    before = client.get("/api/v1/journeys/stages", headers=tenant.api)
    mine = {
        "stages": [
            {"key": "trial", "name": "체험", "rules": [{"event": "Trial Started"}]},
            {"key": "paid", "name": "유료", "rules": [{"event": "Subscription Paid", "nth": 1}]},
        ]
    }
    saved = client.put("/api/v1/journeys/stages", json=mine, headers=tenant.api)
    after = client.get("/api/v1/journeys/stages", headers=tenant.api)

    assert before.json()[0]["key"] == "awareness"
    assert saved.status_code == 200, saved.text
    assert [(s["key"], s["name"]) for s in after.json()] == [("trial", "체험"), ("paid", "유료")]


def test_bad_stages_are_refused(client: TestClient, tenant: Tenant) -> None:
    twice = {"stages": [{"key": "a", "rules": [{"event": "A"}]}] * 2}
    nothing = {"stages": [{"key": "a", "rules": [{}]}, {"key": "b", "rules": [{"event": "B"}]}]}
    upper = {"stages": [{"key": "A b", "rules": [{"event": "A"}]}] * 2}

    answers = [
        client.put("/api/v1/journeys/stages", json=b, headers=tenant.api)
        for b in (twice, nothing, upper)
    ]

    assert [a.status_code for a in answers] == [422, 422, 422]


def test_sentiment_follows_the_stage_the_writer_was_at(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    people = shop_story(session, tenant.workspace.id)
    # ios1 complained while considering (after checking out, before any order); web1 praised
    # after buying; and1 wrote before doing anything the stages know.
    written = [("ios1", -0.8, 9.1), ("ios1", -0.6, 9.2), ("web1", 0.9, 11), ("and1", 0.5, -48)]
    for n, (who, score, hours) in enumerate(written):
        session.add(
            TextAnalysis(
                workspace_id=tenant.workspace.id, source_type="test_note", source_id=n,
                customer_id=people[who], lang="ko", sentiment="negative" if score < 0 else
                "positive", score=score, text_hash=unique("h"),
                occurred_at=DAY1 + timedelta(hours=hours),
            )
        )  # fmt: skip
    session.flush()

    body = _map(client, tenant)

    stages = {s["key"]: s["feeling"]["sentiment"] for s in body["stages"]}
    assert stages["consideration"]["n"] == 2
    assert stages["consideration"]["estimate"] == -0.7
    assert stages["purchase"]["n"] == 1 and stages["purchase"]["estimate"] == 0.9
    assert stages["awareness"] is None
