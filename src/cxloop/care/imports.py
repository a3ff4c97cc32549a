"""Importing social posts, reviews and phone calls into an inbox from a CSV or JSON file: each
row read on its own (a bad row is reported with its line and why, the others go in), each item
once by its id however often the file is imported.

CSV: UTF-8 (with or without a byte-order mark) or CP949, a header row naming the columns —
social and review inboxes ``id, kind, platform, author_name, author_handle, author_url, text,
rating, url, posted_at``; phone inboxes ``call_id, phone, agent, started_at, duration,
direction, notes, outcome``. JSON: a list of objects with the same names (or ``{"items":
[…]}``; social items may nest ``author``). A row's line is its line in the CSV file, or its
position in the JSON list. Times without an offset are in the workspace's time zone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.care import phone, social
from cxloop.care.social import ItemError
from cxloop.core.errors import ValidationFailed
from cxloop.models import CareInbox, Workspace
from cxloop.profiles.consent import zone_named

IMPORT_CHANNELS = ("social", "review", "phone")
MAX_ROWS = 10_000
MAX_ERRORS_SHOWN = 200
Format = Literal["csv", "json"]
Row = tuple[int, object]


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)

    def add(self, other: ImportReport) -> None:
        self.rows += other.rows
        self.created += other.created
        self.duplicates += other.duplicates
        self.errors.extend(other.errors)


def format_of(filename: str, content_type: str = "") -> Format:
    """The format a file is in, by its name or content type (CSV unless it says JSON)."""
    if filename.lower().endswith(".json") or "json" in content_type.lower():
        return "json"
    return "csv"


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp949")  # what Korean spreadsheets save CSV in
    except UnicodeDecodeError:
        raise ValidationFailed(
            "The file is neither UTF-8 nor CP949 text.",
            errors=[{"field": "file", "message": "unknown text encoding"}],
        ) from None


def _too_many(limit: int) -> ValidationFailed:
    return ValidationFailed(
        f"A file holds at most {limit:,} rows; split it.",
        errors=[{"field": "file", "message": f"more than {limit:,} rows"}],
    )


def read_rows(data: bytes, *, fmt: Format, max_rows: int = MAX_ROWS) -> list[Row]:
    """The rows of a file with their lines; ValidationFailed for a file that cannot be read at
    all (not CSV/JSON, no header, too many rows)."""
    text = _decode(data)
    if fmt == "json":
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise ValidationFailed(
                f"The file is not JSON: {exc}.", errors=[{"field": "file", "message": "not JSON"}]
            ) from None
        items = body.get("items") if isinstance(body, Mapping) else body
        if not isinstance(items, list):
            raise ValidationFailed(
                'A JSON import is a list of objects (or {"items": [...]}).',
                errors=[{"field": "file", "message": "not a list"}],
            )
        if len(items) > max_rows:
            raise _too_many(max_rows)
        return list(enumerate(items, start=1))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or not any(name.strip() for name in reader.fieldnames):
        raise ValidationFailed(
            "The CSV file needs a header row naming its columns.",
            errors=[{"field": "file", "message": "no header row"}],
        )
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
    rows: list[Row] = []
    line = reader.line_num
    try:
        for record in reader:
            rows.append((line + 1, {k: v for k, v in record.items() if k is not None}))
            line = reader.line_num
            if len(rows) > max_rows:
                raise _too_many(max_rows)
    except csv.Error as exc:
        raise ValidationFailed(
            f"The CSV file cannot be read after line {line}: {exc}.",
            errors=[{"field": "file", "message": str(exc)}],
        ) from None
    return rows


def import_rows(
    session: Session,
    *,
    inbox: CareInbox,
    rows: Iterable[Row],
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Take each row into ``inbox`` in a savepoint of its own; a bad row is reported, not
    taken. ``progress`` is told of each row done."""
    if inbox.channel not in IMPORT_CHANNELS:
        raise ValidationFailed(
            f"Only {', '.join(IMPORT_CHANNELS)} inboxes take imports; this one is {inbox.channel}.",
            errors=[{"field": "inbox", "message": "not an inbox that takes imports"}],
        )
    zone = _zone(session, inbox)
    report = ImportReport()
    for line, raw in rows:
        report.rows += 1
        try:
            with session.begin_nested():
                created = _take(session, inbox, raw, zone)
        except ItemError as exc:
            report.errors.append(RowError(line, str(exc)))
        else:
            if created:
                report.created += 1
            else:
                report.duplicates += 1
        if progress is not None:
            progress(1)
    return report


def _zone(session: Session, inbox: CareInbox) -> ZoneInfo:
    workspace = session.get(Workspace, inbox.workspace_id)
    return zone_named(workspace.timezone if workspace else None)


def _take(session: Session, inbox: CareInbox, raw: object, zone: ZoneInfo) -> bool:
    if inbox.channel == "phone":
        call = phone.parse_call(raw, zone=zone)
        return phone.log_call(session, inbox=inbox, call=call).created
    item = social.parse_item(raw, zone=zone)
    return social.take_item(session, inbox=inbox, item=item).created


def record_import(
    session: Session, *, principal: Principal, inbox: CareInbox, report: ImportReport, source: str
) -> None:
    """The audit entry of an import (counts only: the rows are the customers' words)."""
    record_audit(
        session,
        principal=principal,
        action="care.import",
        target_type="care_inbox",
        target_id=inbox.id,
        detail={
            "source": source[:200],
            "rows": report.rows,
            "created": report.created,
            "duplicates": report.duplicates,
            "errors": len(report.errors),
        },
    )


def report_json(report: ImportReport) -> dict[str, Any]:
    return {
        "rows": report.rows,
        "created": report.created,
        "duplicates": report.duplicates,
        "errors": [{"line": e.line, "reason": e.reason} for e in report.errors[:MAX_ERRORS_SHOWN]],
    }
