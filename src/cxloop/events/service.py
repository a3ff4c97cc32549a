"""Ingestion: validate, resolve the customer, append to the event log, keep commerce data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from cxloop.core.db import dialect_insert, one_of
from cxloop.core.errors import ValidationFailed
from cxloop.core.pagination import newest_first
from cxloop.core.timeutil import FUTURE_TOLERANCE, parse_iso, utcnow
from cxloop.events.commerce import COMMERCE_EVENTS, record_commerce
from cxloop.events.segment import Message, parse_message
from cxloop.models import Customer, Event, Order, Workspace
from cxloop.models.base import table_of
from cxloop.profiles.contact import normalise_identity
from cxloop.profiles.identity import IdentityResolver
from cxloop.profiles.service import apply_traits, contact_identities


@dataclass
class IngestResult:
    accepted: int = 0
    stored: int = 0
    duplicates: int = 0
    merges: list[tuple[int, int]] = field(default_factory=list)
    customer_ids: list[int] = field(default_factory=list)


def parse_batch(body: Any, *, received_at: datetime) -> list[Message]:
    """Validate a ``/v1/batch`` body; any invalid event rejects the whole batch."""
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object with a 'batch' array.")
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise ValidationFailed("'batch' must be an array of events.")
    if not batch:
        raise ValidationFailed("'batch' is empty.")
    context = body.get("context")
    if context is not None and not isinstance(context, dict):
        raise ValidationFailed("batch 'context' must be an object.")
    sent_raw = body.get("sentAt")
    sent_at = None
    if sent_raw is not None:
        try:
            if not isinstance(sent_raw, str):
                raise ValueError
            sent_at = parse_iso(sent_raw)
        except ValueError:
            raise ValidationFailed("batch 'sentAt' is not an ISO-8601 timestamp.") from None
    return [
        parse_message(
            raw,
            type_=None,
            index=i,
            received_at=received_at,
            batch_context=context,
            batch_sent_at=sent_at,
        )
        for i, raw in enumerate(batch)
    ]


def _identities(message: Message) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if message.user_id is not None:
        keys.append(("user_id", message.user_id))
    if message.anonymous_id is not None:
        keys.append(("anonymous_id", message.anonymous_id))
    if message.type == "identify" and message.traits:
        keys += contact_identities(message.traits)
    return keys


def _lock_keys(session: Session, workspace_id: int, keys: set[tuple[str, str]]) -> None:
    """On PostgreSQL, serialise concurrent batches that touch the same identities."""
    if session.get_bind().dialect.name != "postgresql" or not keys:
        return
    hashes = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"{workspace_id}\x00{k}\x00{v}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for k, v in keys
        }
    )
    session.execute(
        text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
        {"keys": hashes},
    )


def _insert_events(
    session: Session, workspace_id: int, rows: list[dict[str, Any]], wanted: list[str]
) -> dict[str, int]:
    """Append to the log (a messageId stored meanwhile by a concurrent request is skipped);
    returns the ids of the ``wanted`` messages."""
    table = table_of(Event)
    if session.get_bind().dialect.name == "postgresql":
        # executemany of one short statement runs pipelined in psycopg; a multi-row
        # INSERT … RETURNING with thousands of placeholders is parsed anew on every call.
        statement = postgresql.insert(table).on_conflict_do_nothing(
            index_elements=["workspace_id", "message_id"]
        )
        session.connection().execute(statement, rows)
        if not wanted:
            return {}
        found = session.execute(
            select(Event.message_id, Event.id).where(
                Event.workspace_id == workspace_id, one_of(session, Event.message_id, wanted)
            )
        )
        return {mid: eid for mid, eid in found.all()}
    returning = (
        sqlite.insert(table)
        .on_conflict_do_nothing(index_elements=["workspace_id", "message_id"])
        .returning(table.c.message_id, table.c.id)
    )
    result = session.connection().execute(returning, rows)
    stored = {mid: eid for mid, eid in result.all()}
    return {mid: stored[mid] for mid in wanted if mid in stored}


def ingest(
    session: Session,
    *,
    workspace: Workspace,
    messages: list[Message],
    received_at: datetime | None = None,
    source: str = "segment",
) -> IngestResult:
    """Store validated messages: one profile per person, each messageId once."""
    received_at = received_at or utcnow()
    result = IngestResult(accepted=len(messages))
    unique: dict[str, Message] = {}
    for message in messages:
        unique.setdefault(message.message_id, message)
    known = set(
        session.scalars(
            select(Event.message_id).where(
                Event.workspace_id == workspace.id, one_of(session, Event.message_id, unique)
            )
        )
    )
    fresh = [m for mid, m in unique.items() if mid not in known]
    result.duplicates = len(messages) - len(fresh)
    if not fresh:
        return result

    # Contact identities run the email and phone validators: worked out once per message.
    identities = {id(m): _identities(m) for m in fresh}
    all_keys = {k for keys in identities.values() for k in keys}
    for message in fresh:
        if message.type == "alias" and message.previous_id:
            all_keys |= {("user_id", message.previous_id), ("anonymous_id", message.previous_id)}
    _lock_keys(session, workspace.id, all_keys)
    resolver = IdentityResolver(session, workspace, source=source)
    resolver.preload(all_keys)
    resolver.lock_loaded()
    resolved: list[tuple[Message, Customer]] = []
    for message in fresh:
        customer = resolver.resolve(identities[id(message)])
        if message.type == "identify":
            apply_traits(customer, message.traits, context=message.context)
        elif message.type == "alias" and message.previous_id:
            customer = _alias(resolver, customer, message.previous_id)
        resolved.append((message, customer))
    resolver.finish()
    result.merges = resolver.merges

    rows: list[dict[str, Any]] = []
    for message, customer in resolved:
        customer = resolver.current(customer)
        rows.append(
            {
                "workspace_id": workspace.id,
                "customer_id": customer.id,
                "message_id": message.message_id,
                "type": message.type,
                "name": message.name,
                "channel": message.channel,
                "user_id": message.user_id,
                "anonymous_id": message.anonymous_id,
                "timestamp": message.timestamp,
                "received_at": received_at,
                "properties": _stored_properties(message),
                "context": message.context,
            }
        )
    wanted = [m.message_id for m in fresh if m.type == "track" and m.name in COMMERCE_EVENTS]
    stored = _insert_events(session, workspace.id, rows, wanted)
    result.stored = len(rows)
    result.customer_ids = sorted({r["customer_id"] for r in rows})
    commerce = [
        (message, row["customer_id"], stored[message.message_id])
        for (message, _), row in zip(resolved, rows, strict=True)
        if message.message_id in stored
    ]
    if commerce:
        record_commerce(
            session,
            workspace_id=workspace.id,
            default_currency=workspace.default_currency,
            rows=commerce,
        )
    return result


@dataclass(frozen=True)
class Activity:
    """Something a customer did that cxloop saw itself (answered a survey, …), not an SDK."""

    customer_id: int
    message_id: str
    name: str
    channel: str
    timestamp: datetime
    properties: dict[str, Any] = field(default_factory=dict)


def record_activities(session: Session, *, workspace_id: int, activities: list[Activity]) -> int:
    """Append activities of known customers to the log as track events, so they show on the
    timeline and reach the bus; a message id already stored is skipped (safe to retry).
    Returns how many were new."""
    if not activities:
        return 0
    now = utcnow()
    rows = [
        {
            "workspace_id": workspace_id,
            "customer_id": a.customer_id,
            "message_id": a.message_id,
            "type": "track",
            "name": a.name,
            "channel": a.channel,
            "user_id": None,
            "anonymous_id": None,
            "timestamp": a.timestamp,
            "received_at": now,
            "properties": a.properties,
            "context": {"library": {"name": "cxloop"}},
        }
        for a in activities
    ]
    table = table_of(Event)
    insert = dialect_insert(session)
    # A few rows: one statement writes the new ones and names them.
    written = session.connection().execute(
        insert(table)
        .on_conflict_do_nothing(index_elements=["workspace_id", "message_id"])
        .returning(table.c.message_id),
        rows,
    )
    return len(written.all())


def _stored_properties(message: Message) -> dict[str, Any]:
    if message.type == "identify":
        return message.traits
    if message.type == "group":
        return {"groupId": message.group_id, "traits": message.traits}
    if message.type == "alias":
        return {"previousId": message.previous_id}
    return message.properties


def _alias(resolver: IdentityResolver, customer: Customer, previous_id: str) -> Customer:
    """``alias``: the profile known by ``previous_id`` is the same person; merge it."""
    for kind in ("user_id", "anonymous_id"):
        other = resolver.holder((kind, previous_id))
        if other is not None and other is not customer:
            return resolver.merge(customer, other, reason="alias")
    value = normalise_identity("anonymous_id", previous_id)
    if value:
        resolver.attach(customer, ("anonymous_id", value))
    return customer


# --- reading the log ---------------------------------------------------------------------------


def customer_events(
    session: Session,
    *,
    workspace_id: int,
    customer_id: int,
    cursor: str | None = None,
    limit: int = 50,
    types: list[str] | None = None,
    channel: str | None = None,
) -> tuple[list[Event], str | None]:
    """A page of a customer's events, newest first, and the next page's cursor."""
    limit = max(1, min(limit, 500))
    query: Select[tuple[Event]] = select(Event).where(
        Event.workspace_id == workspace_id, Event.customer_id == customer_id
    )
    if types:
        query = query.where(Event.type.in_(types))
    if channel:
        query = query.where(Event.channel == channel)
    return newest_first(
        session, query, time=Event.timestamp, id=Event.id, cursor=cursor, limit=limit
    )


def customer_orders(
    session: Session,
    *,
    workspace_id: int,
    customer_id: int,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Order], str | None]:
    """A page of a customer's orders with their items, newest first."""
    limit = max(1, min(limit, 200))
    query: Select[tuple[Order]] = (
        select(Order)
        .where(Order.workspace_id == workspace_id, Order.customer_id == customer_id)
        .options(selectinload(Order.items))
    )
    return newest_first(
        session, query, time=Order.placed_at, id=Order.id, cursor=cursor, limit=limit
    )


