"""Bulk imports (customers, orders and products from CSV, events from JSON lines or a
clickstream CSV) through the same ingestion path as the API, in batches; rerunning an import
stores nothing twice."""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.core.errors import ValidationFailed
from cxloop.core.jsonutil import TooDeep, load_json, without_nul
from cxloop.core.timeutil import LATEST_UTC, as_utc, is_plausible, parse_iso, utcnow
from cxloop.events.commerce import money, product_fields, upsert_products
from cxloop.events.segment import MAX_EVENT_BYTES, Message, parse_message
from cxloop.events.service import ingest
from cxloop.models import Workspace
from cxloop.models.customer import CONSENT_CHANNELS
from cxloop.profiles.consent import zone_named
from cxloop.profiles.service import current_consent, get_customer, record_consent

BATCH = 500
Progress = Callable[[int], None]

CUSTOMER_COLUMNS = {
    "user_id",
    "email",
    "phone",
    "name",
    "display_name",
    "locale",
    "timezone",
    "anonymous_id",
}


@dataclass
class ImportReport:
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


def _digest(*parts: object) -> str:
    return hashlib.sha1(
        orjson.dumps(parts, option=orjson.OPT_SORT_KEYS), usedforsecurity=False
    ).hexdigest()[:24]


def _truthy(value: str) -> bool | None:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "y", "t", "동의", "o"):
        return True
    if text in ("0", "false", "no", "n", "f", "거부", "x"):
        return False
    return None


