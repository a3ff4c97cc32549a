"""Identity resolution: find or create the one profile behind a set of identities, merging
profiles that turn out to share an identity that names one person."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import AliasedClass

from cxloop.core.db import one_of, rowcount
from cxloop.core.errors import Conflict, ValidationFailed
from cxloop.core.timeutil import earliest, latest, utcnow
from cxloop.models import (
    ConsentRecord,
    Customer,
    CustomerMerge,
    Identity,
    Workspace,
)
from cxloop.models.base import table_of


def survivor_id(customer: type[Customer] | AliasedClass[Customer] = Customer) -> ColumnElement[int]:
    """The profile a customer row counts as: its survivor when it was merged (merges are kept
    flat, so one step always reaches it), else itself."""
    return func.coalesce(customer.merged_into_id, customer.id)


# Identity kinds that always name one person; email and phone only where the workspace says so.
ALWAYS_UNIQUE = frozenset(
    {
        "user_id",
        "anonymous_id",
        "kakao",
        "naver",
        "line",
        "instagram",
        "facebook",
        "apple",
        "google",
        "talktalk",
        "social",
    }
)
STAGE_RANK = {"anonymous": 0, "lead": 1, "customer": 2, "repeat": 3, "churned": 1}

# Other domains register here to move their own rows when two profiles merge; a hook takes
# (session, workspace_id, survivor_id, merged_id) and returns how many rows of each table moved.
MergeHook = Callable[[Session, int, int, int], dict[str, int]]
merge_hooks: list[MergeHook] = []

Key = tuple[str, str]


def unique_kinds(workspace: Workspace) -> frozenset[str]:
    return ALWAYS_UNIQUE | frozenset(k for k in workspace.identity_keys if k in ("email", "phone"))


@dataclass
class IdentityResolver:
    """Resolves many identity sets against one workspace with a shared cache (one batch)."""

    session: Session
    workspace: Workspace
    source: str = "api"
    merges: list[tuple[int, int]] = field(default_factory=list)
    _keys: dict[Key, Customer] = field(default_factory=dict)
    _held: dict[int, set[Key]] = field(default_factory=dict)
    _loaded: set[Key] = field(default_factory=set)
    _pending: list[tuple[Customer, Key]] = field(default_factory=list)
    _redirect: dict[int, Customer] = field(default_factory=dict)
    _fresh: list[Customer] = field(default_factory=list)
    # The maps above key on id(customer), which Python reuses once an object is freed (the
    # session holds clean objects weakly): every profile the resolver has seen stays alive here.
    _alive: list[Customer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.unique = unique_kinds(self.workspace)

    def preload(self, keys: Iterable[Key]) -> None:
        """Load in one round trip the profiles holding any of ``keys``."""
        wanted = {k for k in keys if k not in self._loaded}
        if not wanted:
            return
        self._loaded |= wanted
        values = {v for _, v in wanted}
        kinds = {k for k, _ in wanted}
        holding = and_(
            one_of(self.session, Identity.kind, kinds),
            one_of(self.session, Identity.value, values),
        )
        holders = (
            select(Identity.customer_id)
            .where(Identity.workspace_id == self.workspace.id, holding)
            .correlate(None)  # a list of its own, not tied to the row around it
        )
        # With these identities, every user id of their profiles, not just those in the
        # batch: a profile that already names another user is a different person and is
        # never joined.
        found = self.session.execute(
            select(Identity.kind, Identity.value, Customer)
            .join(Customer, Customer.id == Identity.customer_id)
            .where(
                Identity.workspace_id == self.workspace.id,
                Customer.workspace_id == self.workspace.id,
                Identity.customer_id.in_(holders),
                or_(holding, Identity.kind == "user_id"),
            )
        ).all()
        self._alive.extend({customer.id: customer for _, _, customer in found}.values())
        for kind, value, customer in found:
            self._held.setdefault(id(customer), set()).add((kind, value))
            if kind in self.unique:
                current = self._keys.get((kind, value))
                if current is None or _older(customer, current):
                    self._keys[(kind, value)] = customer

    def lock_loaded(self) -> None:
        """On PostgreSQL, lock the loaded profiles now, in id order: merges later in the batch
        then never wait on a lock taken in another order (the bus locks in id order too)."""
        ids = sorted({c.id for c in self._alive if c.id is not None})
        if not ids or self.session.get_bind().dialect.name != "postgresql":
            return
        self.session.execute(
            select(Customer.id)
            .where(one_of(self.session, Customer.id, ids))
            .order_by(Customer.id)
            .with_for_update()
        )

    def resolve(self, identities: list[Key]) -> Customer:
        """The profile for these (already normalised) identities, created or merged as needed."""
        if not identities:
            raise ValidationFailed("An event needs a userId or an anonymousId.")
        self.preload(identities)
        unique_keys = [k for k in identities if k[0] in self.unique]
        found: list[Customer] = []
        for key in unique_keys:
            customer = self._keys.get(key)
            if customer is not None and all(customer is not f for f in found):
                found.append(customer)
        user_ids = {v for k, v in identities if k == "user_id"}
        if len(user_ids) > 1:
            raise ValidationFailed("An event may carry only one userId.")
        if user_ids:
            # Profiles that carry a different user id are different people (a shared device,
            # a family email): never merged, and the event goes to the one it names. A profile
            # that holds this user id is that person even if an alias gave it another one.
            found = [c for c in found if not self._user_ids(c) or self._user_ids(c) & user_ids]
        customer = self._join(found) if found else self._new_customer()
        for key in identities:
            holder = self._keys.get(key)
            if holder is not None and self.current(holder) is not customer:
                continue  # the identity stays with the profile of the other user
            self.attach(customer, key)
        return customer

    def _join(self, found: list[Customer]) -> Customer:
        found.sort(key=_age_key)
        survivor = found[0]
        for other in found[1:]:
            if (
                self._user_ids(survivor)
                and self._user_ids(other)
                and (self._user_ids(survivor) != self._user_ids(other))
            ):
                continue
            survivor = self.merge(survivor, other, reason="shared identity")
        return survivor

    def _user_ids(self, customer: Customer) -> set[str]:
        return {v for k, v in self._held.get(id(customer), ()) if k == "user_id"}

    def _new_customer(self) -> Customer:
        # Kept out of the session until ``_materialize`` writes all new profiles at once.
        now = utcnow()
        customer = Customer(
            workspace_id=self.workspace.id,
            traits={},
            touchpoints={},
            lifecycle_stage="anonymous",
            event_count=0,
            order_count=0,
            total_revenue=Decimal(0),
            created_at=now,
            updated_at=now,
        )
        self._fresh.append(customer)
        self._alive.append(customer)
        self._held[id(customer)] = set()
        return customer

    def _materialize(self) -> None:
        """Insert the new profiles in one statement and attach them to the session."""
        fresh = [c for c in self._fresh if id(c) not in self._redirect]
        self._fresh.clear()
        if not fresh:
            return
        table = table_of(Customer)
        columns = [c for c in table.columns if c.key != "id"]
        rows = [{c.key: getattr(customer, c.key) for c in columns} for customer in fresh]
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            # Ids from the sequence up front, then a pipelined executemany without RETURNING.
            ids = list(
                connection.scalars(
                    text("SELECT nextval('customers_id_seq') FROM generate_series(1, :n)"),
                    {"n": len(rows)},
                )
            )
            for row, new_id in zip(rows, ids, strict=True):
                row["id"] = new_id
            connection.execute(insert(table), rows)
        else:
            result = connection.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
            )
            ids = [row_id for (row_id,) in result.all()]
        for customer, new_id in zip(fresh, ids, strict=True):
            customer.id = new_id
            make_transient_to_detached(customer)
            self.session.add(customer)

    def current(self, customer: Customer) -> Customer:
        """The profile ``customer`` now lives on (itself, or the survivor of its merge)."""
        while id(customer) in self._redirect:
            customer = self._redirect[id(customer)]
        return customer

    def holder(self, key: Key) -> Customer | None:
        """The profile holding a unique identity (after preload), if any."""
        return self._keys.get(key)

    def attach(self, customer: Customer, key: Key) -> None:
        """Give ``customer`` the identity ``key`` (written by ``finish``)."""
        held = self._held.setdefault(id(customer), set())
        if key in held:
            return
        held.add(key)
        if key[0] in self.unique:
            self._keys[key] = customer
        self._pending.append((customer, key))
        if key[0] == "user_id" and customer.lifecycle_stage == "anonymous":
            customer.lifecycle_stage = "lead"

    def finish(self) -> None:
        """Write the new profiles and identities of this batch (customers get their ids)."""
        self._materialize()
        self.session.flush()
        self._write_identities()

    def _write_identities(self) -> None:
        rows: dict[tuple[int, str, str], dict[str, object]] = {}
        for customer, (kind, value) in self._pending:
            customer = self.current(customer)
            rows[(customer.id, kind, value)] = {
                "workspace_id": self.workspace.id,
                "customer_id": customer.id,
                "kind": kind,
                "value": value,
                "source": self.source,
                "created_at": utcnow(),
            }
        self._pending.clear()
        if rows:
            self.session.connection().execute(insert(table_of(Identity)), list(rows.values()))

    def merge(self, survivor: Customer, merged: Customer, *, reason: str) -> Customer:
        """Merge ``merged`` into ``survivor`` (the older profile survives)."""
        if _older(merged, survivor):
            survivor, merged = merged, survivor
        if merged.id is None and any(c is merged for c in self._fresh):
            # Made earlier in this batch and never written: it simply becomes the survivor,
            # with nothing to move in the database and no merge to record.
            combine_profiles(survivor, merged)
            self._absorb(survivor, merged)
            return survivor
        self._materialize()
        self.session.flush()
        # Identities attached in this batch go in first, so the merge moves them (and drops
        # those the survivor already holds) like any other.
        self._write_identities()
        merge_customers(self.session, survivor=survivor, merged=merged, reason=reason)
        self._absorb(survivor, merged)
        self.merges.append((survivor.id, merged.id))
        return survivor

    def _absorb(self, survivor: Customer, merged: Customer) -> None:
        """From now on ``merged``'s identities and events belong to ``survivor``."""
        keys = self._held.pop(id(merged), set())
        self._held.setdefault(id(survivor), set()).update(keys)
        for key, holder in list(self._keys.items()):
            if holder is merged:
                self._keys[key] = survivor
        self._redirect[id(merged)] = survivor


