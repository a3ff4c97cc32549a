"""Jobs after commit: a job asked for inside a unit of work is enqueued only when its
transaction commits (never when it rolls back, once however often it was asked for), on an
immediate queue, through a real consumer and on Redis; the outbox's sender and a text model's
retraining start that way, without waiting for a timer."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from huey import MemoryHuey, RedisHuey, signals
from huey.api import Huey, TaskWrapper
from huey.consumer import Consumer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cxloop.channels import outbox
from cxloop.channels import tasks as channel_tasks
from cxloop.core.db import Database
from cxloop.core.jobs import after_commit
from cxloop.core.settings import Settings
from cxloop.models import TextModelRun, Workspace
from tests.factories import Tenant, held_jobs, make_workspace, unique

REDIS_URL = os.environ.get("CXLOOP_TEST_REDIS_URL")


class _Consumer(Consumer):
    """A real Huey consumer in threads of this process (signals stay pytest's)."""

    def _set_signal_handlers(self) -> None:
        return None


class Recorder:
    """A Huey task that records the workspace it was given as a fresh session finds it
    (``None`` when the row is not committed)."""

    def __init__(self, queue: Huey, database: Database) -> None:
        self.seen: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()

        @queue.task()
        def look_up(workspace_id: int) -> None:
            with database.read_session() as s:
                found = s.get(Workspace, workspace_id)
                slug = found.slug if found is not None else None
            with self._lock:
                self.seen.append((workspace_id, slug))

        self.task: TaskWrapper = look_up

    def wait(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.02)


def _forget(database: Database, workspace_ids: list[int]) -> None:
    with database.session() as s:
        s.execute(delete(Workspace).where(Workspace.id.in_(workspace_ids)))


# --- the joint -----------------------------------------------------------------------------------


ROLLBACKS: dict[str, Callable[[Session], None]] = {
    "rollback": lambda s: s.rollback(),
    "close": lambda s: s.close(),
    # A savepoint released inside the transaction is no commit.
    "savepoint-then-rollback": lambda s: (s.begin_nested().commit(), s.rollback()),
}


@pytest.mark.parametrize("end", ROLLBACKS.values(), ids=ROLLBACKS.keys())
def test_a_job_of_a_transaction_that_rolls_back_never_runs(
    database: Database, end: Callable[[Session], None]
) -> None:
    queue = MemoryHuey(unique("after-commit-"), immediate=True)
    recorder = Recorder(queue, database)
    s = database.sessionmaker()
    workspace = make_workspace(s, slug=unique("rolled-back-"))
    after_commit(s, recorder.task, workspace.id)
    end(s)
    s.close()
    assert recorder.seen == []
    # and the session's next transaction does not carry it over
    with database.session() as again:
        again.scalar(select(Workspace.id).limit(1))
    assert recorder.seen == []


def test_a_job_of_a_unit_of_work_that_fails_never_runs(database: Database) -> None:
    queue = MemoryHuey(unique("after-commit-"), immediate=True)
    recorder = Recorder(queue, database)
    with pytest.raises(RuntimeError), database.session() as s:
        workspace = make_workspace(s, slug=unique("failed-"))
        after_commit(s, recorder.task, workspace.id)
        raise RuntimeError("the request failed")
    assert recorder.seen == []


@pytest.fixture(params=["immediate", "consumer", "redis"])
def queue(request: pytest.FixtureRequest) -> Iterator[Huey]:
    """Huey at once (as in tests), Huey with a real consumer, and Huey on Redis with one."""
    if request.param == "immediate":
        yield MemoryHuey(unique("after-commit-"), immediate=True)
        return
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("CXLOOP_TEST_REDIS_URL is not set")
        real: Huey = RedisHuey(unique("cxloop-test-"), url=REDIS_URL)
    else:
        real = MemoryHuey(unique("after-commit-"))
    yield real
    real.storage.flush_all()


def _start(queue: Huey) -> _Consumer | None:
    if queue.immediate:
        return None
    consumer = _Consumer(
        queue, workers=2, worker_type="thread", periodic=False, check_worker_health=False
    )
    consumer.start()
    return consumer


def test_a_job_of_a_committed_transaction_runs_once_and_sees_the_rows(
    database: Database, queue: Huey
) -> None:
    recorder = Recorder(queue, database)
    consumer = _start(queue)
    slug = unique("committed-")
    try:
        with database.session() as s:
            workspace = make_workspace(s, slug=slug)
            # asked for three times, in a released savepoint too, with flushes in between
            after_commit(s, recorder.task, workspace.id)
            s.flush()
            with s.begin_nested():
                after_commit(s, recorder.task, workspace.id)
                s.flush()
            after_commit(s, recorder.task, workspace.id)
            s.flush()
            time.sleep(0.2)  # a consumer would have had time to run an early job
            assert recorder.seen == []
            assert len(queue) == 0  # nothing waits in the queue before the commit
        recorder.wait(1)
        time.sleep(0.3)  # and a second run would have had time to show up
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)
        _forget(database, [workspace.id])
    assert recorder.seen == [(workspace.id, slug)]