def daily_event_counts(
    session: Session,
    *,
    workspace_id: int,
    customer_id: int,
    since: datetime,
    timezone: str = "Asia/Seoul",
) -> dict[date, int]:
    """How many events a customer had on each calendar day (in ``timezone``) since ``since``."""
    if session.get_bind().dialect.name == "postgresql":
        day: Any = func.date(func.timezone(timezone, Event.timestamp))
    else:
        # SQLite keeps naive UTC; shift by the zone's offset at ``since`` (exact outside DST).
        offset = since.astimezone(ZoneInfo(timezone)).utcoffset() or timedelta(0)
        day = func.date(Event.timestamp, f"{int(offset.total_seconds() // 60):+d} minutes")
    rows = session.execute(
        select(day, func.count())
        .where(
            Event.workspace_id == workspace_id,
            Event.customer_id == customer_id,
            Event.timestamp >= since,
            # Nothing after tomorrow is activity yet; and a time stored at the calendar's end
            # (before ingestion checked times) has no local day the database can name.
            Event.timestamp <= utcnow() + FUTURE_TOLERANCE,
        )
        .group_by(day)
    ).all()
    return {
        value if isinstance(value, date) else date.fromisoformat(str(value)): int(n)
        for value, n in rows
        if value is not None
    }


def resolve_message_customer(session: Session, *, workspace_id: int, message_id: str) -> int | None:
    """The customer an event (by messageId) was stored on, following later merges."""
    return session.scalar(
        select(Event.customer_id).where(
            Event.workspace_id == workspace_id, Event.message_id == message_id
        )
    )
