"""Saved segments over the API: the builder's live count, saving, members kept current from the
bus with Segment Entered / Exited events, archive and restore, CSV export, and bad input."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.events import bus
from cxloop.events.consumers import profile_activity
from cxloop.insights.segments.freshness import segment_freshness
from cxloop.models import Customer, Event, SegmentMember
from tests.conftest import TransactionalDatabase
from tests.factories import Tenant, make_customer

VIP = {"type": "trait", "key": "tier", "value": "VIP"}


def drain(database: TransactionalDatabase) -> None:
    bus.drain(database, names=[profile_activity.name, segment_freshness.name])


def vip_shop(session: Session, tenant: Tenant) -> list[Customer]:
    customers = [
        make_customer(
            session, workspace=tenant.workspace, user_id=f"vip-{n}", traits={"tier": "VIP"}
        )
        for n in range(2)
    ]
    make_customer(session, workspace=tenant.workspace, user_id="plain", traits={"tier": "basic"})
    session.flush()
    return customers


def members(session: Session, segment_id: int) -> set[int]:
    return set(
        session.scalars(
            select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id)
        )
    )


def test_the_builder_counts_and_describes_a_rule_as_it_is_typed(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    vips = vip_shop(session, tenant)

    previewed = client.post("/api/v1/segments/preview", json={"rule": VIP}, headers=tenant.api)

    assert previewed.status_code == 200, previewed.text
    body = previewed.json()
    assert body["count"] == 2
    assert {c["id"] for c in body["sample"]} == {c.id for c in vips}
    assert "VIP" in body["description"]["ko"] and "VIP" in body["description"]["en"]


def test_a_saved_segment_keeps_its_members_current_from_the_bus(
    client: TestClient, session: Session, tenant: Tenant, tx_database: TransactionalDatabase
) -> None:
    vips = vip_shop(session, tenant)
    drain(tx_database)  # what the setup logged
    saved = client.post(
        "/api/v1/segments", json={"name": "VIP 고객", "rule": VIP}, headers=tenant.api
    )
    assert saved.status_code == 201, saved.text
    segment_id = saved.json()["id"]
    assert saved.json()["members"] == 2 and members(session, segment_id) == {c.id for c in vips}

    # A customer becomes VIP, another stops being one: both through the ingestion API.
    for user_id, tier in (("plain", "VIP"), ("vip-0", "basic")):
        sent = client.post(
            "/v1/identify", json={"userId": user_id, "traits": {"tier": tier}}, headers=tenant.write
        )
        assert sent.status_code == 200, sent.text
    drain(tx_database)

    plain = session.scalar(
        select(Customer)
        .where(Customer.workspace_id == tenant.id, Customer.traits["tier"].as_string() == "VIP")
        .where(Customer.id.not_in([c.id for c in vips]))
    )
    assert plain is not None
    assert members(session, segment_id) == {vips[1].id, plain.id}
    announced = session.execute(
        select(Event.customer_id, Event.name, Event.channel, Event.properties).where(
            Event.workspace_id == tenant.id, Event.name.like("Segment %")
        )
    ).all()
    assert {(cid, name, channel) for cid, name, channel, _ in announced} == {
        (plain.id, "Segment Entered", "cxloop"),
        (vips[0].id, "Segment Exited", "cxloop"),
    }
    assert all(p["segment_id"] == segment_id for *_, p in announced)
    # The announcements are not the customers' own activity.
    drain(tx_database)
    session.refresh(plain)
    assert plain.touchpoints.get("cxloop") is None
    trend = client.get(f"/api/v1/segments/{segment_id}/trend", headers=tenant.api).json()
    assert trend[-1]["members"] == 2
    assert (trend[-1]["entered"], trend[-1]["exited"]) == (1, 1)


def test_members_page_and_csv_export_escape_what_a_spreadsheet_would_run(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    vips = vip_shop(session, tenant)
    vips[0].display_name = "=HYPERLINK(1)"
    session.flush()
    segment_id = client.post(
        "/api/v1/segments", json={"name": "VIP", "rule": VIP}, headers=tenant.api
    ).json()["id"]

    first = client.get(
        f"/api/v1/segments/{segment_id}/members", params={"limit": 1}, headers=tenant.api
    ).json()
    second = client.get(
        f"/api/v1/segments/{segment_id}/members",
        params={"limit": 1, "cursor": first["next_cursor"]},
        headers=tenant.api,
    ).json()
    exported = client.get(f"/api/v1/segments/{segment_id}/members.csv", headers=tenant.api)

    assert [m["customer"]["id"] for m in first["items"] + second["items"]] == sorted(
        c.id for c in vips
    )
    assert second["next_cursor"] is None
    assert exported.status_code == 200
    text = exported.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["customer_id", "user_id", "name", "email", "phone", "entered_at"]
    assert {r[1] for r in rows[1:]} == {"vip-0", "vip-1"}
    assert "'=HYPERLINK(1)" in {r[2] for r in rows[1:]}


def test_a_segment_used_by_another_cannot_be_archived_and_an_archived_one_is_restored(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    vip_shop(session, tenant)
    base = client.post("/api/v1/segments", json={"name": "VIP", "rule": VIP}, headers=tenant.api)
    base_id = base.json()["id"]
    user = client.post(
        "/api/v1/segments",
        json={
            "name": "Not VIP",
            "rule": {"type": "segment", "segment_id": base_id, "member": False},
        },
        headers=tenant.api,
    )
    assert user.status_code == 201, user.text
    assert user.json()["members"] == 1

    refused = client.post(f"/api/v1/segments/{base_id}/archive", headers=tenant.api)
    archived = client.post(f"/api/v1/segments/{user.json()['id']}/archive", headers=tenant.api)
    edit_archived = client.patch(
        f"/api/v1/segments/{user.json()['id']}", json={"name": "x"}, headers=tenant.api
    )
    listed = client.get("/api/v1/segments", headers=tenant.api).json()
    restored = client.post(f"/api/v1/segments/{user.json()['id']}/restore", headers=tenant.api)

    assert refused.status_code == 409 and "Not VIP" in refused.json()["detail"]
    assert archived.status_code == 200 and archived.json()["archived_at"]
    assert edit_archived.status_code == 409
    assert [s["name"] for s in listed["items"]] == ["VIP"]
    assert restored.status_code == 200 and restored.json()["archived_at"] is None
    assert restored.json()["members"] == 1


def test_bad_rules_roles_and_other_workspaces_get_clear_errors(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    vip_shop(session, tenant)

    bad = client.post(
        "/api/v1/segments",
        json={"name": "x", "rule": {"type": "order", "measure": "count", "value": 1.5}},
        headers=tenant.api,
    )
    unknown = client.post(
        "/api/v1/segments/preview",
        json={"rule": {"type": "segment", "segment_id": 999999}},
        headers=tenant.api,
    )
    viewer = client.post(
        "/api/v1/segments", json={"name": "v", "rule": VIP}, headers=tenant.key("viewer")
    )
    saved = client.post("/api/v1/segments", json={"name": "VIP", "rule": VIP}, headers=tenant.api)
    nameless = client.post("/api/v1/segments", json={"name": "  ", "rule": VIP}, headers=tenant.api)

    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "whole number" in bad.text
    assert unknown.status_code == 422 and "999999" in unknown.text
    assert viewer.status_code == 403
    assert saved.status_code == 201
    assert nameless.status_code == 422


def test_a_segment_of_another_workspace_is_not_found(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    vip_shop(session, tenant)
    theirs = Tenant(session)
    segment_id = client.post(
        "/api/v1/segments", json={"name": "VIP", "rule": VIP}, headers=tenant.api
    ).json()["id"]

    for path in ("", "/members", "/members.csv", "/trend"):
        seen = client.get(f"/api/v1/segments/{segment_id}{path}", headers=theirs.api)
        assert seen.status_code == 404, path
    assert (
        client.post(
            "/api/v1/segments/preview",
            json={"rule": {"type": "segment", "segment_id": segment_id}},
            headers=theirs.api,
        ).status_code
        == 422
    )


def test_a_customers_predictions_name_their_segments(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    vips = vip_shop(session, tenant)
    client.post("/api/v1/segments", json={"name": "VIP", "rule": VIP}, headers=tenant.api)

    seen = client.get(f"/api/v1/customers/{vips[0].id}/predictions", headers=tenant.api)

    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["run_id"] is None and body["clv"] == {"3m": None, "6m": None, "12m": None}
    assert [s["name"] for s in body["segments"]] == ["VIP"]
