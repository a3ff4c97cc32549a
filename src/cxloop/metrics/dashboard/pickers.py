"""The choices of the dashboard's filter form: the workspace's surveys and trait names."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.metrics.dashboard.breakdowns import check_trait_key
from cxloop.models import Customer, Survey


def workspace_surveys(session: Session, *, workspace_id: int, limit: int = 200) -> list[Survey]:
    """Surveys for the dashboard's filter, live ones first, then by name."""
    return list(
        session.scalars(
            select(Survey)
            .where(Survey.workspace_id == workspace_id)
            .order_by((Survey.status != "live"), Survey.name, Survey.id)
            .limit(limit)
        )
    )


def trait_keys(
    session: Session, *, workspace_id: int, sample: int = 500, limit: int = 40
) -> list[str]:
    """Trait names seen on the workspace's most recently active customers, the most common
    first (then by name), at most ``limit`` of them; a sample, so the picker stays cheap on
    large workspaces."""
    seen: Counter[str] = Counter()
    for traits in session.scalars(
        select(Customer.traits)
        .where(Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None))
        .order_by(Customer.last_seen_at.desc(), Customer.id.desc())
        .limit(sample)
    ):
        if isinstance(traits, dict):
            seen.update(
                k for k, v in traits.items() if isinstance(v, str | int) and not isinstance(v, bool)
            )
    names = []
    for key, _ in sorted(seen.items(), key=lambda item: (-item[1], item[0])):
        try:
            names.append(check_trait_key(key))
        except ValidationFailed:
            continue
    return names[:limit]