def test_savepoints_hold_their_jobs_until_the_transaction_commits(
    database: Database,
) -> None:
    queue = MemoryHuey(unique("after-commit-"), immediate=True)
    recorder = Recorder(queue, database)
    with database.session() as s:
        kept = make_workspace(s, slug=unique("kept-"))
        inner = make_workspace(s, slug=unique("inner-"))
        dropped = make_workspace(s, slug=unique("dropped-"))
        after_commit(s, recorder.task, kept.id)
        with s.begin_nested(), s.begin_nested():
            after_commit(s, recorder.task, inner.id)
        savepoint = s.begin_nested()
        after_commit(s, recorder.task, dropped.id)
        savepoint.rollback()
        assert recorder.seen == []
    try:
        assert sorted(recorder.seen) == sorted([(kept.id, kept.slug), (inner.id, inner.slug)])
    finally:
        _forget(database, [kept.id, inner.id, dropped.id])


def test_a_test_session_commits_when_it_releases_its_savepoint(
    tx_database: Database, session: Session
) -> None:
    """The tests' sessions are savepoints of one outer transaction: their commit is what
    counts, so a test observes the job (through the same database) as production would."""
    queue = MemoryHuey(unique("after-commit-"), immediate=True)
    recorder = Recorder(queue, tx_database)
    workspace = make_workspace(session, slug=unique("tx-"))
    after_commit(session, recorder.task, workspace.id)
    assert recorder.seen == []
    session.commit()
    assert recorder.seen == [(workspace.id, workspace.slug)]


# --- the outbox starts its sender after commit ---------------------------------------------------


@pytest.fixture
def smtp(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")


def _queue_mail(s: Session, workspace: Workspace) -> None:
    outbox.queue_email(
        s,
        workspace_id=workspace.id,
        recipient=f"{unique('minji')}@example.com",
        subject="설문에 참여해 주세요",
        text="고맙습니다",
        dedupe_key=unique("mail-"),
    )


def _senders(queue: Huey) -> int:
    return sum(
        1 for t in queue.pending() if t.name == channel_tasks.send_outbox.task_class.__name__
    )


def test_mail_queued_before_a_released_savepoint_is_not_sent_before_the_commit(
    tx_database: Database, session: Session, smtp: None
) -> None:
    # given a workspace, and jobs that wait in the queue
    workspace = make_workspace(session)
    session.commit()
    with held_jobs() as queue:
        s = tx_database.sessionmaker()
        # when mail is queued, then a savepoint is released (as a notice does for each
        # member) and the transaction rolls back
        _queue_mail(s, workspace)
        with s.begin_nested():
            s.flush()
        assert _senders(queue) == 0
        s.rollback()
        s.close()
        # then no sender was ever started
        assert _senders(queue) == 0


def test_mail_queued_before_a_rolled_back_savepoint_starts_the_sender_at_commit(
    tx_database: Database, session: Session, smtp: None
) -> None:
    workspace = make_workspace(session)
    session.commit()
    with held_jobs() as queue:
        with tx_database.session() as s:
            _queue_mail(s, workspace)
            s.flush()
            _queue_mail(s, workspace)
            savepoint = s.begin_nested()  # a duplicate notice, say, undone
            savepoint.rollback()
            assert _senders(queue) == 0
        # one sender for both messages, started by the commit
        assert _senders(queue) == 1


def test_without_smtp_no_sender_is_started(tx_database: Database, session: Session) -> None:
    workspace = make_workspace(session)
    session.commit()
    with held_jobs() as queue:
        with tx_database.session() as s:
            _queue_mail(s, workspace)
        assert len(queue) == 0


# --- retraining a text model starts when the request commits -------------------------------------


def test_retraining_starts_after_the_request_commits_without_a_delay(
    live_server: str, database: Database
) -> None:
    # given a committed workspace, and jobs that wait for a worker
    with database.session() as s:
        tenant = Tenant(s)
    workspace_id = tenant.id
    committed: list[bool] = []

    def on_enqueue(signal: str, task: Any) -> None:
        with database.read_session() as s:
            committed.append(
                s.scalar(select(TextModelRun.id).where(TextModelRun.workspace_id == workspace_id))
                is not None
            )

    try:
        with held_jobs() as queue:
            queue.signal(signals.SIGNAL_ENQUEUED)(on_enqueue)
            try:
                # when the owner asks for a retraining
                reply = httpx.post(
                    f"{live_server}/api/v1/text/models/retrain", headers=tenant.api, timeout=30
                )
                assert reply.status_code == 202, reply.text
                run_id = reply.json()["id"]
                # then its job was enqueued once, when the run was already committed, to
                # start at once
                [job] = queue.pending()
                assert (job.args, job.eta) == ((run_id,), None)
                assert committed == [True]
                # and a real worker trains the run
                asked = time.monotonic()
                consumer = _start(queue)
                assert consumer is not None
                try:
                    status = "queued"
                    while status in ("queued", "training") and time.monotonic() - asked < 90:
                        time.sleep(0.1)
                        with database.read_session() as s:
                            status = s.scalars(
                                select(TextModelRun.status).where(TextModelRun.id == run_id)
                            ).one()
                finally:
                    consumer.stop(graceful=True)
            finally:
                queue.disconnect_signal(on_enqueue)
        assert status == "ready"
        with database.read_session() as s:
            run = s.get(TextModelRun, run_id)
            assert run is not None and run.started_at is not None
            assert run.started_at >= run.created_at
    finally:
        _forget(database, [workspace_id])
