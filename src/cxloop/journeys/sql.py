"""Portable SQL pieces the journey queries share: exact epoch microseconds of a stored time, the
text of a JSON scalar for breakdowns, and temporary tables made from a query or from rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    insert,
    literal,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.functions import FunctionElement

from cxloop.core.timeutil import as_utc

MICROS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Whole microseconds since 1970 of an aware time, exactly (no float rounding)."""
    delta = as_utc(moment) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def from_micros(value: int) -> datetime:
    """The UTC time of ``micros``."""
    return _EPOCH + timedelta(microseconds=int(value))


class epoch_micros(FunctionElement[int]):
    """Microseconds since 1970 of a stored UTC time, exactly, as the database computes them."""

    type = BigInteger()
    name = "epoch_micros"
    inherit_cache = True


@compiles(epoch_micros)
def _epoch_micros_sqlite(element: epoch_micros, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps times as 'YYYY-MM-DD HH:MM:SS.ffffff' text in UTC: whole seconds from
    # strftime of the text without its fraction (strftime rounds to the millisecond, so
    # .999999 would become the next second), the microseconds from the text itself.
    column = compiler.process(element.clauses, **kw)
    return (
        f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000"
        f" + CAST(substr({column} || '.000000', 21, 6) AS INTEGER))"
    )


@compiles(epoch_micros, "postgresql")
def _epoch_micros_postgresql(element: epoch_micros, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"


class stored_time(FunctionElement[datetime]):
    """The stored form of a time given in epoch microseconds (the inverse of ``epoch_micros``),
    so that a bound computed once per row of a small table is compared with the log's times as
    they are stored, rather than every event's time being converted."""

    type = DateTime(timezone=True)
    name = "stored_time"
    inherit_cache = True


@compiles(stored_time)
def _stored_time_sqlite(element: stored_time, compiler: SQLCompiler, **kw: Any) -> str:
    # 'YYYY-MM-DD HH:MM:SS.ffffff', the fixed-width UTC text every time is stored as; the
    # microseconds are taken apart first so that the seconds never round.
    value = compiler.process(element.clauses, **kw)
    return (
        f"(strftime('%Y-%m-%d %H:%M:%S', ({value}) / 1000000, 'unixepoch')"
        f" || printf('.%06d', ({value}) % 1000000))"
    )


@compiles(stored_time, "postgresql")
def _stored_time_postgresql(element: stored_time, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"(TIMESTAMPTZ 'epoch' + ({value}) * INTERVAL '1 microsecond')"


class json_scalar_text(FunctionElement[str]):
    """The value at a (dotted) ``key`` path of a JSON document as text, whatever its JSON type
    (``true``, ``12``, ``12.5``, ``"mobile"`` → ``mobile``); NULL when missing or null."""

    type = String()
    name = "json_scalar_text"
    inherit_cache = False  # the key is not a bound parameter

    def __init__(self, doc: Any, key: str) -> None:
        self.path = key
        super().__init__(doc)


def _key_literal(compiler: SQLCompiler, text: str, **kw: Any) -> str:
    return compiler.process(literal(text, String()), **kw)


@compiles(json_scalar_text)
def _json_scalar_text_sqlite(element: json_scalar_text, compiler: SQLCompiler, **kw: Any) -> str:
    doc = compiler.process(element.clauses, **kw)
    path = _key_literal(compiler, "$" + "".join(f'."{k}"' for k in element.path.split(".")), **kw)
    return (
        f"(CASE json_type({doc}, {path}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
        f" WHEN 'null' THEN NULL ELSE CAST(json_extract({doc}, {path}) AS TEXT) END)"
    )


@compiles(json_scalar_text, "postgresql")
def _json_scalar_text_postgresql(
    element: json_scalar_text, compiler: SQLCompiler, **kw: Any
) -> str:
    doc = compiler.process(element.clauses, **kw)
    path = _key_literal(
        compiler, "{" + ",".join(f'"{k}"' for k in element.path.split(".")) + "}", **kw
    )
    return f"(CAST({doc} AS JSONB) #>> CAST({path} AS TEXT[]))"


class _CreateTemporaryAs(Executable, ClauseElement):
    """``CREATE TEMPORARY TABLE name AS <query>`` (PostgreSQL may run the query in parallel,
    which an INSERT … SELECT may not)."""

    inherit_cache = False

    def __init__(self, name: str, query: Select[Any]) -> None:
        self.name = name
        self.query = query


@compiles(_CreateTemporaryAs)
def _create_temporary_as(element: _CreateTemporaryAs, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CREATE TEMPORARY TABLE {element.name} AS {compiler.process(element.query, **kw)}"


_serial = itertools.count(1)


@contextmanager
def temporary_table(
    session: Session,
    prefix: str,
    columns: Sequence[tuple[str, Any]],
    query: Select[Any],
    *,
    index: Sequence[str] = (),
) -> Iterator[Table]:
    """The rows of ``query`` in a temporary table of the session's connection (its columns
    named and typed by ``columns``, in the query's order; indexed on ``index`` when given, and
    analysed), dropped on leaving."""
    name = f"{prefix}_{next(_serial)}"
    table = Table(name, MetaData(), *(Column(n, t) for n, t in columns))
    statement = _CreateTemporaryAs(name, query)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # A utility statement takes no server-side parameters: psycopg binds them on the
        # client, quoting each value itself.
        import psycopg

        compiled = statement.compile(
            dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
        )
        raw = connection.connection.driver_connection
        assert raw is not None
        with psycopg.ClientCursor(raw) as cursor:
            cursor.execute(compiled.string, compiled.params)
    else:
        session.execute(statement)
    if index:
        session.execute(text(f"CREATE INDEX {name}_ix ON {name} ({', '.join(index)})"))
    session.execute(text(f"ANALYZE {name}"))
    with _dropped_on_leaving(session, name):
        yield table


@contextmanager
def temporary_rows(
    session: Session,
    prefix: str,
    columns: Sequence[tuple[str, Any]],
    rows: Iterable[Sequence[Any]],
    *,
    index: Sequence[str] = (),
) -> Iterator[Table]:
    """``rows`` (plain values in the order of ``columns``, which name and type them) in an
    analysed temporary table of the session's connection (indexed on ``index`` when given),
    dropped on leaving."""
    name = f"{prefix}_{next(_serial)}"
    table = Table(name, MetaData(), *(Column(n, t) for n, t in columns), prefixes=["TEMPORARY"])
    connection = session.connection()
    table.create(connection)
    with _dropped_on_leaving(session, name):
        raw = connection.connection.driver_connection
        assert raw is not None
        if connection.dialect.name == "postgresql":
            with raw.cursor() as cursor, cursor.copy(f"COPY {name} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            statement = insert(table).compile(dialect=connection.dialect)
            cursor = raw.cursor()
            try:
                cursor.executemany(str(statement), rows)
            finally:
                cursor.close()  # an open statement would lock the table against its drop
        if index:
            session.execute(text(f"CREATE INDEX {name}_ix ON {name} ({', '.join(index)})"))
        session.execute(text(f"ANALYZE {name}"))
        yield table


@contextmanager
def _dropped_on_leaving(session: Session, name: str) -> Iterator[None]:
    try:
        yield
    except BaseException:
        # A failed statement leaves PostgreSQL's transaction aborted (its rollback drops the
        # table); the first error is the one to raise.
        with suppress(Exception):
            session.execute(text(f"DROP TABLE IF EXISTS {name}"))
        raise
    session.execute(text(f"DROP TABLE IF EXISTS {name}"))
