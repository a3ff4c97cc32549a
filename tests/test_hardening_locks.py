"""Read paths never take the database's write lock, and a request never waits for a lock its
own session holds: against a real server (committed data), work that only reads answers while
ingestion of other workspaces goes on, on SQLite (one writer at a time) and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cxloop.core.db import Database, make_engine
from cxloop.models import Event, TextCategory, TextModelRun
from cxloop.models.workspace import ROLES
from tests.conftest import IS_POSTGRES
from tests.factories import basic_auth, bearer, make_key, make_workspace, unique

pytestmark = pytest.mark.live

# Long enough that a request stuck behind a lock answers (503 after SQLite's 30 s busy timeout)
# rather than the client giving up: the tests assert what the server answered.
TIMEOUT = 120.0
TEXTS = [
    "배송은 늦었지만 상담원은 친절했어요",
    "The app keeps crashing when I pay.",
    "포장이 꼼꼼하고 제품 품질이 좋아요",
    "Refund took three weeks, never again.",
]


class Workspace:
    """A committed workspace with an API key per role and a write key."""

    def __init__(self, database: Database) -> None:
        with database.session() as session:
            workspace = make_workspace(session, slug=unique("locks-"))
            self.id = workspace.id
            self.keys = {
                role: bearer(make_key(session, workspace=workspace, role=role)[1]) for role in ROLES
            }
            self.write = basic_auth(make_key(session, workspace=workspace, kind="write")[1])


def analyse(url: str, headers: dict[str, str], texts: list[str]) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/text/analyze",
        json={"texts": texts, "model": "workspace"},
        headers=headers,
        timeout=TIMEOUT,
    )


def stored(database: Database, model: Any, workspace_id: int) -> int:
    with database.read_session() as session:
        return int(
            session.scalar(select(func.count()).where(model.workspace_id == workspace_id)) or 0
        )


def run_together(jobs: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=4 * TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)


@contextmanager
def write_lock_held_elsewhere(database: Database) -> Iterator[None]:
    """Another process's writer in the middle of its transaction (SQLite: the one write lock)."""
    engine = make_engine(database.url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")  # the engine's BEGIN IMMEDIATE: the lock is taken
            yield
            conn.rollback()
    finally:
        engine.dispose()


def test_every_role_analyses_with_the_workspace_model_and_nothing_is_written(
    live_server: str, database: Database
) -> None:
    # given a workspace that never used its text model (no taxonomy, no model run yet)
    workspace = Workspace(database)
    for role in ROLES:
        # when each role analyses texts with the workspace model
        reply = analyse(live_server, workspace.keys[role], TEXTS)
        # then it gets the analyses
        assert reply.status_code == 200, (role, reply.status_code, reply.text)
        items = reply.json()["items"]
        assert [i["lang"] for i in items] == ["ko", "en", "ko", "en"], role
        assert items[0]["categories"] and items[1]["sentiment"] == "negative", role
    # and analysing wrote nothing: the first use reads the default taxonomy and shipped model
    assert stored(database, TextCategory, workspace.id) == 0
    assert stored(database, TextModelRun, workspace.id) == 0


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's single write lock")
def test_the_analysis_answers_while_another_writer_holds_the_lock(
    live_server: str, database: Database
) -> None:
    # given a workspace whose key was used a moment ago (so "last used" is not due)
    workspace = Workspace(database)
    assert analyse(live_server, workspace.keys["viewer"], TEXTS[:1]).status_code == 200
    # when a writer elsewhere holds SQLite's write lock during the analysis
    with write_lock_held_elsewhere(database):
        reply = analyse(live_server, workspace.keys["viewer"], TEXTS)
    # then the analysis, which only reads, answered all the same
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["items"]) == len(TEXTS)


def test_ingestion_of_another_workspace_proceeds_during_analyses(
    live_server: str, database: Database
) -> None:
    # given one workspace analysing texts and another sending events
    analysing, sending = Workspace(database), Workspace(database)
    analyses: list[int] = []
    tracks: list[int] = []
    lock = threading.Lock()

    def analyst(role: str) -> Callable[[], None]:
        def run() -> None:
            for _ in range(3):
                status = analyse(live_server, analysing.keys[role], TEXTS * 5).status_code
                with lock:
                    analyses.append(status)

        return run

    def sender(client_no: int) -> Callable[[], None]:
        def run() -> None:
            for n in range(8):
                reply = httpx.post(
                    f"{live_server}/v1/track",
                    json={
                        "userId": f"u{client_no}",
                        "event": "Order Completed",
                        "messageId": f"locks-{sending.id}-{client_no}-{n}",
                    },
                    headers=sending.write,
                    timeout=TIMEOUT,
                )
                with lock:
                    tracks.append(reply.status_code)

        return run

    # when two analysts and four ingestion clients run at the same time
    run_together([analyst("viewer"), analyst("analyst")] + [sender(c) for c in range(4)])

    # then every analysis and every event was answered 200, and every event was stored
    assert analyses == [200] * 6
    assert tracks == [200] * 32
    assert stored(database, Event, sending.id) == 32
