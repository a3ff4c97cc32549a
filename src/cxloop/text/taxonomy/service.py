"""The workspace taxonomy: its categories, seeded from the default ``taxonomy.toml`` on first
use, listed, added and edited (names, keyword seeds, switched off), each edit audited.

Every function takes the session first and never commits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, scoped
from cxloop.accounts.service import record_audit
from cxloop.core.db import dialect_insert
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import oldest_first
from cxloop.core.timeutil import utcnow
from cxloop.models import (
    TextCategory,
)
from cxloop.text.categories import Category, Taxonomy, load_taxonomy

CATEGORY_KEY = re.compile(r"[a-z][a-z0-9_]{1,63}")
MAX_SEEDS = 200


def ensure_taxonomy(session: Session, *, workspace_id: int) -> None:
    """Seed the workspace's taxonomy from ``taxonomy.toml`` (beside this module) the first time
    it is needed."""
    if session.scalar(
        select(exists().where(TextCategory.workspace_id == workspace_id))
    ):  # the common case, one indexed probe
        return
    now = utcnow()
    rows = [
        {
            "workspace_id": workspace_id,
            "key": cat.key,
            "name_ko": cat.name_ko,
            "name_en": cat.name_en,
            "seeds_ko": list(cat.seeds_ko),
            "seeds_en": list(cat.seeds_en),
            "active": True,
            "position": position,
            "created_at": now,
            "updated_at": now,
        }
        for position, cat in enumerate(load_taxonomy().categories)
    ]
    # Two workers seeding at once: the unique (workspace, key) keeps one row of each.
    session.execute(
        dialect_insert(session)(TextCategory)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["workspace_id", "key"])
    )


def workspace_taxonomy(session: Session, *, workspace_id: int) -> Taxonomy:
    """The workspace's active categories as the analyser reads them. Only reads: a workspace
    whose taxonomy was never seeded reads the default one it would be seeded from."""
    rows = session.scalars(
        scoped(select(TextCategory), TextCategory, workspace_id)
        .where(TextCategory.active.is_(True))
        .order_by(TextCategory.position, TextCategory.id)
    ).all()
    if not rows and not session.scalar(
        select(exists().where(TextCategory.workspace_id == workspace_id))
    ):
        return _as_read(load_taxonomy().categories)
    return _as_read(rows)


def _as_read(categories: Sequence[Category] | Sequence[TextCategory]) -> Taxonomy:
    """Categories as stored and read back (English seeds in lower case)."""
    return Taxonomy(
        tuple(
            Category(
                key=c.key,
                name_ko=c.name_ko,
                name_en=c.name_en,
                seeds_ko=tuple(c.seeds_ko),
                seeds_en=tuple(s.lower() for s in c.seeds_en),
            )
            for c in categories
        )
    )


def list_categories(
    session: Session, *, workspace_id: int, cursor: str | None = None, limit: int = 50
) -> tuple[list[TextCategory], str | None]:
    """The workspace's taxonomy (inactive categories too), in the order they were added."""
    ensure_taxonomy(session, workspace_id=workspace_id)
    return oldest_first(
        session,
        scoped(select(TextCategory), TextCategory, workspace_id),
        time=TextCategory.created_at,
        id=TextCategory.id,
        cursor=cursor,
        limit=limit,
    )


def get_category(session: Session, *, workspace_id: int, key: str) -> TextCategory:
    ensure_taxonomy(session, workspace_id=workspace_id)
    category = session.scalar(
        scoped(select(TextCategory), TextCategory, workspace_id).where(TextCategory.key == key)
    )
    if category is None:
        raise NotFound(f"No category {key!r} in this workspace.")
    return category


