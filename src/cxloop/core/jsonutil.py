"""JSON read from clients, made storable on every supported database.

PostgreSQL text and JSONB cannot hold the NUL character that JSON allows as ``\\u0000``. Data we
accept must not be lost or fail later, so NUL is replaced by U+FFFD (the replacement
character) in keys and strings; the check costs one scan of the raw bytes and nothing more
for the bodies that have no NUL, which is nearly all of them.

Nesting is limited too: a value nested hundreds of levels deep is no real payload, and past
254 levels no encoder can write it back (so storing or exporting it would fail later).
``load_json`` refuses a body whose objects and arrays nest deeper than ``MAX_DEPTH`` levels
(the body itself is level 1) with ``TooDeep``, which names the path where it happens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

import orjson

_ESCAPED_NUL = b"\\u0000"
REPLACEMENT = "\ufffd"


def without_nul(value: Any) -> Any:
    """``value`` with every NUL in its strings and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", REPLACEMENT)
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


MAX_DEPTH = 32
_CONTAINERS = (dict, list)  # a tuple: isinstance checks it faster than a union
_PATH_KEY_LENGTH = 40
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]')


class TooDeep(ValueError):
    """JSON nested deeper than allowed; ``path`` leads to the first value past the limit."""

    def __init__(self, path: list[str | int], limit: int) -> None:
        self.path = path
        self.limit = limit
        super().__init__(f"nested deeper than {limit} levels at {path_text(path) or 'the top'}")


def path_text(path: list[str | int]) -> str:
    """``["batch", 0, "properties", "a"]`` → ``batch[0].properties.a`` (long keys cut)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if len(part) <= _PATH_KEY_LENGTH else part[:_PATH_KEY_LENGTH] + "…"
            text += f".{key}" if text else key
    return text


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest deeper than ``limit`` levels in ``value``: one level at
    a time, no paths kept (the common answer, no, at a few microseconds per event)."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    for _ in range(limit):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, _CONTAINERS)
        ]
        if not level:
            return False
    return True


def too_deep_path(value: Any, limit: int = MAX_DEPTH) -> list[str | int] | None:
    """The path to the first object or array nested deeper than ``limit`` levels, or None."""
    if not _deeper_than(value, limit):
        return None
    # Depth first with an explicit stack: no recursion, whatever the input.
    stack: list[tuple[Any, int, list[str | int]]] = [(value, 1, [])]
    while stack:
        node, depth, path = stack.pop()
        if depth > limit:
            return path
        items = node.items() if isinstance(node, dict) else enumerate(node)
        children = [(v, depth + 1, [*path, k]) for k, v in items if isinstance(v, dict | list)]
        stack.extend(reversed(children))
    return None


def _scanned_path(encoded: bytes, limit: int) -> list[str | int]:
    """The path to the first container deeper than ``limit``, read from the text itself (for
    text nested too deep for the parser)."""
    stack: list[list[Any]] = []  # per open container: [its bracket, current key or index]
    last_string: bytes = b'""'
    for match in _TOKEN.finditer(encoded):
        token = match.group()
        if token in (b"{", b"["):
            if len(stack) >= limit:
                break
            stack.append([token, 0 if token == b"[" else ""])
        elif token in (b"}", b"]"):
            if stack:
                stack.pop()
        elif token == b":" and stack:
            try:
                stack[-1][1] = str(orjson.loads(last_string))
            except orjson.JSONDecodeError:
                stack[-1][1] = "?"
        elif token == b"," and stack and stack[-1][0] == b"[":
            stack[-1][1] += 1
        else:
            last_string = token
    return [entry[1] for entry in stack]


def check_depth(raw: bytes | str, limit: int = MAX_DEPTH) -> None:
    """Raise ``TooDeep`` when the JSON text ``raw`` nests deeper than ``limit`` levels (text
    that is not JSON passes: its parser reports that)."""
    encoded = raw.encode() if isinstance(raw, str) else raw
    # Cheap first: text with few brackets cannot nest deeply.
    if encoded.count(b"{") + encoded.count(b"[") <= limit:
        return
    try:
        data = orjson.loads(encoded)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise TooDeep(_scanned_path(encoded, limit), limit) from None
        return
    path = too_deep_path(data, limit)
    if path is not None:
        raise TooDeep(path, limit)


def load_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``orjson.loads`` whose strings are safe to store and whose objects and arrays nest at
    most ``max_depth`` levels (raises orjson.JSONDecodeError, or TooDeep)."""
    encoded = raw.encode() if isinstance(raw, str) else raw
    try:
        data = orjson.loads(encoded)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson's own limit: 1,024 levels
            raise TooDeep(_scanned_path(encoded, max_depth), max_depth) from None
        raise
    if encoded.count(b"{") + encoded.count(b"[") > max_depth:
        path = too_deep_path(data, max_depth)
        if path is not None:
            raise TooDeep(path, max_depth)
    return without_nul(data) if _ESCAPED_NUL in encoded else data


def dump_json(
    value: Any, *, default: Callable[[Any], Any] | None = None, indent: bool = False
) -> bytes:
    """``value`` as JSON bytes by orjson (non-string keys allowed), whatever its depth.

    orjson stops at 254 levels; data stored before nesting was limited (or wrapped in an
    export) may go past that, so the standard library writes it then, alike."""
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(value, option=option, default=default)
    except orjson.JSONEncodeError as exc:
        if "Recursion limit" not in str(exc):
            raise

    def fallback(item: Any) -> Any:
        if isinstance(item, datetime | date | time):
            return item.isoformat()
        if isinstance(item, UUID):
            return str(item)
        if default is None:
            raise TypeError(f"cannot serialise {type(item).__name__}")
        return default(item)

    text = json.dumps(
        value,
        default=fallback,
        ensure_ascii=False,
        indent=2 if indent else None,
        separators=None if indent else (",", ":"),
    )
    return text.encode()