def _age_key(customer: Customer) -> tuple[float, int]:
    created = customer.created_at.timestamp() if customer.created_at else float("inf")
    return (created, customer.id or 2**62)


def _older(a: Customer, b: Customer) -> bool:
    return _age_key(a) < _age_key(b)


def move_customer_rows(
    session: Session, models: Iterable[Any], workspace_id: int, survivor_id: int, merged_id: int
) -> dict[str, int]:
    """Give the survivor of a merge the rows of ``models`` that belonged to the merged profile;
    returns how many moved per table (merge hooks of other domains use it too)."""
    moved: dict[str, int] = {}
    for model in models:
        result = session.execute(
            update(model)
            .where(model.workspace_id == workspace_id, model.customer_id == merged_id)
            .values(customer_id=survivor_id)
            .execution_options(synchronize_session=False)
        )
        moved[model.__tablename__] = rowcount(result)
    return moved


def merge_customers(
    session: Session,
    *,
    survivor: Customer,
    merged: Customer,
    reason: str,
    actor: str = "system",
) -> CustomerMerge:
    """Move everything of ``merged`` onto ``survivor`` and leave ``merged`` as a pointer to it."""
    if survivor.workspace_id != merged.workspace_id:
        raise Conflict("Profiles of different workspaces cannot be merged.")
    if survivor.id == merged.id:
        raise Conflict("A profile cannot be merged into itself.")
    if merged.merged_into_id is not None or survivor.merged_into_id is not None:
        raise Conflict("One of these profiles was already merged into another.")
    ws = survivor.workspace_id
    session.flush()
    # Identities both profiles hold would collide; the survivor's copy stays.
    held = {
        (kind, value)
        for kind, value in session.execute(
            select(Identity.kind, Identity.value).where(Identity.customer_id == survivor.id)
        )
    }
    duplicates = [
        i
        for i in session.scalars(select(Identity).where(Identity.customer_id == merged.id))
        if (i.kind, i.value) in held
    ]
    for identity in duplicates:
        session.delete(identity)
    session.flush()
    moved = move_customer_rows(session, (Identity, ConsentRecord), ws, survivor.id, merged.id)
    for hook in merge_hooks:
        moved.update(hook(session, ws, survivor.id, merged.id))

    combine_profiles(survivor, merged)

    # Profiles merged earlier into ``merged`` now point straight at the survivor (one hop).
    session.execute(
        update(Customer)
        .where(Customer.workspace_id == ws, Customer.merged_into_id == merged.id)
        .values(merged_into_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    merged.merged_into_id = survivor.id
    merged.traits = {}
    merged.touchpoints = {}
    merged.event_count = 0
    merged.order_count = 0
    merged.total_revenue = 0  # type: ignore[assignment]
    record = CustomerMerge(
        workspace_id=ws,
        survivor_id=survivor.id,
        merged_id=merged.id,
        reason=reason,
        detail={"moved": moved, "actor": actor, "at": utcnow().isoformat()},
    )
    session.add(record)
    session.flush()
    return record


def combine_profiles(survivor: Customer, merged: Customer) -> None:
    """What ``survivor`` keeps of ``merged``: its traits and contact fields where the survivor
    has none, the wider seen-time span, the summed counters and the further lifecycle stage."""
    survivor.traits = {**(merged.traits or {}), **(survivor.traits or {})}
    for attr in ("display_name", "email", "phone", "locale", "timezone"):
        if not getattr(survivor, attr) and getattr(merged, attr):
            setattr(survivor, attr, getattr(merged, attr))
    survivor.first_seen_at = earliest(survivor.first_seen_at, merged.first_seen_at)
    survivor.last_seen_at = latest(survivor.last_seen_at, merged.last_seen_at)
    survivor.event_count = (survivor.event_count or 0) + (merged.event_count or 0)
    survivor.order_count = (survivor.order_count or 0) + (merged.order_count or 0)
    survivor.total_revenue = (survivor.total_revenue or Decimal(0)) + (
        merged.total_revenue or Decimal(0)
    )
    counters = dict(survivor.touchpoints or {})
    for name, count in (merged.touchpoints or {}).items():
        counters[name] = counters.get(name, 0) + count
    survivor.touchpoints = counters
    if STAGE_RANK.get(merged.lifecycle_stage, 0) > STAGE_RANK.get(survivor.lifecycle_stage, 0):
        survivor.lifecycle_stage = merged.lifecycle_stage


def identity_count(session: Session, *, customer_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Identity).where(Identity.customer_id == customer_id)
        )
        or 0
    )


def forget_identities(session: Session, *, customer_id: int) -> int:
    result = session.execute(delete(Identity).where(Identity.customer_id == customer_id))
    return rowcount(result)
