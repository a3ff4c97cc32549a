"""A workspace's bot settings: the threshold under which it hands over and the categories it
always leaves to people; defaults until an admin changes them (audited). And what the settings
page summarises of the knowledge base."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.errors import ValidationFailed
from cxloop.help.bot import DEFAULT_THRESHOLD
from cxloop.models import HelpArticle, HelpArticleVersion, HelpBotSettings
from cxloop.models.help import HELP_LOCALES

MAX_CATEGORIES = 50
# Near 0 the bot would answer anything, near 1 nothing.
LOWEST_THRESHOLD, HIGHEST_THRESHOLD = 0.05, 0.95


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
    if threshold is not None and not LOWEST_THRESHOLD <= threshold <= HIGHEST_THRESHOLD:
        raise ValidationFailed(
            f"The threshold is a confidence from {LOWEST_THRESHOLD} to {HIGHEST_THRESHOLD}.",
            errors=[{"field": "threshold", "message": "from 0.05 to 0.95"}],
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


def knowledge_base_summary(
    session: Session, *, workspace_id: int
) -> tuple[dict[str, int], list[str]]:
    """The published articles per language, and every category of the workspace's articles
    (drafts' too: a topic may be kept for people before its articles are published)."""
    published = dict.fromkeys(HELP_LOCALES, 0)
    rows = session.execute(
        select(HelpArticleVersion.locale, func.count())
        .join(HelpArticle, HelpArticle.id == HelpArticleVersion.article_id)
        .where(HelpArticle.workspace_id == workspace_id, HelpArticle.status == "published")
        .group_by(HelpArticleVersion.locale)
    )
    for locale, count in rows:
        published[locale] = count
    categories = session.scalars(
        select(HelpArticle.category)
        .where(HelpArticle.workspace_id == workspace_id, HelpArticle.category != "")
        .distinct()
    )
    return published, sorted(categories)
