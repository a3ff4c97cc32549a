"""The closed loop's follow-ups: every completed unhappy answer opens exactly one, due two
business days later (Seoul weekends skipped), worked to closure through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.feedback.followups import service as followup_service
from cxloop.models import FollowUp
from tests.factories import Tenant, make_user
from tests.helpers.surveys import (
    URL,
    T,
    _one_follow_up,
    create,
    follow_ups,
    go_live,
    import_rows,
    make_invitation,
    submit,
)


def single_question(kind: str) -> dict[str, Any]:
    return {"questions": [{"id": kind, "type": kind, "required": True, "text": T}]}


def count(session: Session, tenant: Tenant) -> int:
    return int(session.scalar(select(func.count()).where(FollowUp.workspace_id == tenant.id)) or 0)


# --- creation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "answers", "reason"),
    [
        pytest.param("nps", {"nps": 3, "why_low": "delivery"}, "NPS 3 (detractor)", id="nps-3"),
        pytest.param("nps", {"nps": 6, "why_low": "price"}, "NPS 6 (detractor)", id="nps-6"),
        pytest.param("nps", {"nps": 7}, None, id="nps-7-passive"),
        pytest.param("nps", {"nps": 10}, None, id="nps-10-promoter"),
        pytest.param("csat", {"csat": 2}, "CSAT 2 (dissatisfied)", id="csat-2"),
        pytest.param("csat", {"csat": 3}, None, id="csat-3"),
        pytest.param("ces", {"ces": 3}, "CES 3 (high effort)", id="ces-3"),
        pytest.param("ces", {"ces": 4}, None, id="ces-4"),
    ],
)
def test_an_unhappy_answer_opens_one_follow_up_for_the_owner_team(
    client: TestClient, tenant: Tenant, kind: str, answers: dict[str, Any], reason: str | None
) -> None:
    extra = {} if kind == "nps" else {"kind": kind, "definition": single_question(kind)}
    survey = create(client, tenant, owner_team="delivery", **extra)
    go_live(client, tenant, survey["id"])

    reply = submit(client, tenant, survey["id"], answers=answers)
    assert reply.status_code == 201, reply.text

    items = follow_ups(client, tenant)
    if reason is None:
        assert items == []
        return
    [item] = items
    assert item["response_id"] == reply.json()["response"]["id"]
    assert (item["reason"], item["team"], item["status"]) == (reason, "delivery", "open")
    assert (item["assignee_id"], item["closed_at"], item["overdue"]) == (None, None, False)


def test_a_survey_without_owner_team_gives_its_follow_ups_to_cx(
    client: TestClient, tenant: Tenant
) -> None:
    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    submit(client, tenant, survey["id"], answers={"nps": 0, "why_low": "price"})
    assert [i["team"] for i in follow_ups(client, tenant)] == ["cx"]


def test_a_partial_answer_waits_until_completed_and_resubmitting_adds_nothing(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    invitation = make_invitation(session, tenant, survey["id"], "tok-follow-up-1")
    token = "tok-follow-up-1"

    partial = submit(
        client, tenant, survey["id"], answers={"nps": 2}, invitation_token=token, partial=True
    )
    assert partial.status_code == 201, partial.text
    assert follow_ups(client, tenant) == []

    done = submit(
        client, tenant, survey["id"], answers={"why_low": "price"}, invitation_token=token
    )
    assert done.status_code == 201, done.text
    again = submit(client, tenant, survey["id"], answers={"nps": 1}, invitation_token=token)
    assert again.status_code == 409

    [item] = follow_ups(client, tenant)
    assert item["customer_id"] == invitation.customer_id
    assert item["reason"] == "NPS 2 (detractor)"
    assert count(session, tenant) == 1


def test_a_replayed_import_opens_no_second_follow_up(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    survey = create(client, tenant)
    rows = [
        {"external_id": "r1", "answers": {"nps": 4, "why_low": "price"}},
        {"external_id": "r2", "answers": {"nps": 9}},
        {"external_id": "r3", "answers": {"nps": 1}, "completed": False},
    ]
    assert import_rows(client, tenant, survey["id"], rows)["created"] == 3
    assert import_rows(client, tenant, survey["id"], rows)["created"] == 0
    assert [i["reason"] for i in follow_ups(client, tenant)] == ["NPS 4 (detractor)"]
    assert count(session, tenant) == 1


# --- due dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submitted", "due"),
    [
        pytest.param("2026-01-05T09:00:00+09:00", "2026-01-07T09:00:00+09:00", id="monday"),
        pytest.param("2026-01-08T15:00:00+09:00", "2026-01-12T15:00:00+09:00", id="thursday"),
        pytest.param("2026-01-09T15:00:00+09:00", "2026-01-13T15:00:00+09:00", id="friday"),
        pytest.param("2026-01-10T10:00:00+09:00", "2026-01-13T10:00:00+09:00", id="saturday"),
        # Friday in UTC but already Saturday in Seoul: the Seoul weekend counts.
        pytest.param("2026-01-09T16:00:00+00:00", "2026-01-13T01:00:00+09:00", id="utc-friday"),
    ],
)
def test_the_due_date_is_two_business_days_later_in_seoul(submitted: str, due: str) -> None:
    moment = datetime.fromisoformat(submitted)
    assert followup_service.add_business_days(moment, 2) == datetime.fromisoformat(due)


def test_an_imported_answer_is_due_two_business_days_after_it_was_given(
    client: TestClient, tenant: Tenant
) -> None:
    survey = create(client, tenant)
    friday = {"nps": 5, "why_low": "delivery"}
    row = {"external_id": "f1", "answers": friday, "submitted_at": "2026-01-09T15:00:00+09:00"}
    import_rows(client, tenant, survey["id"], [row])
    [item] = follow_ups(client, tenant)
    assert item["due_at"] == "2026-01-13T06:00:00Z"
    assert item["overdue"] is True


# --- working a follow-up -----------------------------------------------------------------------


def test_closing_stamps_closed_at_and_reopening_clears_it(
    client: TestClient, tenant: Tenant
) -> None:
    follow_up_id = _one_follow_up(client, tenant)
    url = f"{URL}/{follow_up_id}"

    started = client.patch(
        url, json={"status": "in_progress", "note": "고객께 전화"}, headers=tenant.api
    )
    assert started.status_code == 200, started.text
    assert (started.json()["status"], started.json()["closed_at"]) == ("in_progress", None)
    assert started.json()["note"] == "고객께 전화"

    done = client.patch(url, json={"status": "done"}, headers=tenant.api).json()
    assert done["status"] == "done" and done["closed_at"] is not None
    assert done["overdue"] is False
    dismissed = client.patch(url, json={"status": "dismissed"}, headers=tenant.api).json()
    assert dismissed["closed_at"] == done["closed_at"]

    reopened = client.patch(url, json={"status": "open"}, headers=tenant.api).json()
    assert (reopened["status"], reopened["closed_at"]) == ("open", None)
    assert client.get(url, headers=tenant.api).json() == reopened


def test_the_assignee_must_be_a_member_of_the_workspace(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    follow_up_id = _one_follow_up(client, tenant)
    url = f"{URL}/{follow_up_id}"
    agent = make_user(session, workspace=tenant.workspace, role="agent")
    outsider = make_user(session, workspace=Tenant(session).workspace, role="owner")
    session.flush()

    refused = client.patch(url, json={"assignee_id": outsider.id}, headers=tenant.api)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"] == [
        {"field": "assignee_id", "message": "not a member of this workspace"}
    ]

    assigned = client.patch(url, json={"assignee_id": agent.id}, headers=tenant.api)
    assert assigned.status_code == 200 and assigned.json()["assignee_id"] == agent.id
    assert [i["id"] for i in follow_ups(client, tenant, f"?assignee_id={agent.id}")] == [
        follow_up_id
    ]
    # Leaving the field out keeps the assignee; null unassigns.
    kept = client.patch(url, json={"note": "확인 중"}, headers=tenant.api).json()
    assert kept["assignee_id"] == agent.id
    cleared = client.patch(url, json={"assignee_id": None}, headers=tenant.api).json()
    assert cleared["assignee_id"] is None


def test_the_overdue_filter_shows_open_follow_ups_past_due(
    client: TestClient, tenant: Tenant
) -> None:
    old = _one_follow_up(client, tenant, "old", submitted_at="2026-01-09T15:00:00+09:00")
    survey = create(client, tenant, key="fresh")
    go_live(client, tenant, survey["id"])
    submit(client, tenant, survey["id"], answers={"nps": 1, "why_low": "price"})

    assert len(follow_ups(client, tenant)) == 2
    assert [i["id"] for i in follow_ups(client, tenant, "?overdue=true")] == [old]
    client.patch(f"{URL}/{old}", json={"status": "done"}, headers=tenant.api)
    assert follow_ups(client, tenant, "?overdue=true") == []
    assert [i["id"] for i in follow_ups(client, tenant, "?status=done")] == [old]


def test_follow_ups_page_soonest_due_first(client: TestClient, tenant: Tenant) -> None:
    survey = create(client, tenant)
    answers = {"nps": 2, "why_low": "price"}
    days = ["2026-03-04", "2026-03-02", "2026-03-03"]
    rows = [
        {"external_id": f"d{i}", "answers": answers, "submitted_at": f"{day}T10:00:00+09:00"}
        for i, day in enumerate(days)
    ]
    import_rows(client, tenant, survey["id"], rows)

    seen: list[str] = []
    cursor = ""
    while True:
        page = client.get(f"{URL}?limit=2{cursor}", headers=tenant.api).json()
        seen += [i["due_at"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == ["2026-03-04T01:00:00Z", "2026-03-05T01:00:00Z", "2026-03-06T01:00:00Z"]
    assert client.get(f"{URL}?cursor=bm9wZQ", headers=tenant.api).status_code == 422


def test_a_viewer_reads_but_cannot_change_follow_ups(client: TestClient, tenant: Tenant) -> None:
    follow_up_id = _one_follow_up(client, tenant)
    viewer = tenant.key("viewer")
    assert client.get(f"{URL}/{follow_up_id}", headers=viewer).status_code == 200
    refused = client.patch(f"{URL}/{follow_up_id}", json={"status": "done"}, headers=viewer)
    assert refused.status_code == 403
    agent = client.patch(
        f"{URL}/{follow_up_id}", json={"status": "done"}, headers=tenant.key("agent")
    )
    assert agent.status_code == 200


def test_another_workspaces_follow_up_is_not_found(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    follow_up_id = _one_follow_up(client, tenant)
    other = Tenant(session)
    assert client.get(f"{URL}/{follow_up_id}", headers=other.api).status_code == 404
    patched = client.patch(f"{URL}/{follow_up_id}", json={"status": "done"}, headers=other.api)
    assert patched.status_code == 404
    assert client.get(URL, headers=other.api).json()["items"] == []
    assert client.get(f"{URL}/{follow_up_id}", headers=tenant.api).json()["status"] == "open"
