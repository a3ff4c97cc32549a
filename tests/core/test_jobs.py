"""Background jobs: Huey in the test environment, on Redis through a real consumer, and the
periodic jobs of the foundation (bus drain, churn marking)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from huey import MemoryHuey, RedisHuey, SqliteHuey
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core import jobs
from cxloop.core.background import EmbeddedConsumer
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.events import tasks as event_tasks
from cxloop.models import Customer
from cxloop.profiles import tasks as profile_tasks
from cxloop.profiles.identity import merge_customers
from cxloop.profiles.tasks import mark_churned
from tests.factories import make_customer, make_workspace, unique

REDIS_URL = os.environ.get("CXLOOP_TEST_REDIS_URL")
NOW = datetime.now(UTC)


def test_jobs_run_at_once_in_the_test_environment() -> None:
    assert isinstance(jobs.huey, MemoryHuey)
    assert jobs.huey.immediate


def test_drain_bus_task_runs_the_consumers(
    tx_database: Database, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an event nobody has read yet
    from cxloop.events.segment import parse_message
    from cxloop.events.service import ingest

    monkeypatch.setattr(event_tasks, "get_database", lambda: tx_database)
    event_tasks.drain_bus.call_local()  # leftovers of other tests
    workspace = make_workspace(session)
    message = parse_message(
        {"userId": "u1", "event": "Opened", "timestamp": "2026-01-02T03:04:05Z"},
        type_="track",
        index=None,
        received_at=NOW - timedelta(minutes=5),
    )
    result = ingest(
        session, workspace=workspace, messages=[message], received_at=NOW - timedelta(minutes=5)
    )
    session.commit()  # releases the test's savepoint so the job's session sees the row
    # when the periodic job runs
    handled = event_tasks.drain_bus.call_local()
    # then it handled the event and the profile shows it
    assert handled >= 1
    customer = session.get(Customer, result.customer_ids[0], populate_existing=True)
    assert customer is not None
    assert (customer.event_count, customer.last_seen_at) == (
        1,
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


CHURN_CASES = [
    pytest.param("lead", 200, False, False, "churned", id="inactive-lead"),
    pytest.param("customer", 181, False, False, "churned", id="inactive-customer"),
    pytest.param("repeat", 365, False, False, "churned", id="inactive-repeat"),
    pytest.param("customer", 179, False, False, "customer", id="recently-active"),
    pytest.param("anonymous", 400, False, False, "anonymous", id="anonymous"),
    pytest.param("lead", None, False, False, "lead", id="never-seen"),
    pytest.param("lead", 400, True, False, "lead", id="erased"),
    pytest.param("lead", 400, False, True, "lead", id="merged"),
]


@pytest.mark.parametrize(("stage", "days", "erased", "merged", "after"), CHURN_CASES)
def test_mark_churned_marks_only_inactive_identified_customers(
    session: Session,
    stage: str,
    days: int | None,
    erased: bool,
    merged: bool,
    after: str,
) -> None:
    workspace = make_workspace(session)
    customer = make_customer(session, workspace=workspace)
    customer.lifecycle_stage = stage
    customer.last_seen_at = None if days is None else NOW - timedelta(days=days)
    customer.erased_at = NOW if erased else None
    if merged:
        survivor = make_customer(session, workspace=workspace)
        survivor.created_at = customer.created_at - timedelta(days=1)
        merge_customers(session, survivor=survivor, merged=customer, reason="test")
        customer.lifecycle_stage = stage
        survivor.last_seen_at = NOW  # the survivor itself is active; only the merged row is old
    session.flush()
    marked = mark_churned(session, workspace=workspace)
    session.refresh(customer)
    assert customer.lifecycle_stage == after
    assert marked == (1 if after == "churned" else 0)


def test_the_churn_window_is_the_workspaces(session: Session) -> None:
    workspace = make_workspace(session)
    workspace.churn_after_days = 30
    gone = make_customer(session, workspace=workspace)
    gone.last_seen_at = NOW - timedelta(days=31)
    here = make_customer(session, workspace=workspace)
    here.last_seen_at = NOW - timedelta(days=29)
    session.flush()
    assert mark_churned(session, workspace=workspace) == 1
    session.refresh(gone)
    session.refresh(here)
    assert (gone.lifecycle_stage, here.lifecycle_stage) == ("churned", "lead")


def test_daily_churn_job_covers_every_workspace_and_is_safe_to_rerun(
    tx_database: Database, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_tasks, "get_database", lambda: tx_database)
    customers = []
    for _ in range(2):
        workspace = make_workspace(session)
        customer = make_customer(session, workspace=workspace)
        customer.last_seen_at = NOW - timedelta(days=365)
        customers.append(customer.id)
    session.commit()
    first = profile_tasks.mark_churned_everywhere.call_local()
    second = profile_tasks.mark_churned_everywhere.call_local()
    stages = session.scalars(
        select(Customer.lifecycle_stage)
        .where(Customer.id.in_(customers))
        .execution_options(populate_existing=True)
    ).all()
    assert stages == ["churned", "churned"]
    assert first >= 2
    assert second == 0


# --- which Huey, and Huey on Redis ---


@pytest.mark.parametrize(
    ("env", "redis", "kind"),
    [
        pytest.param("test", None, MemoryHuey, id="test"),
        pytest.param("development", None, SqliteHuey, id="embedded"),
        pytest.param("production", "redis://127.0.0.1:6379/15", RedisHuey, id="redis"),
        pytest.param("test", "redis://127.0.0.1:6379/15", RedisHuey, id="test-with-redis"),
    ],
)
def test_the_job_queue_follows_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str, redis: str | None, kind: type
) -> None:
    settings = Settings(env=env, redis_url=redis, data_dir=tmp_path, secret_key="x" * 40)  # type: ignore[arg-type]
    monkeypatch.setattr(jobs, "get_settings", lambda: settings)
    huey = jobs.make_huey()
    assert type(huey) is kind
    if kind is SqliteHuey:
        assert Path(huey.storage.filename) == tmp_path / "jobs.db"


@pytest.mark.skipif(not REDIS_URL, reason="CXLOOP_TEST_REDIS_URL is not set")
def test_a_job_round_trips_through_redis_and_a_real_consumer(database: Database) -> None:
    # given a committed workspace with one long-inactive lead
    with database.session() as s:
        workspace = make_workspace(s, slug=unique("redis-"))
        customer = make_customer(s, workspace=workspace)
        customer.last_seen_at = NOW - timedelta(days=400)
        workspace_id, customer_id = workspace.id, customer.id
    huey = RedisHuey(unique("cxloop-test-"), url=REDIS_URL)

    @huey.task()
    def churn(workspace_id: int) -> int:
        from cxloop.models import Workspace

        with database.session() as s:
            ws = s.get(Workspace, workspace_id)
            assert ws is not None
            return mark_churned(s, workspace=ws)

    consumer = EmbeddedConsumer(
        huey, workers=2, worker_type="thread", periodic=False, check_worker_health=False
    )
    consumer.start()
    try:
        # when the job is enqueued on Redis
        result = churn(workspace_id)
        # then a consumer thread runs it and its result comes back through Redis
        assert result.get(blocking=True, timeout=20) == 1
    finally:
        consumer.stop(graceful=True)
        huey.storage.flush_all()
    with database.session() as s:
        assert s.get(Customer, customer_id).lifecycle_stage == "churned"  # type: ignore[union-attr]
