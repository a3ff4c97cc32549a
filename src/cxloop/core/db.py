"""Database engine and sessions. SQLite (WAL) by default, PostgreSQL in production."""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cxloop.core.settings import Settings, get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")


def _json_dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # Only integers past 64 bits fail here (the types we store are all JSON's); they are
        # kept as the nearest float, as orjson reads such a number from a request body.
        return orjson.dumps(_wide_ints_as_floats(value), option=orjson.OPT_NON_STR_KEYS).decode()


def _wide_ints_as_floats(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if -(2**63) <= value < 2**64:
            return value
        try:
            return float(value)
        except OverflowError:  # past 1e308 not even a float holds it: keep its digits
            return str(value)
    if isinstance(value, dict):
        return {k: _wide_ints_as_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wide_ints_as_floats(v) for v in value]
    return value


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before the HTTP 200 goes out, so an accepted event survives a
    # crash of the process or of the machine.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


READ_ONLY = "cxloop_read_only"  # execution option of the sessions that only read
# Execution option of the sessions that mostly read (a GET request's): SQLite's write lock is
# taken at their first write, not at their first read.
WRITE_ON_DEMAND = "cxloop_write_on_demand"
_READING = "cxloop_reading"  # connection info: a write-on-demand transaction has not written


def _begin_immediate(conn: Any) -> None:
    options = conn.get_execution_options()
    conn.info[_READING] = False
    if options.get(READ_ONLY):
        # A reader in WAL mode sees one snapshot and neither waits for nor blocks a writer.
        conn.exec_driver_sql("BEGIN")
        return
    if options.get(WRITE_ON_DEMAND):
        conn.exec_driver_sql("BEGIN")
        conn.info[_READING] = True
        return
    # Writers take the lock up front, so two writers never deadlock upgrading a read lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _only_reads(statement: str, context: Any) -> bool:
    element = getattr(getattr(context, "compiled", None), "statement", None)
    if element is not None and getattr(element, "is_select", False):
        # SELECT ... FOR UPDATE asks for the lock a writer has: it is taken before it.
        return getattr(element, "_for_update_arg", None) is None
    return statement.lstrip()[:6].upper() == "SELECT"


def _lock_on_first_write(
    conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: bool
) -> tuple[str, Any]:
    """Before the first statement of a write-on-demand transaction that writes (or locks
    rows, or sets a savepoint), end its read-only part and begin again holding the write
    lock, so the write waits its turn as any writer's does instead of failing on a stale
    snapshot. The reads before it behave as PostgreSQL's READ COMMITTED reads do: later
    statements see what others committed in between."""
    if conn.info.get(_READING) and not _only_reads(statement, context):
        conn.info[_READING] = False
        dbapi_connection = conn.connection.dbapi_connection
        try:
            dbapi_connection.execute("COMMIT")  # nothing written yet: it only ends the snapshot
            dbapi_connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
    return statement, parameters


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with cxloop's connection settings."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        event.listen(engine, "connect", _set_sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _begin_immediate)
        event.listen(engine, "before_cursor_execute", _lock_on_first_write, retval=True)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql+psycopg"):
        # psycopg prepares a statement run five times on one connection; PostgreSQL may then
        # switch it to a generic plan, which for the dashboard's range and cohort queries was
        # minutes instead of milliseconds. Keep the prepared statements, plan each execution
        # for its own parameters. JIT compilation is off: on segment counts over millions of
        # events it took half the query's time (3.4 of 7.2 s) and never paid for itself.
        connect_args["options"] = "-c plan_cache_mode=force_custom_plan -c jit=off"
    return create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args=connect_args,
        **kwargs,
    )


# Threads that run the independent reads of one page side by side (Database.read_all), shared
# by every request so a busy server opens at most this many extra connections for them.
READ_WORKERS = 4
_readers: ThreadPoolExecutor | None = None
_readers_lock = threading.Lock()


def _reader_pool() -> ThreadPoolExecutor:
    global _readers
    with _readers_lock:
        if _readers is None:
            _readers = ThreadPoolExecutor(
                max_workers=READ_WORKERS, thread_name_prefix="cxloop-read"
            )
        return _readers


