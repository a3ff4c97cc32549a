"""Display names: the words people read for a workspace's own codes.

A workspace names its teams (``cs`` → "고객지원팀"), its survey touchpoints (``checkout_web`` →
"웹 결제"), its traits (``age_band`` → "연령대") and its event names (``Order Completed`` →
"주문 완료") in Korean and English. Pages show the name in the reader's language, else the
other language's, else a name the catalog ships for well-known codes
(``display_name.<kind>.<key>``), else the code itself. The API and the data keep the codes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.db import dialect_insert
from cxloop.core.errors import ValidationFailed
from cxloop.core.i18n import lookup
from cxloop.core.timeutil import utcnow
from cxloop.models import DisplayName

KINDS = ("team", "touchpoint", "trait", "event")
MAX_KEY = 200
MAX_NAME = 100
MAX_PER_SAVE = 500


@dataclass(frozen=True)
class Names:
    """One workspace's display names, for reading many codes on one page."""

    by_code: Mapping[tuple[str, str], tuple[str, str]]

    def name(self, kind: str, key: str, locale: str) -> str:
        """The word for ``key`` of ``kind`` in ``locale`` (see the module's order)."""
        key = "" if key is None else str(key)
        ko, en = self.by_code.get((kind, key), ("", ""))
        mine, other = (ko, en) if locale == "ko" else (en, ko)
        if mine or other:
            return mine or other
        return lookup(locale, f"display_name.{kind}.{key}") or key

    def has(self, kind: str, key: str) -> bool:
        return (kind, key) in self.by_code


def names_of(session: Session, *, workspace_id: int) -> Names:
    rows = session.execute(
        select(DisplayName.kind, DisplayName.key, DisplayName.name_ko, DisplayName.name_en).where(
            DisplayName.workspace_id == workspace_id
        )
    )
    return Names({(kind, key): (ko, en) for kind, key, ko, en in rows})


def list_names(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    after: str | None = None,
    keys: Collection[str] | None = None,
    limit: int = 100,
) -> list[DisplayName]:
    """The names set for codes of ``kind`` (those of ``keys`` when given), by code, from after
    ``after``."""
    check_kind(kind)
    query = select(DisplayName).where(
        DisplayName.workspace_id == workspace_id, DisplayName.kind == kind
    )
    if after:
        query = query.where(DisplayName.key > after)
    if keys is not None:
        query = query.where(DisplayName.key.in_(list(keys)))
    return list(session.scalars(query.order_by(DisplayName.key).limit(limit)))


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValidationFailed(
            f"Unknown kind {kind!r}: one of {', '.join(KINDS)}.",
            errors=[{"field": "kind", "message": f"one of {', '.join(KINDS)}"}],
        )
    return kind


def _clean(field: str, value: object, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(
            f"{field} must be text.", errors=[{"field": field, "message": "must be text"}]
        )
    text = " ".join(value.split())
    if len(text) > limit:
        raise ValidationFailed(
            f"{field} is longer than {limit} characters.",
            errors=[{"field": field, "message": f"at most {limit} characters"}],
        )
    return text


def clean_key(raw: object) -> str:
    """A code as it is stored: its runs of spaces made one, at most ``MAX_KEY`` characters
    (ValidationFailed otherwise)."""
    return _clean("key", raw, MAX_KEY).strip()


def save_names(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    names: Mapping[str, tuple[str | None, str | None]],
    principal: Principal | None = None,
) -> int:
    """Set the Korean and English names of some codes of ``kind``; a code given two empty names
    goes back to its default. Codes not given are left as they are. Returns how many codes
    changed; audited as ``display_names.save`` when something did."""
    check_kind(kind)
    if len(names) > MAX_PER_SAVE:
        raise ValidationFailed(
            f"At most {MAX_PER_SAVE} names at a time.",
            errors=[{"field": "names", "message": f"at most {MAX_PER_SAVE}"}],
        )
    cleaned: dict[str, tuple[str, str]] = {}
    for raw_key, (ko, en) in names.items():
        key = clean_key(raw_key)
        if not key:
            raise ValidationFailed(
                "A code cannot be empty.", errors=[{"field": "key", "message": "required"}]
            )
        cleaned[key] = (_clean("name_ko", ko, MAX_NAME), _clean("name_en", en, MAX_NAME))
    if not cleaned:
        return 0
    before = {
        row.key: (row.name_ko, row.name_en)
        for row in session.scalars(
            select(DisplayName).where(
                DisplayName.workspace_id == workspace_id,
                DisplayName.kind == kind,
                DisplayName.key.in_(list(cleaned)),
            )
        )
    }
    changed = {k: v for k, v in cleaned.items() if before.get(k, ("", "")) != v}
    if not changed:
        return 0
    cleared = [k for k, (ko, en) in changed.items() if not ko and not en]
    if cleared:
        session.execute(
            delete(DisplayName).where(
                DisplayName.workspace_id == workspace_id,
                DisplayName.kind == kind,
                DisplayName.key.in_(cleared),
            )
        )
    rows = [
        {
            "workspace_id": workspace_id,
            "kind": kind,
            "key": key,
            "name_ko": ko,
            "name_en": en,
            "updated_at": utcnow(),
        }
        for key, (ko, en) in changed.items()
        if ko or en
    ]
    if rows:
        insert = dialect_insert(session)(DisplayName)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["workspace_id", "kind", "key"],
                set_={
                    "name_ko": insert.excluded.name_ko,
                    "name_en": insert.excluded.name_en,
                    "updated_at": insert.excluded.updated_at,
                },
            ),
            rows,
        )
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            workspace_id=workspace_id,
            action="display_names.save",
            target_type="display_names",
            target_id=kind,
            detail={"kind": kind, "names": {k: list(v) for k, v in sorted(changed.items())}},
        )
    return len(changed)
