"""JSON read from clients, made storable on every supported database.

PostgreSQL text and JSONB cannot hold the NUL character that JSON allows as ``\\u0000``. Data we
accept must not be lost or fail later, so NUL is replaced by U+FFFD (the replacement
character) in keys and strings; the check costs one scan of the raw bytes and nothing more
for the bodies that have no NUL, which is nearly all of them.
"""

from __future__ import annotations

from typing import Any

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


def load_json(raw: bytes | str) -> Any:
    """``orjson.loads`` whose strings are safe to store (raises orjson.JSONDecodeError)."""
    data = orjson.loads(raw)
    encoded = raw.encode() if isinstance(raw, str) else raw
    return without_nul(data) if _ESCAPED_NUL in encoded else data
