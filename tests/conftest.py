"""Shared fixtures: a database built by the migrations (SQLite by default, PostgreSQL when
CXLOOP_TEST_DATABASE_URL says so), each test in a transaction rolled back afterwards."""

from __future__ import annotations

import io
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="cxloop-tests-"))
os.environ["CXLOOP_ENV"] = "test"
os.environ["CXLOOP_DATA_DIR"] = str(_TMP)
os.environ.setdefault("CXLOOP_SECRET_KEY", "test-secret-key-that-is-long-enough-0123456789")
os.environ.pop("CXLOOP_DATABASE_URL", None)
os.environ.pop("CXLOOP_REDIS_URL", None)

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Connection, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from cxloop import domains  # noqa: E402
from cxloop.cli import main  # noqa: E402
from cxloop.core.db import Database, make_engine  # noqa: E402
from cxloop.core.migrate import upgrade  # noqa: E402
from cxloop.core.settings import Settings, get_settings, reset_settings  # noqa: E402
from tests.factories import unique  # noqa: E402
from tests.helpers.cli import Cli, Result  # noqa: E402
from tests.helpers.imap import dovecot, dovecot_server  # noqa: E402, F401 (fixtures)

domains.install()  # as the app, the CLI and the worker do: every domain plugged in

TEST_DATABASE_URL = os.environ.get("CXLOOP_TEST_DATABASE_URL") or (f"sqlite:///{_TMP / 'test.db'}")
IS_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url() -> str:
    """A database at the newest migration, built once per test run."""
    if IS_POSTGRES:
        _reset_postgres(TEST_DATABASE_URL)
    upgrade(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    os.environ["CXLOOP_DATABASE_URL"] = database_url
    reset_settings()
    return get_settings()


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    """The real database; data written through it is committed (for live-server tests)."""
    from cxloop.core import db

    database = Database(settings.db_url)
    db.set_database(database)
    yield database
    database.dispose()


class TransactionalDatabase(Database):
    """A Database whose sessions all live inside one outer transaction that is rolled back
    (so they share one connection, and reads run one after another)."""

    concurrent_reads = False

    def __init__(self, url: str, connection: Connection) -> None:
        self.url = url
        self.engine = connection.engine
        self.sessionmaker = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        self.read_sessionmaker = self.sessionmaker


@pytest.fixture
def tx_database(database: Database) -> Iterator[TransactionalDatabase]:
    with database.engine.connect() as connection:
        transaction = connection.begin()
        yield TransactionalDatabase(database.url, connection)
        transaction.rollback()


@pytest.fixture
def session(tx_database: TransactionalDatabase) -> Iterator[Session]:
    """A session for the test's own setup and checks, rolled back at the end."""
    with tx_database.sessionmaker() as session:
        yield session


@pytest.fixture
def app(settings: Settings, tx_database: TransactionalDatabase):  # type: ignore[no-untyped-def]
    from cxloop.app import create_app

    app = create_app(settings, database=tx_database)
    app.state.rate_limiter.reset()  # with Redis, counts would carry over from other tests
    return app


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(app, port: int) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serve ``app`` with uvicorn on a real local port for the duration of the block."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(settings: Settings, database: Database) -> Iterator[str]:
    """A real cxloop server (committed data, background bus pump) on a free local port."""
    from cxloop.app import create_app

    app = create_app(settings, database=database, background=True)
    app.state.rate_limiter.reset()
    with running_server(app, free_port()) as url:
        yield url


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def browser_page(live_server: str) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            locale="ko-KR", viewport={"width": 1360, "height": 900}, device_scale_factor=1
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.problems = problems  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def tenant(session: Session):  # type: ignore[no-untyped-def]
    """A workspace with an owner API key and a write key, inside the test's transaction."""
    from tests.factories import Tenant

    return Tenant(session)


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, database: Database
) -> Cli:
    """Run `cxloop ARGS` in this process, the way the console script does."""

    def run(*args: str, stdin: str = "") -> Result:
        monkeypatch.setattr(sys, "argv", ["cxloop", *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def slug(cli: Cli) -> str:
    """A new committed workspace."""
    name = unique("cli-")
    assert cli("workspace", "create", f"Shop {name}", "--slug", name).code == 0
    return name


@pytest.fixture
def inbox() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on a free local port that keeps what it receives."""
    from tests.helpers.smtp import SmtpInbox

    server = SmtpInbox()
    server.start()
    try:
        yield server
    finally:
        server.stop()
