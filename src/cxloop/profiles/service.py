"""Customer profiles: create, update, search, consent, merge, export and erasure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.db import rowcount
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.pagination import decode_cursor, encode_cursor
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import ConsentRecord, Customer, CustomerMerge, Identity, Workspace
from cxloop.models.customer import CONSENT_CHANNELS, CONSENT_PURPOSES, LIFECYCLE_STAGES
from cxloop.profiles.activity import survivor_of
from cxloop.profiles.contact import normalise_email, normalise_identity, normalise_phone
from cxloop.profiles.identity import IdentityResolver, merge_customers

# Other domains add what they hold about a customer to exports and scrub it on erasure.
ExportHook = Callable[[Session, Customer], dict[str, Any]]
EraseHook = Callable[[Session, Customer], dict[str, int]]
export_hooks: list[ExportHook] = []
erase_hooks: list[EraseHook] = []

NAME_TRAITS = ("name", "displayName", "display_name", "full_name")


# --- reading -----------------------------------------------------------------------------------


def get_customer(
    session: Session, *, workspace_id: int, customer_id: int, follow_merges: bool = True
) -> Customer:
    """The customer with this id in this workspace (following merges to the survivor)."""
    customer = session.scalar(
        select(Customer).where(Customer.workspace_id == workspace_id, Customer.id == customer_id)
    )
    if follow_merges:
        customer = survivor_of(session, customer)
    if customer is None or customer.workspace_id != workspace_id:
        raise NotFound(f"No customer with id {customer_id}.")
    return customer


def customers_by_ids(
    session: Session, *, workspace_id: int, ids: Iterable[int | None]
) -> dict[int, Customer]:
    """The workspace's customers with these ids (as they are: a merged profile is itself), by
    id; ids of other workspaces or of no one are left out."""
    wanted = sorted({i for i in ids if i is not None})
    found: dict[int, Customer] = {}
    for start in range(0, len(wanted), 500):
        found.update(
            (c.id, c)
            for c in session.scalars(
                select(Customer).where(
                    Customer.workspace_id == workspace_id,
                    Customer.id.in_(wanted[start : start + 500]),
                )
            )
        )
    return found


def find_customer(
    session: Session, *, workspace_id: int, kind: str, value: object
) -> Customer | None:
    """The live customer holding identity ``kind`` = ``value`` in this workspace, or None."""
    normalised = normalise_identity(kind, value)
    if normalised is None:
        return None
    holder = session.scalar(
        select(Identity.customer_id)
        .where(
            Identity.workspace_id == workspace_id,
            Identity.kind == kind,
            Identity.value == normalised,
        )
        .order_by(Identity.id)
        .limit(1)
    )
    if holder is None:
        return None
    try:
        return get_customer(session, workspace_id=workspace_id, customer_id=holder)
    except NotFound:
        return None


def identities_of(session: Session, *, customer: Customer) -> list[Identity]:
    return list(
        session.scalars(
            select(Identity)
            .where(
                Identity.workspace_id == customer.workspace_id, Identity.customer_id == customer.id
            )
            .order_by(Identity.kind, Identity.id)
        )
    )


def merges_of(session: Session, *, customer: Customer) -> list[CustomerMerge]:
    return list(
        session.scalars(
            select(CustomerMerge)
            .where(
                CustomerMerge.workspace_id == customer.workspace_id,
                CustomerMerge.survivor_id == customer.id,
            )
            .order_by(CustomerMerge.id)
        )
    )


@dataclass(frozen=True)
class CustomerFilter:
    q: str | None = None
    stage: str | None = None
    seen_after: datetime | None = None
    seen_before: datetime | None = None
    has_orders: bool | None = None


SORTS = ("recent", "created", "name")


def _search_clause(q: str, workspace_id: int) -> Any:
    text = q.strip()
    # autoescape: a % or _ typed in the search box is looked for as itself, not as a wildcard.
    clauses: list[ColumnElement[bool]] = [
        func.lower(Customer.display_name).contains(text.lower(), autoescape=True),
        Customer.email.contains(text.lower(), autoescape=True),
    ]
    phone = normalise_phone(text)
    if phone:
        clauses.append(Customer.phone == phone)
    elif text.replace("-", "").isdigit() and len(text) >= 4:
        clauses.append(Customer.phone.like(f"%{text.replace('-', '').lstrip('0')}%"))
    if text.isascii() and text.isdigit() and len(text) <= 15:
        clauses.append(Customer.id == int(text))
    # Not correlated with the outer row: the planner looks the value up once in its index.
    holders = select(Identity.customer_id).where(
        Identity.value == text, Identity.workspace_id == workspace_id
    )
    clauses.append(Customer.id.in_(holders))
    return or_(*clauses)


def search_customers(
    session: Session,
    *,
    workspace_id: int,
    filters: CustomerFilter = CustomerFilter(),
    sort: str = "recent",
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Customer], str | None]:
    """A page of live (not merged) customers matching ``filters``, and the next page's cursor."""
    if sort not in SORTS:
        raise ValidationFailed(f"sort must be one of {', '.join(SORTS)}.")
    limit = max(1, min(limit, 200))
    query: Select[tuple[Customer]] = select(Customer).where(*_filter_clauses(workspace_id, filters))

    # Keyset pagination on (sort key, id) so pages stay stable while data arrives.
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    if sort == "recent":
        key = func.coalesce(Customer.last_seen_at, epoch)
        query = query.order_by(key.desc(), Customer.id.desc())
        if cursor:
            seen, last_id = decode_cursor(cursor, 2)
            try:
                pivot = as_utc(datetime.fromisoformat(seen))
            except ValueError:
                raise ValidationFailed("The cursor is not one this server handed out.") from None
            query = query.where(or_(key < pivot, and_(key == pivot, Customer.id < last_id)))
    elif sort == "name":
        name_key = func.coalesce(Customer.display_name, "")
        query = query.order_by(name_key, Customer.id)
        if cursor:
            name, last_id = decode_cursor(cursor, 2)
            query = query.where(or_(name_key > name, and_(name_key == name, Customer.id > last_id)))
    else:
        query = query.order_by(Customer.id.desc())
        if cursor:
            (last_id,) = decode_cursor(cursor, 1)
            query = query.where(Customer.id < last_id)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        if sort == "recent":
            seen_at = last.last_seen_at or epoch
            next_cursor = encode_cursor([seen_at.isoformat(), last.id])
        elif sort == "name":
            next_cursor = encode_cursor([last.display_name or "", last.id])
        else:
            next_cursor = encode_cursor([last.id])
    return rows, next_cursor


