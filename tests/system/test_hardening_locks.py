"""Read paths never take the database's write lock, and a request never waits for a lock its
own session holds: against a real server (committed data), work that only reads answers while
ingestion of other workspaces goes on, on SQLite (one writer at a time) and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, make_url, select, update

from cxloop.core.db import Database, make_engine
from cxloop.models import Event, TextAnalysis, TextCategory, TextModelRun, TextTheme
from cxloop.models import Workspace as WorkspaceRow
from cxloop.models.workspace import ROLES
from tests.conftest import IS_POSTGRES
from tests.factories import (
    PASSWORD,
    basic_auth,
    bearer,
    make_key,
    make_user,
    make_workspace,
    unique,
)

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


# --- every GET reads without the write lock ------------------------------------------------------

API_READS = [
    "/api/v1/customers",
    "/api/v1/text/analyses",
    "/api/v1/text/categories",
    "/api/v1/text/models",
    "/api/v1/outbox",
]
PAGES = [
    "/cx",
    "/customers",
    "/surveys",
    "/text",
    "/text/verbatims",
    "/text/taxonomy",
    "/text/models",
    "/notifications",
    "/settings/outbox",
]


def signed_in(url: str, database: Database) -> httpx.Client:
    """A browser-like client signed in as the owner of a new committed workspace."""
    from tests.helpers.web import HTML, csrf_of

    with database.session() as session:
        workspace = make_workspace(session, slug=unique("locks-web-"))
        user = make_user(session, workspace=workspace, role="owner")
        email = user.email
    client = httpx.Client(base_url=url, timeout=TIMEOUT, headers=HTML)
    reply = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(client)},  # type: ignore[arg-type]
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    return client


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's single write lock")
def test_api_reads_answer_while_another_writer_holds_the_lock(
    live_server: str, database: Database
) -> None:
    # given a workspace whose reads ran once (a first use may write: seeding, "last used")
    workspace = Workspace(database)
    for path in API_READS:
        first = httpx.get(f"{live_server}{path}", headers=workspace.keys["owner"], timeout=TIMEOUT)
        assert first.status_code == 200, (path, first.text)
    # when a writer elsewhere holds SQLite's write lock
    with write_lock_held_elsewhere(database):
        replies = {
            path: httpx.get(
                f"{live_server}{path}", headers=workspace.keys["owner"], timeout=TIMEOUT
            ).status_code
            for path in API_READS
        }
    # then every read answered all the same
    assert replies == dict.fromkeys(API_READS, 200)


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's single write lock")
def test_pages_answer_while_another_writer_holds_the_lock(
    live_server: str, database: Database
) -> None:
    # given a signed-in owner who opened each page once
    browser = signed_in(live_server, database)
    try:
        for path in PAGES:
            first = browser.get(path)
            assert first.status_code == 200, (path, first.status_code)
        # when a writer elsewhere holds SQLite's write lock
        with write_lock_held_elsewhere(database):
            replies = {path: browser.get(path).status_code for path in PAGES}
    finally:
        browser.close()
    # then every page answered all the same
    assert replies == dict.fromkeys(PAGES, 200)


def test_a_read_that_writes_on_first_use_still_writes(live_server: str, database: Database) -> None:
    # given a workspace whose taxonomy was never seeded
    workspace = Workspace(database)
    assert stored(database, TextCategory, workspace.id) == 0
    # when its categories are listed, while another workspace sends events
    listed: list[httpx.Response] = []

    def list_categories() -> None:
        listed.append(
            httpx.get(
                f"{live_server}/api/v1/text/categories",
                headers=workspace.keys["viewer"],
                timeout=TIMEOUT,
            )
        )

    sending = Workspace(database)
    tracks: list[int] = []

    def send() -> None:
        for n in range(10):
            reply = httpx.post(
                f"{live_server}/v1/track",
                json={"userId": "u", "event": "Seen", "messageId": f"seed-{sending.id}-{n}"},
                headers=sending.write,
                timeout=TIMEOUT,
            )
            tracks.append(reply.status_code)

    run_together([list_categories, send])
    # then the default taxonomy was seeded and committed, and listed
    [reply] = listed
    assert reply.status_code == 200, reply.text
    keys = [c["key"] for c in reply.json()["items"]]
    assert len(keys) == stored(database, TextCategory, workspace.id) > 0
    assert tracks == [200] * 10


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's single write lock")
def test_error_pages_answer_while_another_writer_holds_the_lock(
    live_server: str, database: Database
) -> None:
    # given a signed-in owner
    browser = signed_in(live_server, database)
    try:
        # when, while a writer elsewhere holds SQLite's write lock, they open a page that does
        # not exist and send a form without its CSRF token
        with write_lock_held_elsewhere(database):
            missing = browser.get("/customers/999999999")
            forged = browser.post("/notifications/read-all", data={}, follow_redirects=False)
    finally:
        browser.close()
    # then the error pages (which only read who is asking) are shown all the same
    assert missing.status_code == 404, missing.text[:300]
    assert forged.status_code == 403, forged.text[:300]
    assert "<html" in missing.text and "<html" in forged.text


# --- slow work stores its results without holding the lock while it works ----------------------


def track_calls(url: str, workspace: Workspace, count: int, statuses: list[int]) -> None:
    for n in range(count):
        reply = httpx.post(
            f"{url}/v1/track",
            json={"userId": "u", "event": "Seen", "messageId": f"slow-{workspace.id}-{n}"},
            headers=workspace.write,
            timeout=TIMEOUT,
        )
        statuses.append(reply.status_code)


def test_themes_are_recomputed_while_ingestion_proceeds(
    live_server: str, database: Database
) -> None:
    from cxloop.feedback import texts as _survey_texts  # noqa: F401  (the survey source)
    from cxloop.text.sources import SourceText
    from cxloop.text.store import service
    from tests.helpers.text import topic_texts

    # given a workspace with two obvious topics among its comments of the last weeks
    analysing, sending = Workspace(database), Workspace(database)
    now = datetime.now(UTC)
    with database.session() as session:
        service.analyse_and_store(
            session,
            workspace_id=analysing.id,
            source_type="survey_response",
            items=[
                SourceText(source_id=i + 1, text=text, occurred_at=now - timedelta(days=1 + i % 30))
                for i, (_topic, text) in enumerate(topic_texts())
            ],
        )
    recomputed: list[httpx.Response] = []
    tracks: list[int] = []

    def recompute() -> None:
        recomputed.append(
            httpx.post(
                f"{live_server}/api/v1/text/themes/recompute",
                headers=analysing.keys["admin"],
                timeout=TIMEOUT,
            )
        )

    # when its themes are recomputed while another workspace sends events
    run_together([recompute, lambda: track_calls(live_server, sending, 20, tracks)])

    # then both topics are found and stored, and every event was accepted and stored
    [reply] = recomputed
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["items"]) == 2
    assert stored(database, TextTheme, analysing.id) == 2
    assert tracks == [200] * 20
    assert stored(database, Event, sending.id) == 20


def test_a_model_is_retrained_while_ingestion_proceeds(
    live_server: str, database: Database
) -> None:
    from cxloop.text.training import service as retrain

    # given a workspace that asks for its own text model, and another sending events
    training, sending = Workspace(database), Workspace(database)
    outcomes: list[retrain.Outcome] = []
    tracks: list[int] = []

    # when the model is trained (as the worker does) while the events come in
    run_together(
        [
            lambda: outcomes.append(retrain.retrain_workspace(database, workspace_id=training.id)),
            lambda: track_calls(live_server, sending, 20, tracks),
        ]
    )

    # then the model is ready and stored, and every event was accepted and stored
    [outcome] = outcomes
    assert outcome.status == "ready"
    with database.read_session() as session:
        run = session.get(TextModelRun, outcome.run_id)
        assert run is not None and run.status == "ready" and run.model_bytes
    assert tracks == [200] * 20
    assert stored(database, Event, sending.id) == 20


# --- the write-on-demand unit of work itself -----------------------------------------------------


def lock_is_free(database: Database) -> bool:
    """Whether another connection could take SQLite's write lock right now (it does not wait)."""
    path = make_url(database.url).database
    assert path
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()  # rolls back a lock taken
    return True


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's single write lock")
def test_a_write_on_demand_session_takes_the_lock_at_its_first_write(database: Database) -> None:
    slug = unique("on-demand-")
    with database.session(write_on_demand=True) as session:
        # reading takes no lock, even while another writer holds it
        with write_lock_held_elsewhere(database):
            assert session.scalar(select(func.count()).select_from(WorkspaceRow)) is not None
        assert lock_is_free(database)
        # another writer commits a workspace; the first write waits its turn and sees it
        with database.session() as other:
            make_workspace(other, slug=slug)
        session.execute(
            update(WorkspaceRow).where(WorkspaceRow.slug == slug).values(name="renamed")
        )
        assert not lock_is_free(database)
    with database.read_session() as session:
        assert session.scalar(select(WorkspaceRow.name).where(WorkspaceRow.slug == slug)) == (
            "renamed"
        )


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's single write lock")
@pytest.mark.parametrize(
    "lock",
    [
        pytest.param(
            lambda s: s.execute(select(WorkspaceRow.id).with_for_update()), id="for-update"
        ),
        pytest.param(lambda s: (s.begin_nested(), s.scalar(select(1))), id="savepoint"),
    ],
)
def test_locking_reads_and_savepoints_take_the_lock_first(
    database: Database, lock: Callable[[Any], Any]
) -> None:
    with database.session(write_on_demand=True) as session:
        session.scalar(select(func.count()).select_from(WorkspaceRow))
        assert lock_is_free(database)
        lock(session)
        assert not lock_is_free(database)
        session.rollback()
    assert lock_is_free(database)


