"""The persons of a funnel step kept as a list segment over the API: a fixed snapshot with its
origin in words, never changed by a refresh, usable by a segment rule and a funnel's segment,
deleted (not edited); limits, roles and bad questions answered with clear errors."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import KST
from cxloop.events import bus
from cxloop.events.consumers import profile_activity
from cxloop.insights.segments import service as segments
from cxloop.insights.segments.freshness import segment_freshness
from cxloop.models import AuditEntry, SegmentCount, SegmentMember
from tests.conftest import TransactionalDatabase
from tests.factories import Tenant, make_customer, merge_by_id
from tests.journeys.story import STEPS, shop_story

PERIOD = {"start": "2026-03-02", "end": "2026-03-08"}
ARROWS = " → ".join(STEPS.split(","))


def spec(**extra: object) -> dict[str, object]:
    return {"steps": [{"event": name} for name in STEPS.split(",")], **extra}


def members(session: Session, segment_id: int) -> set[int]:
    return set(
        session.scalars(
            select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id)
        )
    )


def save(client: TestClient, tenant: Tenant, **body: object) -> dict[str, object]:
    answer = client.post(
        "/api/v1/journeys/funnels/segment",
        json={"spec": spec(), "name": "결제 후 이탈", **PERIOD, **body},
        headers=tenant.api,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


@pytest.fixture
def story(session: Session, tenant: Tenant) -> dict[str, int]:
    return shop_story(session, tenant.workspace.id)


def test_those_who_dropped_before_the_order_are_kept_with_where_they_came_from(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    today = datetime.now(KST).date().isoformat()

    saved = save(client, tenant, step=4, dropped=True)

    assert saved["kind"] == "list" and saved["members"] == 2 and saved["name"] == "결제 후 이탈"
    assert members(session, int(saved["id"])) == {story["ios1"], story["ios2"]}
    origin = saved["origin"]
    assert isinstance(origin, dict) and origin["source"] == "journeys.funnel"
    assert origin["description"] == {
        "ko": f"퍼널 '{ARROWS}' 4단계 이탈, 2026-03-02 ~ 2026-03-08, 저장 {today}",
        "en": f"Funnel '{ARROWS}', dropped off before step 4, 2026-03-02 – 2026-03-08, "
        f"saved {today}",
    }
    assert origin["detail"]["step"] == 4 and origin["detail"]["dropped"] is True
    shown = client.get(f"/api/v1/segments/{saved['id']}", headers=tenant.api).json()
    assert shown["kind"] == "list" and shown["rule"] == {} and shown["members"] == 2
    assert shown["rule_description"]["ko"] == origin["description"]["ko"]
    audit = session.scalars(
        select(AuditEntry).where(
            AuditEntry.workspace_id == tenant.workspace.id,
            AuditEntry.action == "segment.create_list",
        )
    ).one()
    assert audit.target_id == str(saved["id"])
    assert audit.detail["members"] == 2 and audit.detail["source"] == "journeys.funnel"


def test_a_step_with_a_condition_and_a_breakdown_value_keep_only_their_persons(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    ios_checkout = spec()
    ios_checkout["steps"][2]["where"] = [{"key": "platform", "value": "ios"}]  # type: ignore[index]

    reached = save(client, tenant, spec=ios_checkout, step=3, name="iOS 결제")
    by_platform = save(
        client, tenant, spec=spec(breakdown={"key": "platform"}), step=1, value="ios"
    )

    assert members(session, int(reached["id"])) == {story["web3"], story["ios1"], story["ios2"]}
    words = reached["origin"]["description"]  # type: ignore[index]
    assert 'Checkout Started ("platform" 값이 "ios"임)' in words["ko"]
    assert "reached step 3" in words["en"]
    assert members(session, int(by_platform["id"])) == {story["ios1"], story["ios2"]}
    assert by_platform["origin"]["description"]["en"].endswith(  # type: ignore[index]
        " (only platform = 'ios')"
    )


def test_a_list_segment_is_left_as_saved_by_every_refresh(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    story: dict[str, int],
    tx_database: TransactionalDatabase,
) -> None:
    saved = save(client, tenant, step=4, dropped=True)
    segment_id = int(saved["id"])
    # New activity on the bus, then the whole workspace is refreshed.
    sent = client.post(
        "/v1/track",
        json={"userId": "someone-new", "event": "Order Completed"},
        headers=tenant.write,
    )
    assert sent.status_code == 200, sent.text
    bus.drain(tx_database, names=[profile_activity.name, segment_freshness.name])
    segments.refresh_workspace(session, workspace_id=tenant.workspace.id)

    refreshed = client.post(f"/api/v1/segments/{segment_id}/refresh", headers=tenant.api)
    re_ruled = client.patch(
        f"/api/v1/segments/{segment_id}",
        json={"rule": {"type": "all", "rules": []}},
        headers=tenant.api,
    )
    renamed = client.patch(
        f"/api/v1/segments/{segment_id}", json={"name": "다시 볼 고객"}, headers=tenant.api
    )

    assert members(session, segment_id) == {story["ios1"], story["ios2"]}
    assert refreshed.status_code == 409
    assert refreshed.headers["content-type"].startswith("application/problem+json")
    assert "not refreshed" in refreshed.json()["detail"]
    assert re_ruled.status_code == 409 and "rule cannot be edited" in re_ruled.json()["detail"]
    assert renamed.status_code == 200 and renamed.json()["name"] == "다시 볼 고객"
    assert renamed.json()["kind"] == "list" and renamed.json()["members"] == 2


def test_a_rule_and_a_funnel_use_a_list_segment_like_any_other(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    saved = save(client, tenant, step=4, dropped=True)

    in_it = client.post(
        "/api/v1/segments",
        json={"name": "이탈 고객", "rule": {"type": "segment", "segment_id": saved["id"]}},
        headers=tenant.api,
    )
    funnel = client.post(
        "/api/v1/journeys/funnels/report",
        json={"spec": spec(segment_id=saved["id"]), **PERIOD},
        headers=tenant.api,
    )
    retention = client.post(
        "/api/v1/journeys/retention",
        json={
            "spec": {"start_event": "Product Viewed", "segment_id": saved["id"]},
            "start": "2026-03-02",
        },
        headers=tenant.api,
    )

    assert in_it.status_code == 201, in_it.text
    assert members(session, in_it.json()["id"]) == {story["ios1"], story["ios2"]}
    assert funnel.status_code == 200, funnel.text
    assert [s["persons"] for s in funnel.json()["steps"]] == [2, 2, 2, 0]
    assert retention.status_code == 200, retention.text
    # The segment a rule names cannot be deleted; once the rule is archived, it can.
    refused = client.delete(f"/api/v1/segments/{saved['id']}", headers=tenant.api)
    assert refused.status_code == 409 and "이탈 고객" in refused.json()["detail"]
    archived = client.post(f"/api/v1/segments/{in_it.json()['id']}/archive", headers=tenant.api)
    assert archived.status_code == 200
    deleted = client.delete(f"/api/v1/segments/{saved['id']}", headers=tenant.api)
    assert deleted.status_code == 204
    assert members(session, int(saved["id"])) == set()
    gone = client.get(f"/api/v1/segments/{saved['id']}", headers=tenant.api)
    assert gone.status_code == 404
    assert (
        session.scalars(select(SegmentCount).where(SegmentCount.segment_id == saved["id"])).all()
        == []
    )


def test_a_rule_segment_is_archived_not_deleted(
    client: TestClient, session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    rule = client.post(
        "/api/v1/segments",
        json={"name": "모두", "rule": {"type": "all", "rules": []}},
        headers=tenant.api,
    )

    refused = client.delete(f"/api/v1/segments/{rule.json()['id']}", headers=tenant.api)

    assert refused.status_code == 409 and "archived, not deleted" in refused.json()["detail"]


def test_more_persons_than_a_list_segment_holds_are_refused_whole(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    story: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(segments, "MAX_LIST_MEMBERS", 5)
    monkeypatch.setattr(segments, "_CHUNK", 2)  # several batches even for a few

    too_many = client.post(
        "/api/v1/journeys/funnels/segment",
        json={"spec": spec(), "step": 1, "name": "모두", **PERIOD},
        headers=tenant.api,
    )
    fits = save(client, tenant, step=2)

    assert too_many.status_code == 409
    assert "at most 5" in too_many.json()["detail"]
    assert client.get("/api/v1/segments", headers=tenant.api).json()["items"] == [
        client.get(f"/api/v1/segments/{fits['id']}", headers=tenant.api).json()
    ]
    assert fits["members"] == 5
    assert members(session, int(fits["id"])) == {
        story[n] for n in ("web1", "web2", "web3", "ios1", "ios2")
    }


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        pytest.param({"step": 1, "dropped": True}, 422, "nobody drops off", id="drop-at-1"),
        pytest.param({"step": 5}, 422, "between 1 and 4", id="no-such-step"),
        pytest.param({"step": 2, "name": ""}, 422, "name", id="no-name"),
        pytest.param({"step": 2, "name": " "}, 422, "needs a name", id="blank-name"),
        pytest.param({"step": 2, "name": "x" * 201}, 422, "name", id="long-name"),
        pytest.param({"step": 2, "end": "2026-03-01"}, 422, "end on or after", id="backwards"),
        pytest.param(
            {"step": 2, "spec": spec(segment_id=999_999)}, 404, "segment", id="unknown-segment"
        ),
    ],
)
def test_bad_questions_get_clear_errors_and_save_nothing(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    story: dict[str, int],
    body: dict[str, object],
    status: int,
    says: str,
) -> None:
    answer = client.post(
        "/api/v1/journeys/funnels/segment",
        json={"spec": spec(), "name": "이탈", **PERIOD, **body},
        headers=tenant.api,
    )

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert says in answer.text
    assert client.get("/api/v1/segments", headers=tenant.api).json()["items"] == []


@pytest.mark.parametrize(
    ("role", "status"),
    [
        pytest.param("viewer", 403, id="viewer-reads-but-may-not-save"),
        pytest.param("agent", 403, id="agent"),
        pytest.param("analyst", 201, id="analyst"),
        pytest.param("marketer", 201, id="marketer"),
    ],
)
def test_saving_needs_segment_writing_and_journey_reading(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    story: dict[str, int],
    role: str,
    status: int,
) -> None:
    answer = client.post(
        "/api/v1/journeys/funnels/segment",
        json={"spec": spec(), "step": 4, "dropped": True, "name": "이탈", **PERIOD},
        headers=tenant.key(role),
    )

    assert answer.status_code == status, answer.text


def test_a_list_segment_keeps_only_live_customers_of_its_own_workspace(
    session: Session, tenant: Tenant, story: dict[str, int]
) -> None:
    other = Tenant(session)
    stranger = shop_story(session, other.workspace.id)["web1"]
    wanted = [story["web1"], story["web3-other-device"], stranger, story["ios1"]]
    principal = Principal(workspace_id=tenant.workspace.id, role="owner")

    segment = segments.create_list_segment(
        session,
        principal=principal,
        name="손으로 고른 고객",
        customer_ids=wanted,
        origin={"source": "test", "description": {"ko": "직접 고름", "en": "Picked"}},
    )

    # The merged-away profile and the other workspace's customer are left out.
    assert members(session, segment.id) == {story["web1"], story["ios1"]}
    assert segment.members == 2 and segment.kind == "list"
    with pytest.raises(ValidationFailed):
        segments.create_list_segment(
            session, principal=principal, name="말 없음", customer_ids=[], origin={}
        )


def test_a_merge_gives_the_survivor_the_merged_profiles_place_in_a_list_segment(
    session: Session, tenant: Tenant
) -> None:
    kim, lee, park = (make_customer(session, workspace=tenant.workspace) for _ in range(3))
    principal = Principal(workspace_id=tenant.workspace.id, role="owner")
    segment = segments.create_list_segment(
        session,
        principal=principal,
        name="이탈 고객",
        customer_ids=[kim.id, lee.id],
        origin={"source": "test", "description": {"ko": "직접 고름", "en": "Picked"}},
    )

    # Kim is merged into Park, who was not in the list: Park takes Kim's place.
    merge_by_id(session, workspace_id=tenant.id, survivor=park.id, merged=kim.id)
    assert members(session, segment.id) == {lee.id, park.id}
    # Lee is merged into Park, already in the list: the list holds Park once.
    merge_by_id(session, workspace_id=tenant.id, survivor=park.id, merged=lee.id)
    session.refresh(segment)
    assert members(session, segment.id) == {park.id}
    assert segment.members == 1
