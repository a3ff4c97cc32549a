"""Bulk imports (customers and orders from CSV, events from JSON lines) through the same
ingestion path as the API, in batches; rerunning an import stores nothing twice."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cxloop.core.db import Database
from cxloop.core.errors import ValidationFailed
from cxloop.core.jsonutil import TooDeep, load_json
from cxloop.core.timeutil import is_plausible, parse_iso, utcnow
from cxloop.events.commerce import money, product_fields, upsert_products
from cxloop.events.segment import Message, parse_message
from cxloop.events.service import ingest
from cxloop.models import Workspace
from cxloop.models.customer import CONSENT_CHANNELS
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


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a UTF-8 (BOM allowed) CSV file with a header line, numbered from 2."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise ValidationFailed(f"{path.name}: the file is empty or has no header line.")
        for number, row in enumerate(reader, start=2):
            yield number, {k.strip(): (v or "").strip() for k, v in row.items() if k}


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


def import_events(
    database: Database | None, *, workspace_id: int, path: Path, progress: Progress | None = None
) -> ImportReport:
    """Segment messages, one JSON object per line (each with its ``type``)."""
    report = ImportReport()
    messages: list[Message] = []
    now = utcnow()
    with path.open("rb") as handle:
        _read_events(database, workspace_id, handle, now, messages, report, progress)
    return report


def _read_events(
    database: Database | None,
    workspace_id: int,
    lines: Iterable[bytes],
    now: Any,
    messages: list[Message],
    report: ImportReport,
    progress: Progress | None,
) -> None:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        report.rows += 1
        try:
            raw = load_json(line)
            if isinstance(raw, dict) and not raw.get("messageId"):
                raw["messageId"] = f"import-event-{_digest(raw)}"
            messages.append(
                parse_message(raw, type_=None, index=None, received_at=now, strict_time=True)
            )
        except TooDeep as exc:
            report.errors.append(f"line {number}: {exc}")
            continue
        except orjson.JSONDecodeError as exc:
            report.errors.append(f"line {number}: not valid JSON ({exc})")
            continue
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
