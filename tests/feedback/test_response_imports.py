"""Answers on the customer's timeline, and `cxloop import responses` from CSV and JSON lines."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import Customer, Event, FollowUp, Response, Workspace
from tests.factories import Tenant, make_customer
from tests.helpers.cli import Cli, workspace_id
from tests.helpers.surveys import create, go_live, nps_definition, submit


def test_a_completed_answer_joins_the_customers_timeline_once(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    customer = make_customer(session, workspace=tenant.workspace, email="timeline@example.com")
    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    partial = submit(
        client, tenant, survey["id"], answers={"nps": 3}, customer_id=customer.id, partial=True
    )
    assert partial.status_code == 201, partial.text
    done = submit(
        client,
        tenant,
        survey["id"],
        answers={"nps": 9, "comment": "빠른 배송"},
        customer_id=customer.id,
        hidden={"touchpoint": "delivery"},
    )
    assert done.status_code == 201, done.text

    events = session.scalars(
        select(Event).where(Event.customer_id == customer.id, Event.name == "Survey Answered")
    ).all()
    # The partial answer is not on the timeline; the completed one is, without its free text.
    assert len(events) == 1
    event = events[0]
    assert event.channel == "survey" and event.type == "track"
    assert event.properties == {
        "survey_id": survey["id"],
        "survey_key": "post-purchase",
        "survey_name": "구매 후 설문",
        "response_id": done.json()["response"]["id"],
        "response_channel": "api",
        "nps": 9,
        "touchpoint": "delivery",
    }
    page = client.get(f"/customers/{customer.id}")
    assert page.status_code in (200, 303)  # the API client has no web session


def test_the_360_timeline_names_the_survey_and_its_score(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    from cxloop.core.i18n import gettext
    from cxloop.core.timeutil import KST
    from cxloop.web.profiles.customers import event_summary
    from cxloop.web.rendering import Formatter

    event = Event(
        name="Survey Answered",
        type="track",
        properties={"survey_name": "배송 만족도", "csat": 2, "response_id": 1},
    )
    summary = event_summary(
        event, Formatter("ko", KST), lambda key, **p: gettext("ko", key, **p), "KRW"
    )
    assert summary == "배송 만족도 · CSAT 2"


CSV = (
    "external_id,email,submitted_at,nps,why_low,liked,comment,hidden.touchpoint\n"
    "t-1,kim@example.com,2026-03-02T10:00:00+09:00,10,,speed|app,최고,store\n"
    "t-2,nobody@example.com,2026-03-03T10:00:00+09:00,2,price,,,web\n"
)


def _survey(database: Database, ws: int) -> Customer:
    with database.session() as session:
        survey = survey_service.create_survey(
            session,
            workspace_id=ws,
            key="typeform-nps",
            name="NPS",
            kind="nps",
            definition=nps_definition(),
        )
        survey_service.set_status(session, survey=survey, status="live")
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        return make_customer(session, workspace=workspace, email="kim@example.com")


def test_import_responses_from_csv_twice_stores_nothing_twice(
    cli: Cli,
    slug: str,
    database: Database,
    tmp_path: Path,
) -> None:
    ws = workspace_id(database, slug)
    kim = _survey(database, ws)
    path = tmp_path / "answers.csv"
    path.write_text(CSV, encoding="utf-8")
    first = cli("import", "responses", str(path), "-w", slug, "--survey", "typeform-nps")
    assert first.code == 0, first.err
    assert first.out.strip().endswith(
        "2 rows read, 2 stored, 0 already there, 1 not linked to a known customer, "
        "0 skipped as invalid."
    )
    again = cli(
        "import", "responses", str(path), "-w", slug, "--survey", "typeform-nps", "--source", "tf"
    )
    assert again.out.strip().endswith(
        "2 rows read, 0 stored, 2 already there, 0 not linked "
        "to a known customer, 0 skipped as invalid."
    )
    with database.session() as session:
        rows = {
            r.external_id: r
            for r in session.scalars(select(Response).where(Response.workspace_id == ws))
        }
        assert rows["t-1"].customer_id == kim.id
        assert rows["t-1"].answers == {"nps": 10, "liked": ["speed", "app"], "comment": "최고"}
        assert rows["t-1"].touchpoint == "store" and rows["t-1"].source == "import"
        assert rows["t-1"].submitted_at.isoformat() == "2026-03-02T01:00:00+00:00"
        assert rows["t-2"].customer_id is None and rows["t-2"].nps == 2
        # The detractor opens a follow-up; the known customer's answer is on their timeline.
        assert (
            session.scalar(select(FollowUp.id).where(FollowUp.response_id == rows["t-2"].id))
            is not None
        )
        assert (
            session.scalar(
                select(Event.id).where(Event.customer_id == kim.id, Event.name == "Survey Answered")
            )
            is not None
        )


def test_an_invalid_response_row_imports_nothing_unless_skip_invalid(
    cli: Cli,
    slug: str,
    database: Database,
    tmp_path: Path,
) -> None:
    ws = workspace_id(database, slug)
    _survey(database, ws)
    path = tmp_path / "answers.jsonl"
    path.write_text(
        '{"external_id": "j-1", "answers": {"nps": 9}}\n'
        '{"external_id": "j-2", "answers": {"nps": 11}}\n'
        "not json\n"
        '{"external_id": "j-3", "answers": {"nps": 4}, "color": "blue"}\n',
        encoding="utf-8",
    )
    refused = cli("import", "responses", str(path), "-w", slug, "--survey", "typeform-nps")
    assert refused.code == 1
    assert refused.error_lines == [
        "answers.jsonl line 2: answers.nps: must be between 0 and 10; got 11",
        "answers.jsonl line 3: line: not a JSON object",
        "answers.jsonl line 4: color: Extra inputs are not permitted",
        "error: 3 invalid rows; nothing was imported. Fix them, or pass --skip-invalid to "
        "import the valid rows.",
    ]
    with database.session() as session:
        assert session.scalar(select(Response.id).where(Response.workspace_id == ws)) is None
    skipped = cli(
        "import", "responses", str(path), "-w", slug, "--survey", "typeform-nps", "--skip-invalid"
    )
    assert skipped.code == 0
    assert "4 rows read, 1 stored" in skipped.out

    unknown = cli("import", "responses", str(path), "-w", slug, "--survey", "nope")
    assert unknown.code == 1
    assert unknown.error_lines == ["error: No survey with key 'nope' in this workspace."]