def test_a_reanalysis_runs_while_ingestion_proceeds_and_keeps_corrections(
    live_server: str, database: Database
) -> None:
    from cxloop.feedback.responses import service as response_service
    from cxloop.feedback.surveys import service as survey_service
    from cxloop.text.store import service, tasks
    from tests.helpers.text import COMMENTS

    # given a workspace whose comments were analysed, one of them corrected by a person
    analysing, sending = Workspace(database), Workspace(database)
    with database.session() as session:
        survey = survey_service.create_survey(
            session,
            workspace_id=analysing.id,
            key="nps",
            name="NPS",
            kind="nps",
            definition={
                "questions": [
                    {"id": "nps", "type": "nps", "text": {"ko": "추천?", "en": "Rec?"}},
                    {"id": "comment", "type": "text", "text": {"ko": "의견", "en": "Say"}},
                ]
            },
        )
        survey_service.set_status(session, survey=survey, status="live")
        for n, comment in enumerate(COMMENTS * 20):
            response_service.submit_response(
                session, survey=survey, answers={"nps": n % 11, "comment": comment}
            )
    first = tasks.reanalyse(
        database, workspace_ids=[analysing.id], source_types=["survey_response"]
    )
    # (the server's bus may have analysed some of them first)
    assert first.texts == stored(database, TextAnalysis, analysing.id) == len(COMMENTS) * 20
    with database.session() as session:
        corrected = session.scalars(
            select(TextAnalysis)
            .where(TextAnalysis.workspace_id == analysing.id, TextAnalysis.sentiment != "neutral")
            .order_by(TextAnalysis.id)
            .limit(1)
        ).one()
        service.correct(session, analysis=corrected, user_id=None, sentiment="neutral")
        corrected_id = corrected.id
    reports: list[tasks.ReanalysisReport] = []
    tracks: list[int] = []

    # when every comment is analysed again, in batches, while another workspace sends events
    run_together(
        [
            lambda: reports.append(
                tasks.reanalyse(
                    database,
                    workspace_ids=[analysing.id],
                    source_types=["survey_response"],
                    force=True,
                    batch_size=25,
                )
            ),
            lambda: track_calls(live_server, sending, 20, tracks),
        ]
    )

    # then every comment was analysed again, the correction still stands, and every event
    # was accepted and stored
    [report] = reports
    assert report.analysed == len(COMMENTS) * 20
    with database.read_session() as session:
        again = session.get(TextAnalysis, corrected_id)
        assert again is not None
        assert (again.sentiment, again.corrected) == ("neutral", ["sentiment"])
    assert tracks == [200] * 20
    assert stored(database, Event, sending.id) == 20