def count_customers(
    session: Session, *, workspace_id: int, filters: CustomerFilter | None = None
) -> int:
    """How many live customers the workspace has (matching ``filters`` when given)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(*_filter_clauses(workspace_id, filters or CustomerFilter()))
        )
        or 0
    )


def _filter_clauses(workspace_id: int, filters: CustomerFilter) -> list[Any]:
    """The WHERE clauses of live customers of the workspace that match ``filters``."""
    if filters.stage and filters.stage not in LIFECYCLE_STAGES:
        raise ValidationFailed(
            f"stage must be one of {', '.join(LIFECYCLE_STAGES)}.",
            errors=[{"field": "stage", "message": "unknown lifecycle stage"}],
        )
    clauses: list[Any] = [Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None)]
    if filters.q and filters.q.strip():
        clauses.append(_search_clause(filters.q, workspace_id))
    if filters.stage:
        clauses.append(Customer.lifecycle_stage == filters.stage)
    if filters.seen_after:
        clauses.append(Customer.last_seen_at >= filters.seen_after)
    if filters.seen_before:
        clauses.append(Customer.last_seen_at < filters.seen_before)
    if filters.has_orders is not None:
        clauses.append(
            Customer.order_count > 0 if filters.has_orders else Customer.order_count == 0
        )
    return clauses


# --- writing -----------------------------------------------------------------------------------


def apply_traits(
    customer: Customer, traits: dict[str, Any], *, context: dict[str, Any] | None = None
) -> None:
    """Fold identify-style traits (and context locale/timezone) into the profile."""
    if traits:
        merged = dict(customer.traits or {})
        merged.update(traits)
        customer.traits = merged
        name = next((traits[k] for k in NAME_TRAITS if isinstance(traits.get(k), str)), None)
        if name is None and (traits.get("firstName") or traits.get("lastName")):
            first = str(traits.get("firstName") or "").strip()
            last = str(traits.get("lastName") or "").strip()
            # Korean names read family name first, without a space.
            if any("\uac00" <= ch <= "\ud7a3" for ch in first + last):
                name = f"{last}{first}"
            else:
                name = f"{first} {last}".strip()
        if name and name.strip():
            customer.display_name = name.strip()[:200]
        email = normalise_email(traits.get("email"))
        if email:
            customer.email = email
        phone = normalise_phone(traits.get("phone"))
        if phone:
            customer.phone = phone
    if context:
        locale = context.get("locale")
        if isinstance(locale, str) and locale.strip():
            customer.locale = locale.strip()[:16]
        tz = context.get("timezone")
        if isinstance(tz, str) and tz.strip():
            customer.timezone = tz.strip()[:64]


def contact_identities(traits: dict[str, Any]) -> list[tuple[str, str]]:
    """Identities carried in traits: email, phone and channel ids (kakao, naver, …)."""
    keys: list[tuple[str, str]] = []
    for kind in ("email", "phone", "kakao", "naver", "line", "instagram", "facebook"):
        raw = (
            traits.get(kind)
            if kind in ("email", "phone")
            else (traits.get(f"{kind}_id") or traits.get(kind))
        )
        if raw is None:
            continue
        value = normalise_identity(kind, raw)
        if value:
            keys.append((kind, value))
    return keys


def create_customer(
    session: Session,
    *,
    workspace: Workspace,
    principal: Principal | None,
    traits: dict[str, Any],
    identities: Sequence[tuple[str, str]],
    source: str = "api",
    resolver: IdentityResolver | None = None,
) -> Customer:
    """Create (or find, by its unique identities) a customer and apply ``traits`` to it.
    ``resolver``, when given, is one the caller keeps for many customers of the workspace
    (profiles it preloaded are not looked up again)."""
    keys = [(k, v) for k, raw in identities if (v := normalise_identity(k, raw))]
    bad = [k for k, raw in identities if not normalise_identity(k, raw)]
    if bad:
        raise ValidationFailed(
            f"Not a valid identity: {', '.join(bad)}.",
            errors=[{"field": f"identities.{k}", "message": "invalid value"} for k in bad],
        )
    keys += [k for k in contact_identities(traits) if k not in keys]
    if not keys:
        raise ValidationFailed("A customer needs at least one identity (user_id, email, phone, …).")
    resolver = resolver or IdentityResolver(session, workspace, source=source)
    customer = resolver.resolve(keys)
    apply_traits(customer, traits)
    # The contact fields show the (normalised) email and phone the customer was created with.
    customer.email = customer.email or next((v for k, v in keys if k == "email"), None)
    customer.phone = customer.phone or next((v for k, v in keys if k == "phone"), None)
    if customer.lifecycle_stage == "anonymous" and any(k != "anonymous_id" for k, _ in keys):
        customer.lifecycle_stage = "lead"
    now = utcnow()
    customer.first_seen_at = customer.first_seen_at or now
    resolver.finish()
    return customer


def update_customer(
    session: Session,
    *,
    customer: Customer,
    traits: dict[str, Any] | None = None,
    display_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    locale: str | None = None,
    timezone: str | None = None,
) -> Customer:
    """Change profile fields; email and phone are validated and become identities."""
    if traits:
        apply_traits(customer, traits)
    if display_name is not None:
        customer.display_name = display_name.strip()[:200] or None
    if email is not None:
        normal = normalise_email(email)
        if normal is None:
            raise ValidationFailed(
                f"Not a valid email address: {email!r}.",
                errors=[{"field": "email", "message": "invalid email"}],
            )
        customer.email = normal
        _add_identity(session, customer, "email", normal)
    if phone is not None:
        normal = normalise_phone(phone)
        if normal is None:
            raise ValidationFailed(
                f"Not a valid phone number: {phone!r}.",
                errors=[{"field": "phone", "message": "invalid phone number"}],
            )
        customer.phone = normal
        _add_identity(session, customer, "phone", normal)
    if locale is not None:
        customer.locale = locale[:16] or None
    if timezone is not None:
        customer.timezone = timezone[:64] or None
    session.flush()
    return customer


def _add_identity(session: Session, customer: Customer, kind: str, value: str) -> None:
    exists = session.scalar(
        select(Identity.id).where(
            Identity.customer_id == customer.id, Identity.kind == kind, Identity.value == value
        )
    )
    if exists is None:
        session.add(
            Identity(
                workspace_id=customer.workspace_id,
                customer_id=customer.id,
                kind=kind,
                value=value,
                source="manual",
            )
        )


def merge(session: Session, *, principal: Principal, customer_ids: tuple[int, int]) -> Customer:
    """Merge two profiles by hand; the older survives. Audited."""
    a = get_customer(
        session,
        workspace_id=principal.workspace_id,
        customer_id=customer_ids[0],
        follow_merges=False,
    )
    b = get_customer(
        session,
        workspace_id=principal.workspace_id,
        customer_id=customer_ids[1],
        follow_merges=False,
    )
    survivor, merged = sorted((a, b), key=lambda c: (c.created_at, c.id))
    merge_customers(
        session, survivor=survivor, merged=merged, reason="manual", actor=principal.label
    )
    record_audit(
        session,
        principal=principal,
        action="customer.merge",
        target_type="customer",
        target_id=survivor.id,
        detail={"merged_id": merged.id},
    )
    return survivor


# --- consent -----------------------------------------------------------------------------------


def record_consent(
    session: Session,
    *,
    customer: Customer,
    purpose: str,
    channel: str,
    granted: bool,
    source: str,
    evidence: str = "",
    at: datetime | None = None,
    flush: bool = True,
    principal: Principal | None = None,
) -> ConsentRecord:
    """Append one consent change to the ledger (the history is never rewritten); audited
    when ``principal`` (someone recording it by hand or through the API) is given.

    ``flush=False`` leaves the insert to the next flush, so a bulk caller's records go to the
    database together (the record has no id until then)."""
    if purpose not in CONSENT_PURPOSES:
        raise ValidationFailed(
            f"purpose must be one of {', '.join(CONSENT_PURPOSES)}.",
            errors=[{"field": "purpose", "message": "unknown purpose"}],
        )
    if channel not in CONSENT_CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(CONSENT_CHANNELS)}.",
            errors=[{"field": "channel", "message": "unknown channel"}],
        )
    if not source.strip():
        raise ValidationFailed("A consent change needs its source (form, import, agent, …).")
    record = ConsentRecord(
        workspace_id=customer.workspace_id,
        customer_id=customer.id,
        purpose=purpose,
        channel=channel,
        granted=granted,
        source=source.strip()[:64],
        evidence=evidence[:2000],
        recorded_at=at or utcnow(),
    )
    session.add(record)
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            action="consent.record",
            workspace_id=customer.workspace_id,
            target_type="customer",
            target_id=customer.id,
            detail={
                "purpose": purpose,
                "channel": channel,
                "granted": granted,
                "source": record.source,
            },
        )
    if flush:
        session.flush()
    return record


def consent_history(session: Session, *, customer: Customer) -> list[ConsentRecord]:
    return list(
        session.scalars(
            select(ConsentRecord)
            .where(
                ConsentRecord.workspace_id == customer.workspace_id,
                ConsentRecord.customer_id == customer.id,
            )
            .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
        )
    )


def current_consent(
    session: Session, *, customer: Customer
) -> dict[tuple[str, str], ConsentRecord]:
    """The latest record per (purpose, channel): the state in force now."""
    state: dict[tuple[str, str], ConsentRecord] = {}
    for record in consent_history(session, customer=customer):
        state[(record.purpose, record.channel)] = record
    return state


# Whether a message may go to a customer is the consent policy's answer: ``may_send`` in
# ``cxloop.profiles.consent``.


# --- data-subject rights -----------------------------------------------------------------------


def _customer_dict(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "display_name": customer.display_name,
        "email": customer.email,
        "phone": customer.phone,
        "locale": customer.locale,
        "timezone": customer.timezone,
        "traits": customer.traits,
        "lifecycle_stage": customer.lifecycle_stage,
        "first_seen_at": customer.first_seen_at,
        "last_seen_at": customer.last_seen_at,
        "created_at": customer.created_at,
        "order_count": customer.order_count,
        "total_revenue": str(customer.total_revenue),
    }


def export_customer(
    session: Session, *, principal: Principal | None, customer: Customer
) -> dict[str, Any]:
    """Everything cxloop holds about one customer, as JSON-ready data. Audited."""
    data: dict[str, Any] = {
        "exported_at": utcnow(),
        "customer": _customer_dict(customer),
        "identities": [
            {"kind": i.kind, "value": i.value, "source": i.source, "created_at": i.created_at}
            for i in identities_of(session, customer=customer)
        ],
        "consent_history": [
            {
                "purpose": r.purpose,
                "channel": r.channel,
                "granted": r.granted,
                "source": r.source,
                "evidence": r.evidence,
                "recorded_at": r.recorded_at,
            }
            for r in consent_history(session, customer=customer)
        ],
        "merges": [
            {"merged_id": m.merged_id, "reason": m.reason, "at": m.created_at}
            for m in merges_of(session, customer=customer)
        ],
    }
    for hook in export_hooks:
        data.update(hook(session, customer))
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            action="customer.export",
            target_type="customer",
            target_id=customer.id,
        )
    return data


def _merged_into(session: Session, customer: Customer) -> list[int]:
    """Ids of every profile merged into ``customer``, directly or through another merge."""
    found: list[int] = []
    frontier = [customer.id]
    while frontier:
        frontier = list(
            session.scalars(
                select(Customer.id).where(
                    Customer.workspace_id == customer.workspace_id,
                    Customer.merged_into_id.in_(frontier),
                )
            )
        )
        found += frontier
    return found


def erase_customer(session: Session, *, principal: Principal, customer: Customer) -> dict[str, int]:
    """Remove a customer's personal data; counts and amounts stay for aggregates. Audited."""
    if customer.erased_at is not None:
        return {}
    removed: dict[str, int] = {}
    removed["identities"] = rowcount(
        session.execute(delete(Identity).where(Identity.customer_id == customer.id))
    )
    removed["consent_records"] = rowcount(
        session.execute(delete(ConsentRecord).where(ConsentRecord.customer_id == customer.id))
    )
    for hook in erase_hooks:
        removed.update(hook(session, customer))
    customer.display_name = None
    customer.email = None
    customer.phone = None
    customer.locale = None
    customer.timezone = None
    customer.traits = {}
    customer.erased_at = utcnow()
    # Profiles merged into this one still hold the name and contact details they had then.
    merged = _merged_into(session, customer)
    if merged:
        session.execute(
            update(Customer)
            .where(Customer.workspace_id == customer.workspace_id, Customer.id.in_(merged))
            .values(
                display_name=None,
                email=None,
                phone=None,
                locale=None,
                timezone=None,
                traits={},
                erased_at=customer.erased_at,
            )
        )
        removed["merged_profiles"] = len(merged)
    record_audit(
        session,
        principal=principal,
        action="customer.erase",
        target_type="customer",
        target_id=customer.id,
        detail={"removed": removed},
    )
    session.flush()
    return removed
