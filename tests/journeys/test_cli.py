"""`cxloop journeys funnel` and `retention` for scripts: one JSON object, the same shapes as the
API, and one-line errors for bad options."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from cxloop.core.db import Database
from cxloop.models import Customer, Event
from tests.factories import unique
from tests.helpers.cli import Cli, workspace_id
from tests.journeys.story import KST, STEPS, shop_story


def test_the_funnel_command_prints_persons_per_step_and_breakdown(
    cli: Cli, slug: str, database: Database
) -> None:
    with database.session() as session:
        shop_story(session, workspace_id(database, slug))

    ran = cli(
        "journeys", "funnel", "--workspace", slug, "--steps", STEPS,
        "--from", "2026-03-02", "--to", "2026-03-08", "--breakdown", "platform",
    )  # fmt: skip

    assert ran.code == 0, ran.output
    body = json.loads(ran.out)
    assert [s["persons"] for s in body["steps"]] == [6, 5, 5, 3]
    assert body["time_to_convert"]["median_seconds"] == 21600.0
    assert {g["value"]: g["persons"] for g in body["breakdown"]}["ios"] == [2, 2, 2, 0]


def test_a_window_of_one_hour_keeps_only_the_quick_buyers(
    cli: Cli, slug: str, database: Database
) -> None:
    with database.session() as session:
        shop_story(session, workspace_id(database, slug))

    ran = cli(
        "journeys", "funnel", "--workspace", slug, "--steps", STEPS, "--window-days", "0.05",
        "--from", "2026-03-02", "--to", "2026-03-08",
    )  # fmt: skip

    assert ran.code == 0, ran.output
    # 1.2 hours: web1 (20 minutes) converts; web2 checked out within the hour but ordered a
    # day later; ios2 and web3 checked out hours after viewing.
    assert [s["persons"] for s in json.loads(ran.out)["steps"]] == [6, 5, 3, 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--steps", "A"), "steps", id="one-step"),
        pytest.param(("--steps", "A,,B"), "no empty name", id="empty-name"),
        pytest.param(("--steps", "A,B", "--order", "sideways"), "order", id="order"),
        pytest.param(("--steps", "A,B", "--from", "March"), "--from", id="date"),
        pytest.param(("--steps", "A,B", "--window-days", "0"), "window_days", id="window"),
    ],
)
def test_bad_funnel_options_get_one_line(
    cli: Cli, slug: str, args: tuple[str, ...], message: str
) -> None:
    ran = cli("journeys", "funnel", "--workspace", slug, *args)

    assert ran.code == 2
    assert len(ran.error_lines) == 1 and message in ran.err, ran.err


def test_the_retention_command_prints_the_cohort_table(
    cli: Cli, slug: str, database: Database
) -> None:
    monday = datetime(2026, 3, 2, 12, tzinfo=KST)
    with database.session() as session:
        ws = workspace_id(database, slug)
        people = [Customer(workspace_id=ws) for _ in range(4)]
        session.add_all(people)
        session.flush()
        plan = [
            (0, "Signed Up", 0), (0, "Order Completed", 8), (0, "Order Completed", 15),
            (1, "Signed Up", 1), (1, "Order Completed", 16),
            (2, "Signed Up", 7), (2, "Order Completed", 7),  # the same week: not a return
            (3, "Signed Up", 9), (3, "Order Completed", 14),
        ]  # fmt: skip
        for who, name, days in plan:
            at = monday + timedelta(days=days)
            session.add(
                Event(
                    workspace_id=ws, customer_id=people[who].id, message_id=unique("m-"),
                    type="track", name=name, channel="web", timestamp=at, received_at=at,
                    properties={}, context={},
                )
            )  # fmt: skip

    ran = cli(
        "journeys", "retention", "--workspace", slug, "--start-event", "Signed Up",
        "--return-event", "Order Completed", "--period", "week", "--periods", "2",
        "--from", "2026-03-02",
    )  # fmt: skip

    assert ran.code == 0, ran.output
    body = json.loads(ran.out)
    cohorts = [(c["start"], c["persons"], c["retained"]) for c in body["cohorts"]]
    assert cohorts == [("2026-03-02", 2, [1, 2]), ("2026-03-09", 2, [1, 0])]
    assert body["average"] == [0.5, 0.5]
