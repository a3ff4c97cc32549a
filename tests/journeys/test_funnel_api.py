"""Funnels over the API: the report with a breakdown, the persons behind a step, the test of a
difference, retention, and bad questions answered with clear 422s."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.models import Event
from tests.factories import Tenant, unique
from tests.journeys.story import DAY1, STEPS, shop_story

PERIOD = {"start": "2026-03-02", "end": "2026-03-08"}


def spec(**extra: object) -> dict[str, object]:
    return {"steps": [{"event": name} for name in STEPS.split(",")], **extra}


def test_the_report_counts_each_person_once_at_their_furthest_step(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    shop_story(session, tenant.workspace.id)

    answer = client.post(
        "/api/v1/journeys/funnels/report",
        json={"spec": spec(breakdown={"key": "platform"}), "interval": "day", **PERIOD},
        headers=tenant.api,
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [s["persons"] for s in body["steps"]] == [6, 5, 5, 3]
    assert [s["dropped"] for s in body["steps"]] == [0, 1, 0, 2]
    assert body["entered"] == 6 and body["converted"] == 3 and body["conversion"] == 0.5
    # web1 in 20 minutes, web3 in 6 hours (its checkout on another device, merged), web2 a day.
    assert body["time_to_convert"] == {"n": 3, "median_seconds": 21600.0, "p90_seconds": 73440.0}
    # Viewed → added: 1 min, 5 min, 30 min, 1 h, 1 h.
    assert body["steps"][1]["time_from_previous"]["median_seconds"] == 1800.0
    groups = {g["value"]: g["persons"] for g in body["breakdown"]}
    assert groups == {"web": [3, 3, 3, 3], "ios": [2, 2, 2, 0], "android": [1, 0, 0, 0]}
    assert body["start"] == "2026-03-02" and body["end"] == "2026-03-08"
    by_day = {d["start"]: (d["entered"], d["converted"]) for d in body["over_time"]}
    assert by_day["2026-03-02"] == (3, 2) and by_day["2026-03-03"] == (2, 1)
    assert by_day["2026-03-04"] == (1, 0) and len(by_day) == 7


def test_strict_order_stops_where_anything_else_comes_between(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    shop_story(session, tenant.workspace.id)

    answer = client.post(
        "/api/v1/journeys/funnels/report",
        json={"spec": spec(order="strict"), **PERIOD},
        headers=tenant.api,
    )

    assert answer.status_code == 200, answer.text
    # Nothing comes between anyone's steps here, so strict agrees with ordered.
    assert [s["persons"] for s in answer.json()["steps"]] == [6, 5, 5, 3]


def test_a_breakdown_by_trait_counts_each_person_under_their_own_profile(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    shop_story(session, tenant.workspace.id)  # tiers: the first three letters of each name

    answer = client.post(
        "/api/v1/journeys/funnels/report",
        json={"spec": spec(breakdown={"kind": "trait", "key": "tier", "limit": 2}), **PERIOD},
        headers=tenant.api,
    )

    assert answer.status_code == 200, answer.text
    groups = {(g["value"], g["other"]): g["persons"] for g in answer.json()["breakdown"]}
    # web3's checkout on its merged profile counts under web3's own tier; and1 past the limit.
    assert groups == {
        ("web", False): [3, 3, 3, 3],
        ("ios", False): [2, 2, 2, 0],
        (None, True): [1, 0, 0, 0],
    }


def test_the_persons_behind_a_step_and_those_who_dropped_before_it(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    people = shop_story(session, tenant.workspace.id)

    dropped = client.post(
        "/api/v1/journeys/funnels/persons",
        json={"spec": spec(), "step": 4, "dropped": True, **PERIOD},
        headers=tenant.api,
    )
    first_page = client.post(
        "/api/v1/journeys/funnels/persons",
        json={"spec": spec(), "step": 4, "limit": 2, **PERIOD},
        headers=tenant.api,
    )
    after = first_page.json()["next_after"]
    second_page = client.post(
        "/api/v1/journeys/funnels/persons",
        json={"spec": spec(), "step": 4, "limit": 2, "after": after, **PERIOD},
        headers=tenant.api,
    )
    on_ios = client.post(
        "/api/v1/journeys/funnels/persons",
        json={"spec": spec(breakdown={"key": "platform"}), "step": 2, "value": "ios", **PERIOD},
        headers=tenant.api,
    )

    assert dropped.status_code == 200, dropped.text
    assert set(dropped.json()["ids"]) == {people["ios1"], people["ios2"]}
    converted = first_page.json()["ids"] + second_page.json()["ids"]
    assert converted == sorted([people["web1"], people["web2"], people["web3"]])
    assert second_page.json()["next_after"] is None
    assert on_ios.json()["ids"] == sorted([people["ios1"], people["ios2"]])


def test_two_platforms_compared_with_a_two_proportion_test(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    shop_story(session, tenant.workspace.id)

    answer = client.post(
        "/api/v1/journeys/funnels/compare",
        json={
            "spec": spec(breakdown={"key": "platform"}),
            "period": PERIOD,
            "values": ["web", "ios"],
        },
        headers=tenant.api,
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["before"]["rate"] == 1.0 and body["after"]["rate"] == 0.0
    assert body["difference"] == -1.0
    assert body["p_value"] == pytest.approx(0.025347, abs=1e-6)
    assert body["significant"] is True


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"spec": {"steps": [{"event": "A"}]}}, "steps", id="one-step"),
        pytest.param(
            {"spec": {"steps": [{"event": "A"}, {"event": "A"}], "order": "unordered"}},
            "each event once",
            id="unordered-twice",
        ),
        pytest.param({"spec": spec(window_days=0)}, "window_days", id="no-window"),
        pytest.param(
            {"spec": spec(), "start": "2026-03-09", "end": "2026-03-01"}, "end", id="backwards"
        ),
        pytest.param(
            {"spec": spec(), "start": "2024-01-01", "end": "2026-03-01"}, "400", id="too-long"
        ),
        pytest.param({"spec": spec(breakdown={"key": 'a"b'})}, "breakdown", id="quote-in-key"),
        pytest.param(
            {"spec": spec(exclusions=[{"event": "X", "after_step": 3, "before_step": 2}])},
            "exclusion",
            id="exclusion-backwards",
        ),
    ],
)
def test_bad_questions_get_a_clear_422(
    client: TestClient, tenant: Tenant, payload: dict[str, object], field: str
) -> None:
    answer = client.post("/api/v1/journeys/funnels/report", json=payload, headers=tenant.api)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in answer.text


def test_funnels_need_a_key(client: TestClient) -> None:
    answer = client.post("/api/v1/journeys/funnels/report", json={"spec": spec()})

    assert answer.status_code == 401


def test_drop_offs_before_the_order_went_to_the_support_chat(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    shop_story(session, tenant.workspace.id)

    answer = client.post(
        "/api/v1/journeys/funnels/dropoff-paths",
        json={"spec": spec(), "step": 4, "steps": 2, **PERIOD},
        headers=tenant.api,
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    # ios1 opened the chat a minute after checking out; ios2 did nothing within a day.
    assert body["persons"] == 2
    assert {(p["persons"], tuple(p["events"])) for p in body["top"]} == {
        (1, ("Support Chat Started",)),
        (1, ()),
    }
    first = {(n["kind"], n["name"]): n["persons"] for n in body["nodes"] if n["step"] == 1}
    assert first == {("event", "Support Chat Started"): 1, ("end", None): 1}


def test_paths_after_viewing_a_product_with_a_cleaning_rule(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    shop_story(session, tenant.workspace.id)
    path = {
        "event": "Product Viewed",
        "steps": 1,
        "cleaning": [{"pattern": "(Product Added|Support Chat Started)", "name": "Engaged"}],
    }

    answer = client.post(
        "/api/v1/journeys/paths", json={"spec": path, **PERIOD}, headers=tenant.api
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["persons"] == 6
    assert {tuple(p["events"]): p["persons"] for p in body["top"]} == {("Engaged",): 6}
    assert body["links"] == []  # one step: nothing links onwards


def test_a_saved_funnel_is_kept_listed_pinned_run_and_deleted(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    shop_story(session, tenant.workspace.id)
    body = {"name": "모바일 결제", "spec": spec(), "days": 30, "on_dashboard": True}

    created = client.post("/api/v1/journeys/funnels", json=body, headers=tenant.api)
    funnel_id = created.json()["id"]
    listed = client.get("/api/v1/journeys/funnels?on_dashboard=true", headers=tenant.api)
    report = client.post(f"/api/v1/journeys/funnels/{funnel_id}/report", headers=tenant.api)
    unpinned = client.patch(
        f"/api/v1/journeys/funnels/{funnel_id}", json={"on_dashboard": False}, headers=tenant.api
    )
    deleted = client.delete(f"/api/v1/journeys/funnels/{funnel_id}", headers=tenant.api)
    gone = client.get(f"/api/v1/journeys/funnels/{funnel_id}", headers=tenant.api)

    assert created.status_code == 201, created.text
    assert [f["name"] for f in listed.json()["items"]] == ["모바일 결제"]
    assert report.status_code == 200 and len(report.json()["steps"]) == 4
    assert unpinned.json()["on_dashboard"] is False
    assert deleted.status_code == 204 and gone.status_code == 404


def test_a_funnel_of_one_segments_members(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    shop_story(session, tenant.workspace.id)
    made = client.post(
        "/api/v1/segments",
        json={"name": "iOS", "rule": {"type": "trait", "key": "tier", "value": "ios"}},
        headers=tenant.api,
    )
    segment_id = made.json()["id"]

    answer = client.post(
        "/api/v1/journeys/funnels/report",
        json={"spec": spec(segment_id=segment_id), **PERIOD},
        headers=tenant.api,
    )
    unknown = client.post(
        "/api/v1/journeys/funnels/report",
        json={"spec": spec(segment_id=2_000_000_000), **PERIOD},
        headers=tenant.api,
    )

    assert made.status_code == 201, made.text
    assert answer.status_code == 200, answer.text
    assert [s["persons"] for s in answer.json()["steps"]] == [2, 2, 2, 0]
    assert unknown.status_code == 404


def test_pages_named_by_their_path_merge_under_a_cleaning_rule(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    people = shop_story(session, tenant.workspace.id)
    visits = [("web1", "/products/101", 10.02), ("web1", "/products/202", 10.03),
              ("ios1", "/cart", 9.05)]  # fmt: skip
    for who, path, hours in visits:
        at = DAY1 + timedelta(hours=hours)
        session.add(
            Event(
                workspace_id=tenant.workspace.id, customer_id=people[who], message_id=unique("m-"),
                type="page", name=None, channel="web", timestamp=at, received_at=at,
                properties={"path": path}, context={},
            )
        )  # fmt: skip
    session.flush()
    path = {
        "event": "Product Viewed",
        "steps": 3,
        "page_label": "path",
        "cleaning": [{"pattern": "/products/[0-9]+", "name": "/products/*"}],
    }

    answer = client.post(
        "/api/v1/journeys/paths", json={"spec": path, **PERIOD}, headers=tenant.api
    )

    assert answer.status_code == 200, answer.text
    top = {tuple(p["events"]): p["persons"] for p in answer.json()["top"]}
    assert top[("/products/*", "/products/*", "Product Added")] == 1  # web1 browsed two


def test_cleaning_rules_are_refused_where_they_could_backtrack(
    client: TestClient, tenant: Tenant
) -> None:
    backreference = {"event": "A", "cleaning": [{"pattern": r"(a)\1", "name": "x"}]}

    refused = client.post(
        "/api/v1/journeys/paths", json={"spec": backreference, **PERIOD}, headers=tenant.api
    )

    assert refused.status_code == 422
    assert "RE2" in refused.text