class Database:
    """An engine and its session factories."""

    # Whether sessions of their own may run on other threads at the same time (not when every
    # session shares one connection, as an in-memory SQLite database does).
    concurrent_reads: bool = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        database = make_url(url).database
        in_memory = url.startswith("sqlite") and (
            database in (None, "", ":memory:") or "mode=memory" in url
        )
        self.concurrent_reads = not in_memory

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, *, write_on_demand: bool = False) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error. With ``write_on_demand``
        (for work that mostly reads, such as a GET request) SQLite's write lock is taken at
        the first write rather than up front, so reading never holds back the writers."""
        bind = self.sessionmaker.kw.get("bind")
        if write_on_demand and self.is_sqlite and isinstance(bind, Engine):
            session = self.sessionmaker(bind=bind.execution_options(**{WRITE_ON_DEMAND: True}))
        else:
            session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session that only reads: on SQLite it takes no write lock, so a long report does
        not hold back the writers. Whatever it changed is rolled back."""
        session = self.read_sessionmaker()
        try:
            yield session
        finally:
            try:
                session.rollback()
            finally:
                session.close()

    def read_all(self, work: Mapping[str, Callable[[Session], Any]]) -> dict[str, Any]:
        """Run independent pieces of read-only work, each in a read session of its own on the
        reader threads, and return their results by name once all have finished (the first
        error is raised then). The work must not call ``read_all`` itself. Without
        :attr:`concurrent_reads` they run one after another in a single read session."""
        if not self.concurrent_reads or len(work) < 2:
            with self.read_session() as session:
                return {name: run(session) for name, run in work.items()}

        def in_session(run: Callable[[Session], Any]) -> Any:
            with self.read_session() as session:
                return run(session)

        pool = _reader_pool()
        futures = {name: pool.submit(in_session, run) for name, run in work.items()}
        wait(futures.values())
        return {name: future.result() for name, future in futures.items()}

    def dispose(self) -> None:
        self.engine.dispose()


_database: Database | None = None


def get_database(settings: Settings | None = None) -> Database:
    """The process-wide database for the current settings."""
    global _database
    settings = settings or get_settings()
    if _database is None or _database.url != settings.db_url:
        _database = Database(settings.db_url)
    return _database


def set_database(database: Database | None) -> None:
    global _database
    _database = database


def one_of(session: Session, column: Any, values: Iterable[Any]) -> Any:
    """``column IN values``, sent to PostgreSQL as one array parameter.

    A long IN list becomes thousands of placeholders that the driver re-parses on every call;
    ``= ANY(:array)`` keeps the statement short and cached.
    """
    items = list(values)
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import any_, literal
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(literal(items, ARRAY(column.type)))
    return column.in_(items)


_SETTLED = "cxloop.settled_reads"


@contextmanager
def settled_reads(session: Session) -> Iterator[None]:
    """Within the block, what :func:`read_once` reads is read once for the session: for work
    that changes no settings and runs many times in one transaction (a batch of inbound mail
    reads the same routing and SLA settings for every message)."""
    session.info[_SETTLED] = {}
    try:
        yield
    finally:
        session.info.pop(_SETTLED, None)


def read_once(session: Session, key: Any, read: Callable[[], T]) -> T:
    """``read()``, or inside :func:`settled_reads` what it gave the first time for ``key``."""
    memo: dict[Any, Any] | None = session.info.get(_SETTLED)
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    result: T = memo[key]
    return result


def rowcount(result: Any) -> int:
    """Rows touched by an UPDATE or DELETE (``Result`` hides it from the type checker)."""
    return int(getattr(result, "rowcount", 0) or 0)


def dialect_insert(session: Session) -> Any:
    """The INSERT of the session's dialect, for ``ON CONFLICT`` upserts (PostgreSQL or
    SQLite)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


# SQLSTATEs of PostgreSQL errors after which the whole transaction may simply be run again.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a lock conflict that a fresh attempt of the transaction can pass."""
    if not isinstance(exc, OperationalError):
        return False
    # SQLite is left out: every write transaction there already waited up to its busy
    # timeout for the one write lock, so another attempt would only make the client wait more.
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def run_transaction(work: Callable[[], T], *, attempts: int = 4, pause: float = 0.05) -> T:
    """Run ``work`` (which opens, commits and closes its own session) and run it again, after a
    short random pause, when it lost a lock conflict. Only safe for idempotent work."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except OperationalError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            log.info("transaction lost a lock conflict (attempt %d); retrying", attempt)
            time.sleep(pause * attempt * (1 + random.random()))
    raise AssertionError("unreachable")


def refresh_statistics(engine: Engine) -> None:
    """Give SQLite's query planner fresh table statistics (PostgreSQL's autovacuum does this
    by itself). Sampled, so it takes well under a second even on a large event log."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