def _clean_seeds(seeds: Sequence[str], field_name: str, *, lower: bool) -> list[str]:
    out: list[str] = []
    for seed in seeds:
        value = " ".join(seed.split())
        if lower:
            value = value.lower()
        if not value or len(value) > 50:
            raise ValidationFailed(
                "A seed is 1-50 characters.",
                errors=[{"field": field_name, "message": "each seed is 1-50 characters"}],
            )
        if value not in out:
            out.append(value)
    if len(out) > MAX_SEEDS:
        raise ValidationFailed(
            f"At most {MAX_SEEDS} seeds per language.",
            errors=[{"field": field_name, "message": f"at most {MAX_SEEDS} seeds"}],
        )
    return out


def _clean_name(value: str, field_name: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > 100:
        raise ValidationFailed(
            "A category name is 1-100 characters.",
            errors=[{"field": field_name, "message": "1-100 characters"}],
        )
    return name


def create_category(
    session: Session,
    *,
    workspace_id: int,
    key: str,
    name_ko: str,
    name_en: str,
    seeds_ko: Sequence[str] = (),
    seeds_en: Sequence[str] = (),
    principal: Principal | None = None,
) -> TextCategory:
    """Add a category to the workspace's taxonomy; audited when ``principal`` is given."""
    if not CATEGORY_KEY.fullmatch(key):
        raise ValidationFailed(
            "A category key is 2-64 lowercase letters, digits or '_', starting with a letter.",
            errors=[{"field": "key", "message": "use a-z, 0-9 and _ (2-64), a letter first"}],
        )
    ensure_taxonomy(session, workspace_id=workspace_id)
    taken = session.scalar(
        scoped(select(TextCategory.id), TextCategory, workspace_id).where(TextCategory.key == key)
    )
    if taken is not None:
        raise Conflict(f"The category {key!r} exists already; edit it instead.")
    last = session.scalars(
        scoped(select(TextCategory.position), TextCategory, workspace_id)
        .order_by(TextCategory.position.desc())
        .limit(1)
    ).first()
    category = TextCategory(
        workspace_id=workspace_id,
        key=key,
        name_ko=_clean_name(name_ko, "name_ko"),
        name_en=_clean_name(name_en, "name_en"),
        seeds_ko=_clean_seeds(seeds_ko, "seeds_ko", lower=False),
        seeds_en=_clean_seeds(seeds_en, "seeds_en", lower=True),
        active=True,
        position=(last or 0) + 1,
    )
    session.add(category)
    session.flush()
    if principal is not None:
        audit_category(session, principal, "text_category.create", category)
    return category


def audit_category(
    session: Session, principal: Principal, action: str, category: TextCategory
) -> None:
    """The audit entry of an action on a category, by ``principal``."""
    record_audit(
        session,
        principal=principal,
        action=action,
        workspace_id=category.workspace_id,
        target_type="text_category",
        target_id=category.key,
    )


def update_category(
    session: Session,
    *,
    category: TextCategory,
    name_ko: str | None = None,
    name_en: str | None = None,
    seeds_ko: Sequence[str] | None = None,
    seeds_en: Sequence[str] | None = None,
    active: bool | None = None,
    principal: Principal | None = None,
) -> TextCategory:
    """Rename a category, change its seeds or (de)activate it; analyses made before keep their
    categories until they are analysed again. Audited when ``principal`` is given: a switch
    on or off as ``text_category.activate``/``deactivate`` (only when it changes), anything
    else as ``text_category.update``."""
    edited = any(v is not None for v in (name_ko, name_en, seeds_ko, seeds_en))
    switched = active is not None and active != category.active
    if name_ko is not None:
        category.name_ko = _clean_name(name_ko, "name_ko")
    if name_en is not None:
        category.name_en = _clean_name(name_en, "name_en")
    if seeds_ko is not None:
        category.seeds_ko = _clean_seeds(seeds_ko, "seeds_ko", lower=False)
    if seeds_en is not None:
        category.seeds_en = _clean_seeds(seeds_en, "seeds_en", lower=True)
    if active is not None:
        category.active = active
    category.updated_at = utcnow()
    session.flush()
    if principal is not None:
        if edited:
            audit_category(session, principal, "text_category.update", category)
        if switched:
            action = "text_category.activate" if active else "text_category.deactivate"
            audit_category(session, principal, action, category)
    return category
