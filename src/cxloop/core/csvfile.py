"""CSV files people open in a spreadsheet: UTF-8 with a byte-order mark (so Excel reads Korean
right), CRLF line ends, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from cxloop.core.i18n import in_zone

CSV_BOM = "\ufeff"


def csv_cell(value: Any, tz: tzinfo | None = None) -> Any:
    """A CSV cell: numbers rounded sensibly; a time as ISO 8601, or in ``tz`` as a
    spreadsheet reads it ("2026-12-07 15:04:05"); text that a spreadsheet would run as a
    formula is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else round(value, 4)
    if isinstance(value, Decimal | int):
        return value
    if isinstance(value, datetime) and tz is not None:
        return in_zone(value, tz).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def csv_bytes(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, tz: tzinfo | None = None
) -> bytes:
    """The whole file at once (for a table of a page's size)."""
    return "".join(csv_chunks(header, rows, chunk_rows=1 << 30, tz=tz)).encode("utf-8")


def csv_chunks(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    chunk_rows: int = 1_000,
    tz: tzinfo | None = None,
) -> Iterator[str]:
    """The file in pieces of ``chunk_rows`` rows, for a download streamed as it is read;
    times in ``tz`` when given (else ISO 8601)."""
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for n, row in enumerate(rows, start=1):
        writer.writerow([csv_cell(v, tz) for v in row])
        if n % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
