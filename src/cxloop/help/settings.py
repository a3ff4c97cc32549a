"""A workspace's bot settings: the threshold under which it hands over and the categories it
always leaves to people; defaults until an admin changes them (audited)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.errors import ValidationFailed
from cxloop.help.bot import DEFAULT_THRESHOLD
from cxloop.models import HelpBotSettings

MAX_CATEGORIES = 50


@dataclass(frozen=True)
class BotSettings:
    threshold: float = DEFAULT_THRESHOLD
    people_categories: tuple[str, ...] = ()


def bot_settings(session: Session, *, workspace_id: int) -> BotSettings:
    row = session.get(HelpBotSettings, workspace_id)
    if row is None:
        return BotSettings()
    return BotSettings(row.threshold, tuple(row.people_categories))


def change_bot_settings(
    session: Session,
    *,
    principal: Principal,
    threshold: float | None = None,
    people_categories: list[str] | None = None,
) -> BotSettings:
    """Change what is given; the rest stays."""
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise ValidationFailed(
            "The threshold is a confidence between 0 and 1.",
            errors=[{"field": "threshold", "message": "between 0 and 1"}],
        )
    if people_categories is not None:
        people_categories = sorted({c.strip() for c in people_categories if c.strip()})
        if len(people_categories) > MAX_CATEGORIES or any(len(c) > 64 for c in people_categories):
            raise ValidationFailed(
                f"At most {MAX_CATEGORIES} categories of at most 64 characters.",
                errors=[{"field": "people_categories", "message": "too many or too long"}],
            )
    row = session.get(HelpBotSettings, principal.workspace_id)
    if row is None:
        row = HelpBotSettings(
            workspace_id=principal.workspace_id, threshold=DEFAULT_THRESHOLD, people_categories=[]
        )
        session.add(row)
    if threshold is not None:
        row.threshold = threshold
    if people_categories is not None:
        row.people_categories = people_categories
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="help.bot_settings",
        target_type="workspace",
        target_id=principal.workspace_id,
        detail={"threshold": row.threshold, "people_categories": list(row.people_categories)},
    )
    return BotSettings(row.threshold, tuple(row.people_categories))
