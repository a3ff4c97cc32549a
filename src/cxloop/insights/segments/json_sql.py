"""Portable SQL for JSON documents: functions that read the value at a key path of a JSON
column only when it has the JSON type asked for, and two text helpers, compiled for SQLite and
PostgreSQL alike.

Each JSON construct takes (document, PostgreSQL path as a text[] literal, SQLite JSON path), so a
comparison never fails on a customer whose trait holds something else (PostgreSQL would refuse
to cast "n/a").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Float, Integer, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class _JsonValue(FunctionElement[Any]):
    inherit_cache = True


class json_text(_JsonValue):
    """The string at a path (NULL when it is not a string)."""

    inherit_cache = True

    type = String()
    name = "json_text"


class json_text_is(_JsonValue):
    """Whether the path holds this string (document, paths, the string): NULL when the path is
    missing, false when it holds another value or type."""

    inherit_cache = True

    type = Boolean()
    name = "json_text_is"


class json_number(_JsonValue):
    """The number at a path (NULL when it is not a number)."""

    inherit_cache = True

    type = Float()
    name = "json_number"


class json_flag(_JsonValue):
    """1 or 0 for a boolean at a path (NULL when it is not a boolean)."""

    inherit_cache = True

    type = Integer()
    name = "json_flag"


class json_present(_JsonValue):
    """Whether the path holds a value other than null."""

    inherit_cache = True

    type = Boolean()
    name = "json_present"


class json_array_has_text(_JsonValue):
    """Whether the path holds an array with a string element: (document, paths, the element
    as the JSON text of a one-element array for PostgreSQL, the element for SQLite)."""

    inherit_cache = True

    type = Boolean()
    name = "json_array_has_text"


class json_array_has_number(_JsonValue):
    """Whether the path holds an array with a number element (arguments as for text)."""

    inherit_cache = True

    type = Boolean()
    name = "json_array_has_number"


class text_position(FunctionElement[int]):
    """1-based position of a string in another, 0 when absent (case-sensitive)."""

    type = Integer()
    name = "text_position"
    inherit_cache = True


class bytewise(FunctionElement[str]):
    """A string compared by its bytes, as SQLite compares them, on PostgreSQL too."""

    type = String()
    name = "bytewise"
    inherit_cache = True


def _parts(
    compiler: SQLCompiler, element: FunctionElement[Any], *indices: int, **kw: Any
) -> list[str]:
    """The SQL of the element's arguments at ``indices`` (only those: a parameter rendered but
    left out of the statement would shift positional parameters)."""
    clauses = list(element.clauses)
    return [compiler.process(clauses[i], **kw) for i in indices]


@compiles(json_text)
def _json_text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 2, **kw)
    return f"CASE WHEN json_type({doc}, {path}) = 'text' THEN json_extract({doc}, {path}) END"


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 1, **kw)
    at = f"{doc} #> CAST({path} AS TEXT[])"
    return f"CASE WHEN jsonb_typeof({at}) = 'string' THEN {doc} #>> CAST({path} AS TEXT[]) END"


@compiles(json_text_is)
def _json_text_is_sqlite(element: json_text_is, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path, value = _parts(compiler, element, 0, 2, 3, **kw)
    return (
        f"(CASE WHEN json_type({doc}, {path}) = 'text' THEN json_extract({doc}, {path}) END"
        f" = {value})"
    )


@compiles(json_text_is, "postgresql")
def _json_text_is_postgresql(element: json_text_is, compiler: SQLCompiler, **kw: Any) -> str:
    # One comparison of JSONB values, without reading the value twice (type, then text).
    doc, path, value = _parts(compiler, element, 0, 1, 3, **kw)
    return f"({doc} #> CAST({path} AS TEXT[]) = to_jsonb(CAST({value} AS TEXT)))"


@compiles(json_number)
def _json_number_sqlite(element: json_number, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 2, **kw)
    return (
        f"CASE WHEN json_type({doc}, {path}) IN ('integer', 'real') "
        f"THEN json_extract({doc}, {path}) END"
    )


@compiles(json_number, "postgresql")
def _json_number_postgresql(element: json_number, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 1, **kw)
    at = f"{doc} #> CAST({path} AS TEXT[])"
    return (
        f"CASE WHEN jsonb_typeof({at}) = 'number' "
        f"THEN CAST({doc} #>> CAST({path} AS TEXT[]) AS DOUBLE PRECISION) END"
    )


@compiles(json_flag)
def _json_flag_sqlite(element: json_flag, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 2, **kw)
    return f"CASE json_type({doc}, {path}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"


@compiles(json_flag, "postgresql")
def _json_flag_postgresql(element: json_flag, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 1, **kw)
    at = f"{doc} #> CAST({path} AS TEXT[])"
    return f"CASE {at} WHEN 'true'::jsonb THEN 1 WHEN 'false'::jsonb THEN 0 END"


@compiles(json_present)
def _json_present_sqlite(element: json_present, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 2, **kw)
    return f"(COALESCE(json_type({doc}, {path}), 'null') <> 'null')"


@compiles(json_present, "postgresql")
def _json_present_postgresql(element: json_present, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _parts(compiler, element, 0, 1, **kw)
    return f"(COALESCE(jsonb_typeof({doc} #> CAST({path} AS TEXT[])), 'null') <> 'null')"


def _array_has_sqlite(element: _JsonValue, compiler: SQLCompiler, kinds: str, **kw: Any) -> str:
    doc, path, value = _parts(compiler, element, 0, 2, 4, **kw)
    # Only compiled SQL and the kinds' literals are put together here; values stay parameters.
    return (
        f"(json_type({doc}, {path}) = 'array' AND EXISTS (SELECT 1 FROM json_each({doc}, {path})"  # noqa: S608
        f" AS element WHERE element.type IN ({kinds}) AND element.value = {value}))"
    )


def _array_has_postgresql(element: _JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path, one_element = _parts(compiler, element, 0, 1, 3, **kw)
    at = f"{doc} #> CAST({path} AS TEXT[])"
    return f"(jsonb_typeof({at}) = 'array' AND {at} @> CAST({one_element} AS JSONB))"


@compiles(json_array_has_text)
def _json_array_has_text_sqlite(
    element: json_array_has_text, compiler: SQLCompiler, **kw: Any
) -> str:
    return _array_has_sqlite(element, compiler, "'text'", **kw)


@compiles(json_array_has_number)
def _json_array_has_number_sqlite(
    element: json_array_has_number, compiler: SQLCompiler, **kw: Any
) -> str:
    return _array_has_sqlite(element, compiler, "'integer', 'real'", **kw)


@compiles(json_array_has_text, "postgresql")
@compiles(json_array_has_number, "postgresql")
def _json_array_has_postgresql(element: _JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    return _array_has_postgresql(element, compiler, **kw)


@compiles(text_position)
def _text_position_sqlite(element: text_position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = _parts(compiler, element, 0, 1, **kw)
    return f"instr({haystack}, {needle})"


@compiles(text_position, "postgresql")
def _text_position_postgresql(element: text_position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = _parts(compiler, element, 0, 1, **kw)
    return f"strpos({haystack}, {needle})"


@compiles(bytewise)
def _bytewise_sqlite(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _parts(compiler, element, 0, **kw)
    return f"({value})"  # SQLite compares text by its bytes (BINARY) unless told otherwise


@compiles(bytewise, "postgresql")
def _bytewise_postgresql(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _parts(compiler, element, 0, **kw)
    return f'({value}) COLLATE "C"'


@dataclass(frozen=True)
class JsonPath:
    """A dotted key path in both databases' syntax."""

    keys: tuple[str, ...]

    @classmethod
    def of(cls, dotted: str) -> JsonPath:
        return cls(tuple(dotted.split(".")))

    def args(self, doc: Any) -> tuple[Any, Any, Any]:
        postgresql = "{" + ",".join(f'"{key}"' for key in self.keys) + "}"
        sqlite = "$" + "".join(f'."{key}"' for key in self.keys)
        return doc, literal(postgresql, String()), literal(sqlite, String())