def read_csv(
    path: Path, *, required: Collection[str] = (), max_columns: int | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a UTF-8 (BOM allowed) CSV file with a header line, each with its line number
    and every header column (empty when the row is short).

    A header without a ``required`` column or with more than ``max_columns``, a file that is
    not UTF-8 and a broken CSV line each fail the whole file."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next((cells for cells in reader if cells), None)  # blank lines skipped
            if header is None:
                raise ValidationFailed(f"{path.name}: the file is empty or has no header line.")
            _check_header(path, [name.strip() for name in header], required, max_columns)
            for cells in reader:
                if not cells:
                    continue
                cells += [""] * (len(header) - len(cells))
                # The line the row ends on: a quoted value that spans lines points at the
                # row's last line.
                yield (
                    reader.line_num,
                    {k.strip(): v.strip() for k, v in zip(header, cells, strict=False) if k},
                )
        except UnicodeDecodeError:
            raise ValidationFailed(
                f"{path.name} is not UTF-8 text; save it as UTF-8 (in Excel: CSV UTF-8) "
                "and import it again."
            ) from None
        except csv.Error as exc:
            raise ValidationFailed(f"{path.name} line {reader.line_num}: {exc}") from None


def _check_header(
    path: Path, columns: list[str], required: Collection[str], max_columns: int | None
) -> None:
    if max_columns is not None and len(columns) > max_columns:
        raise ValidationFailed(
            f"{path.name} has {len(columns)} columns; at most {max_columns} are allowed."
        )
    missing = [repr(name) for name in required if name not in columns]
    if missing:
        raise ValidationFailed(
            f"{path.name}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (the header needs {', '.join(required)})."
        )


def _flush(
    database: Database | None,
    workspace_id: int,
    messages: list[Message],
    report: ImportReport,
    after: Callable[[Any], None] | None = None,
) -> None:
    """Ingest one batch in its own transaction (``database`` None: a dry run, check only)."""
    if not messages or database is None:
        messages.clear()
        return
    with database.session() as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        result = ingest(session, workspace=workspace, messages=messages, source="import")
        report.stored += result.stored
        report.duplicates += result.duplicates
        if after is not None:
            after(session)
    messages.clear()


def _consent_column(key: str) -> tuple[str, str]:
    """``consent_<purpose>_<channel>`` → (purpose, channel); both may hold an underscore
    (``consent_third_party_in_app``), so the channel is matched against the known ones."""
    rest = key.removeprefix("consent_")
    for channel in sorted(CONSENT_CHANNELS, key=len, reverse=True):
        if rest.endswith("_" + channel):
            return rest[: -len(channel) - 1], channel
    purpose, _, channel = rest.rpartition("_")
    return purpose, channel  # unknown: the consent ledger names the bad field


def import_customers(
    database: Database | None, *, workspace_id: int, path: Path, progress: Progress | None = None
) -> ImportReport:
    """Customers from CSV: user_id/email/phone/name/locale columns, ``consent_<purpose>_<channel>``
    columns (true/false), every other column a trait."""
    report = ImportReport()
    messages: list[Message] = []
    consents: list[tuple[str, list[tuple[str, str, bool]]]] = []
    now = utcnow()

    def record_consents(session: Any) -> None:
        from cxloop.events.service import resolve_message_customer

        for message_id, changes in consents:
            customer_id = resolve_message_customer(
                session, workspace_id=workspace_id, message_id=message_id
            )
            if customer_id is None:
                continue
            customer = get_customer(session, workspace_id=workspace_id, customer_id=customer_id)
            state = current_consent(session, customer=customer)
            for purpose, channel, granted in changes:
                in_force = state.get((purpose, channel))
                if in_force is not None and in_force.granted == granted:
                    continue  # no change: importing the file again adds nothing
                record_consent(
                    session,
                    customer=customer,
                    purpose=purpose,
                    channel=channel,
                    granted=granted,
                    source="import",
                    evidence=path.name,
                )
        consents.clear()

    for number, row in read_csv(path):
        report.rows += 1
        traits: dict[str, Any] = {}
        changes: list[tuple[str, str, bool]] = []
        for key, value in row.items():
            if not value:
                continue
            if key.startswith("consent_"):
                purpose, channel = _consent_column(key)
                granted = _truthy(value)
                if granted is None:
                    report.errors.append(f"line {number}: {key} must be true or false")
                    continue
                changes.append((purpose, channel, granted))
            elif key not in ("user_id", "anonymous_id"):
                traits["name" if key == "display_name" else key] = value
        raw = {
            "userId": row.get("user_id") or None,
            "anonymousId": row.get("anonymous_id"),
            "traits": traits,
            "messageId": f"import-customer-{_digest(row)}",
        }
        if not raw["userId"] and not raw["anonymousId"]:
            # A customer known only by email or phone still gets a stable profile.
            contact = row.get("email") or row.get("phone")
            if not contact:
                report.errors.append(f"line {number}: needs user_id, email or phone")
                continue
            raw["anonymousId"] = f"import:{contact.lower()}"
        try:
            message = parse_message(raw, type_="identify", index=None, received_at=now)
        except ValidationFailed as exc:
            report.errors.append(f"line {number}: {exc.detail}")
            continue
        messages.append(message)
        if changes:
            consents.append((message.message_id, changes))
        if len(messages) >= BATCH:
            _flush(database, workspace_id, messages, report, record_consents)
            if progress:
                progress(BATCH)
    count = len(messages)
    _flush(database, workspace_id, messages, report, record_consents)
    if progress:
        progress(count)
    return report


def import_orders(
    database: Database | None, *, workspace_id: int, path: Path, progress: Progress | None = None
) -> ImportReport:
    """Orders from CSV, one row per item: order_id, user_id or email, placed_at, total,
    currency, product_id, product_name, category, price, quantity."""
    orders: dict[str, dict[str, Any]] = {}
    report = ImportReport()
    for number, row in read_csv(path):
        report.rows += 1
        order_id = row.get("order_id")
        if not order_id:
            report.errors.append(f"line {number}: order_id is required")
            continue
        order = orders.setdefault(order_id, {"row": number, "head": row, "products": []})
        if row.get("product_id"):
            order["products"].append(
                {
                    "product_id": row["product_id"],
                    "name": row.get("product_name", ""),
                    "category": row.get("category") or None,
                    "price": row.get("price") or None,
                    "quantity": int(row["quantity"]) if row.get("quantity", "").isdigit() else 1,
                }
            )
    messages: list[Message] = []
    now = utcnow()
    for order_id, order in orders.items():
        head = order["head"]
        user_id = head.get("user_id") or None
        anonymous_id = (
            None if user_id else (f"import:{head['email'].lower()}" if head.get("email") else None)
        )
        placed = head.get("placed_at") or head.get("timestamp")
        try:
            if placed and not is_plausible(parse_iso(placed), now=now):
                report.errors.append(
                    f"line {order['row']}: placed_at {placed[:40]!r} is out of range "
                    "(from 2000 to now)"
                )
                continue
            message = parse_message(
                {
                    "userId": user_id,
                    "anonymousId": anonymous_id,
                    "event": "Order Completed",
                    "messageId": f"import-order-{order_id}",
                    "timestamp": placed,
                    "properties": {
                        "order_id": order_id,
                        "total": head.get("total") or None,
                        "currency": head.get("currency") or None,
                        "coupon": head.get("coupon") or None,
                        "products": order["products"],
                    },
                    "context": {"channel": head.get("channel") or "import"},
                },
                type_="track",
                index=None,
                received_at=now,
                strict_time=True,
            )
        except (ValidationFailed, ValueError) as exc:
            detail = (
                exc.detail if isinstance(exc, ValidationFailed) else f"bad placed_at {placed!r}"
            )
            report.errors.append(f"line {order['row']}: {detail}")
            continue
        messages.append(message)
        if len(messages) >= BATCH:
            _flush(database, workspace_id, messages, report)
            if progress:
                progress(BATCH)
    count = len(messages)
    _flush(database, workspace_id, messages, report)
    if progress:
        progress(count)
    return report


# --- events ---------------------------------------------------------------------------------

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")
# A clickstream CSV: these columns say what happened, to whom and when; every other column is
# a property of the event.
EVENT_CSV_REQUIRED = ("user_id", "event", "timestamp")
EVENT_CSV_FIELDS = frozenset({*EVENT_CSV_REQUIRED, "anonymous_id", "message_id", "type"})
EVENT_CSV_TYPES = ("track", "page", "screen")
MAX_EVENT_COLUMNS = 200
MAX_PROPERTY_CHARS = 1000
# "Plainly" a number: no sign but minus, no leading zero (so a zip code or a phone number such
# as 01012345678 stays text), no exponent, no thousands separator, at most 15 digits (beyond
# that a float loses digits, and such long digit strings are ids rather than quantities).
_PLAIN_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_MAX_NUMBER_DIGITS = 15
_EPOCH = re.compile(r"[0-9]{1,17}(?:\.[0-9]{1,6})?")
# Epoch values from here up are milliseconds: 10**11 seconds is past the year 5000, and
# milliseconds since 2000 are all larger.
_EPOCH_MILLISECONDS_FROM = 10**11
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME_FORMATS = "ISO 8601, YYYY-MM-DD HH:MM:SS or Unix seconds or milliseconds"


@dataclass(frozen=True, slots=True)
class _Unreadable:
    """Why a line of an events file does not become a message."""

    reason: str


def workspace_time_zone(session: Session, *, workspace_id: int) -> ZoneInfo:
    """The time zone a workspace's imported times without an offset are in."""
    return zone_named(
        session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    )


def import_events(
    database: Database | None,
    *,
    workspace_id: int,
    path: Path,
    progress: Progress | None = None,
    time_zone: ZoneInfo | None = None,
) -> ImportReport:
    """Events from JSON lines (one Segment message per line, each with its ``type``) or from a
    clickstream CSV (``_event_from_csv_row``), told apart by the file's extension or else by its
    first character; a CSV time without an offset is in ``time_zone`` (the workspace's when
    None)."""
    first = _first_character(path)
    if first is None:
        raise ValidationFailed(f"{path.name}: the file is empty.")
    if time_zone is None:
        time_zone = zone_named(None)
        if database is not None:
            with database.read_session() as session:
                time_zone = workspace_time_zone(session, workspace_id=workspace_id)
    suffix = path.suffix.lower()
    is_csv = suffix == ".csv" or (suffix not in JSON_LINES_SUFFIXES and first != b"{")
    now = utcnow()
    records = _csv_events(path, time_zone, now) if is_csv else _json_lines(path)
    report = ImportReport()
    _ingest_events(database, workspace_id, records, now, report, progress)
    return report


def _first_character(path: Path) -> bytes | None:
    """The file's first character that is not blank (a UTF-8 byte order mark skipped)."""
    with path.open("rb") as handle:
        for line in handle:
            text = line.removeprefix(codecs.BOM_UTF8).strip()
            if text:
                return text[:1]
    return None


def _ingest_events(
    database: Database | None,
    workspace_id: int,
    records: Iterable[tuple[int, Any]],
    now: datetime,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    """Validate each line's Segment message (or report why the line is not one) and ingest the
    valid ones in batches. A message without a messageId gets a digest of itself as one, so
    importing the same file again stores nothing twice."""
    messages: list[Message] = []
    for number, raw in records:
        report.rows += 1
        if isinstance(raw, _Unreadable):
            report.errors.append(f"line {number}: {raw.reason}")
            continue
        if isinstance(raw, dict) and not raw.get("messageId"):
            raw["messageId"] = f"import-event-{_digest(raw)}"
        try:
            messages.append(
                parse_message(raw, type_=None, index=None, received_at=now, strict_time=True)
            )
        except ValidationFailed as exc:
            report.errors.append(f"line {number}: {exc.detail}")
            continue
        if len(messages) >= BATCH:
            _flush(database, workspace_id, messages, report)
            if progress:
                progress(BATCH)
    count = len(messages)
    _flush(database, workspace_id, messages, report)
    if progress:
        progress(count)


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """Each non-blank line's JSON value, numbered from 1."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number == 1:
                line = line.removeprefix(codecs.BOM_UTF8)
            if not line.strip():
                continue
            record: Any
            try:
                record = load_json(line)
            except TooDeep as exc:
                record = _Unreadable(str(exc))
            except orjson.JSONDecodeError as exc:
                record = _Unreadable(f"not valid JSON ({exc})")
            yield number, record


def _csv_events(path: Path, zone: ZoneInfo, now: datetime) -> Iterator[tuple[int, Any]]:
    rows = read_csv(path, required=EVENT_CSV_REQUIRED, max_columns=MAX_EVENT_COLUMNS)
    for number, row in rows:
        yield number, _event_from_csv_row(row, zone=zone, now=now)


def _event_from_csv_row(
    row: dict[str, str], *, zone: ZoneInfo, now: datetime
) -> dict[str, Any] | _Unreadable:
    """The Segment message of one clickstream CSV row.

    ``user_id`` or ``anonymous_id``, ``event`` (for a page or screen its name), ``timestamp``,
    optional ``type`` (track, page or screen; track when empty) and ``message_id``; every other
    non-empty cell is a property: a plain integer or decimal becomes a number, true or false a
    boolean, anything else stays text."""
    kind = (row.get("type") or "track").lower()
    if kind not in EVENT_CSV_TYPES:
        return _Unreadable(f"type must be track, page or screen, not {kind[:40]!r}")
    if not row.get("user_id") and not row.get("anonymous_id"):
        return _Unreadable("needs user_id or anonymous_id")
    if kind == "track" and not row.get("event"):
        return _Unreadable("event is empty")
    cell = row.get("timestamp", "")
    if not cell:
        return _Unreadable("timestamp is empty")
    moment = _csv_time(cell, zone)
    if moment is None:
        return _Unreadable(f"timestamp {cell[:40]!r} is not a time ({_TIME_FORMATS})")
    if not is_plausible(moment, now=now):
        return _Unreadable(f"timestamp {cell[:40]!r} is out of range (from 2000 to now)")
    properties: dict[str, Any] = {}
    for key, value in row.items():
        if key in EVENT_CSV_FIELDS or not value:
            continue
        if len(value) > MAX_PROPERTY_CHARS:
            return _Unreadable(f"{key[:40]} is longer than {MAX_PROPERTY_CHARS:,} characters")
        properties[key] = _csv_property(value)
    raw: dict[str, Any] = {
        "type": kind,
        "userId": row.get("user_id") or None,
        "anonymousId": row.get("anonymous_id") or None,
        "event" if kind == "track" else "name": row.get("event") or None,
        "timestamp": moment.isoformat(),
        "properties": properties,
    }
    if row.get("message_id"):
        raw["messageId"] = row["message_id"]
    raw = without_nul(raw)
    if len(orjson.dumps(raw)) > MAX_EVENT_BYTES:
        return _Unreadable(f"larger than {MAX_EVENT_BYTES // 1024} KB")
    return raw


def _csv_property(value: str) -> Any:
    """A CSV cell as a property value: a plain integer or decimal is a number, true or false
    (any case) a boolean, anything else the text itself."""
    if _PLAIN_NUMBER.fullmatch(value) and sum(c.isdigit() for c in value) <= _MAX_NUMBER_DIGITS:
        return float(value) if "." in value else int(value)
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return value


def _csv_time(value: str, zone: ZoneInfo) -> datetime | None:
    """A CSV timestamp in UTC: ISO 8601 (``Z`` or an offset, or none: then in ``zone``),
    ``YYYY-MM-DD HH:MM:SS`` (in ``zone``), or Unix epoch seconds or milliseconds; None when it
    is none of these. An epoch past the calendar's end is held at it (so it is out of range)."""
    text = value.strip()
    if _EPOCH.fullmatch(text):
        seconds = Decimal(text)
        if seconds >= _EPOCH_MILLISECONDS_FROM:
            seconds /= 1000
        try:
            return _UNIX_EPOCH + timedelta(seconds=float(seconds))
        except OverflowError:
            return LATEST_UTC
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return as_utc(moment if moment.tzinfo else moment.replace(tzinfo=zone))


def import_products(
    database: Database | None, *, workspace_id: int, path: Path, progress: Progress | None = None
) -> ImportReport:
    """A product catalogue from CSV: product_id, sku, name, category, brand, price, currency."""
    report = ImportReport()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if database is not None and batch:
            with database.session() as session:
                upsert_products(session, workspace_id=workspace_id, products=batch)
            report.stored += len(batch)
        if progress and batch:
            progress(len(batch))
        batch.clear()

    for number, row in read_csv(path):
        report.rows += 1
        currency = (row.get("currency") or "KRW").upper()
        if len(currency) != 3 or not currency.isalpha():
            report.errors.append(f"line {number}: currency must be a 3-letter code")
            continue
        if row.get("price") and money(row["price"], currency) is None:
            report.errors.append(f"line {number}: price {row['price']!r} is not a number")
            continue
        fields = product_fields(row, currency)
        if fields is None:
            report.errors.append(f"line {number}: product_id (or sku) is required")
            continue
        batch.append(fields)
        if len(batch) >= BATCH:
            flush()
    flush()
    return report
