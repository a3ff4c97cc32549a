"""Saved funnels: a funnel kept by name over its last N days, on the dashboard if asked;
saving, changing and deleting are audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.pagination import newest_first
from cxloop.journeys.spec import FunnelSpec
from cxloop.models import SavedFunnel

MAX_DAYS = 400
MAX_NAME = 200


def _checked(name: str, days: int) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(f"A funnel's name has 1 to {MAX_NAME} characters.")
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"A saved funnel looks back 1 to {MAX_DAYS} days.")
    return name


def spec_of(funnel: SavedFunnel) -> FunnelSpec:
    """The funnel's spec, as saved (validated again: the language may have grown stricter)."""
    return FunnelSpec.model_validate(funnel.spec)


def save_funnel(
    session: Session,
    *,
    principal: Principal,
    workspace_id: int,
    name: str,
    spec: FunnelSpec,
    days: int = 30,
    on_dashboard: bool = False,
) -> SavedFunnel:
    """Keep a funnel by name (audited as ``journeys.funnel_save``)."""
    funnel = SavedFunnel(
        workspace_id=workspace_id,
        name=_checked(name, days),
        spec=spec.model_dump(mode="json"),
        days=days,
        on_dashboard=on_dashboard,
        created_by_id=principal.user_id,
    )
    session.add(funnel)
    session.flush()
    record_audit(
        session,
        principal=principal,
        workspace_id=workspace_id,
        action="journeys.funnel_save",
        target_type="journey_funnel",
        target_id=funnel.id,
        detail={"name": funnel.name, "on_dashboard": on_dashboard},
    )
    return funnel


def get_funnel(session: Session, *, workspace_id: int, funnel_id: int) -> SavedFunnel:
    """The workspace's saved funnel, or 404."""
    funnel = session.scalar(
        select(SavedFunnel).where(
            SavedFunnel.workspace_id == workspace_id, SavedFunnel.id == funnel_id
        )
    )
    if funnel is None:
        raise NotFound("No such saved funnel.")
    return funnel


def list_funnels(
    session: Session,
    *,
    workspace_id: int,
    on_dashboard: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[SavedFunnel], str | None]:
    """A page of the workspace's saved funnels, newest first."""
    query = select(SavedFunnel).where(SavedFunnel.workspace_id == workspace_id)
    if on_dashboard is not None:
        query = query.where(SavedFunnel.on_dashboard.is_(on_dashboard))
    return newest_first(
        session, query, time=SavedFunnel.created_at, id=SavedFunnel.id, cursor=cursor, limit=limit
    )


def change_funnel(
    session: Session,
    *,
    principal: Principal,
    funnel: SavedFunnel,
    name: str | None = None,
    spec: FunnelSpec | None = None,
    days: int | None = None,
    on_dashboard: bool | None = None,
) -> SavedFunnel:
    """Rename, change or (un)pin a saved funnel (audited as ``journeys.funnel_change``)."""
    changes: dict[str, Any] = {}
    new_name = _checked(
        funnel.name if name is None else name, funnel.days if days is None else days
    )
    if new_name != funnel.name:
        changes["name"] = funnel.name = new_name
    if days is not None and days != funnel.days:
        changes["days"] = funnel.days = days
    if spec is not None:
        funnel.spec = spec.model_dump(mode="json")
        changes["spec"] = True
    if on_dashboard is not None and on_dashboard != funnel.on_dashboard:
        changes["on_dashboard"] = funnel.on_dashboard = on_dashboard
    if changes:
        session.flush()
        record_audit(
            session,
            principal=principal,
            workspace_id=funnel.workspace_id,
            action="journeys.funnel_change",
            target_type="journey_funnel",
            target_id=funnel.id,
            detail=changes,
        )
    return funnel


def delete_funnel(session: Session, *, principal: Principal, funnel: SavedFunnel) -> None:
    """Delete a saved funnel (audited as ``journeys.funnel_delete``, with its spec, so it can
    be saved again from the log)."""
    record_audit(
        session,
        principal=principal,
        workspace_id=funnel.workspace_id,
        action="journeys.funnel_delete",
        target_type="journey_funnel",
        target_id=funnel.id,
        detail={"name": funnel.name, "spec": funnel.spec, "days": funnel.days},
    )
    session.delete(funnel)
    session.flush()
