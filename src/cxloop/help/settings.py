"""A workspace's bot settings: the threshold under which it hands over and the categories it
always leaves to people; defaults until an admin changes them (audited). And what the settings
page summarises of the knowledge base."""

from __future__ import annotations

from dataclasses import dataclass, field

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


TONES = ("haeyo", "hamnida")  # 해요체, 합니다체
MAX_GREETING = 500


@dataclass(frozen=True)
class BotSettings:
    threshold: float = DEFAULT_THRESHOLD
    people_categories: tuple[str, ...] = ()
    tone: str = "haeyo"
    greeting: str = ""  # "" for the default greeting of the tone
    category_teams: dict[str, str] = field(default_factory=dict)


def _of(row: HelpBotSettings) -> BotSettings:
    return BotSettings(
        row.threshold,
        tuple(row.people_categories),
        row.tone if row.tone in TONES else "haeyo",
        row.greeting,
        dict(row.category_teams or {}),
    )


def bot_settings(session: Session, *, workspace_id: int) -> BotSettings:
    row = session.get(HelpBotSettings, workspace_id)
    return BotSettings() if row is None else _of(row)


def _check_wording(tone: str | None, greeting: str | None) -> None:
    if tone is not None and tone not in TONES:
        raise ValidationFailed(
            "The tone is haeyo (해요체) or hamnida (합니다체).",
            errors=[{"field": "tone", "message": "haeyo or hamnida"}],
        )
    if greeting is not None and len(greeting) > MAX_GREETING:
        raise ValidationFailed(
            f"The greeting is at most {MAX_GREETING} characters.",
            errors=[{"field": "greeting", "message": f"at most {MAX_GREETING} characters"}],
        )


def _clean_teams(category_teams: dict[str, str]) -> dict[str, str]:
    cleaned = {
        " ".join(k.split())[:64]: " ".join(v.split())
        for k, v in category_teams.items()
        if k.strip() and v.strip()
    }
    if len(cleaned) > MAX_CATEGORIES or any(len(v) > 64 for v in cleaned.values()):
        raise ValidationFailed(
            f"At most {MAX_CATEGORIES} categories, each to a team of at most 64 characters.",
            errors=[{"field": "category_teams", "message": "too many or too long"}],
        )
    return dict(sorted(cleaned.items()))


def change_bot_settings(
    session: Session,
    *,
    principal: Principal,
    threshold: float | None = None,
    people_categories: list[str] | None = None,
    tone: str | None = None,
    greeting: str | None = None,
    category_teams: dict[str, str] | None = None,
) -> BotSettings:
    """Change what is given; the rest stays."""
    _check_wording(tone, greeting)
    if category_teams is not None:
        category_teams = _clean_teams(category_teams)
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
    if tone is not None:
        row.tone = tone
    if greeting is not None:
        row.greeting = greeting.strip()
    if category_teams is not None:
        row.category_teams = category_teams
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="help.bot_settings",
        target_type="workspace",
        target_id=principal.workspace_id,
        detail={
            "threshold": row.threshold,
            "people_categories": list(row.people_categories),
            "tone": row.tone,
            "category_teams": dict(row.category_teams or {}),
        },
    )
    return _of(row)


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
