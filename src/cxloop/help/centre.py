"""The public help centre's reads: a workspace's published articles by category, one article in
the reader's language (the other one when it has no such version), and the articles that
match a search, ranked as the bot ranks them. Drafts are never returned."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cxloop.core.errors import NotFound
from cxloop.core.settings import Settings
from cxloop.help.kb import knowledge_index
from cxloop.models import HelpArticle, HelpArticleVersion
from cxloop.models.help import HELP_LOCALES

MAX_SEARCH_RESULTS = 200  # ten pages; past that a reader searches again with other words


@dataclass(frozen=True)
class ArticleSummary:
    """An article as a list shows it: its title in the reader's language when it has one."""

    external_id: str
    category: str
    title: str
    locale: str  # the language of ``title``
    body: str  # that version's Markdown, for an excerpt


@dataclass(frozen=True)
class Category:
    slug: str
    articles: tuple[ArticleSummary, ...]


@dataclass(frozen=True)
class PublicArticle:
    external_id: str
    category: str
    locale: str  # the language shown: the one asked for, else the other
    title: str
    body: str  # Markdown
    tags: tuple[str, ...]
    locales: tuple[str, ...]  # every language the article is written in
    updated_at: datetime


def _published(workspace_id: int) -> Select[tuple[HelpArticle, HelpArticleVersion]]:
    return (
        select(HelpArticle, HelpArticleVersion)
        .join(HelpArticleVersion, HelpArticleVersion.article_id == HelpArticle.id)
        .where(HelpArticle.workspace_id == workspace_id, HelpArticle.status == "published")
    )


def _in_language(versions: Iterable[HelpArticleVersion], locale: str) -> HelpArticleVersion | None:
    """The version in ``locale``, else the first other one in HELP_LOCALES order."""
    held = {v.locale: v for v in versions}
    for wanted in (locale, *HELP_LOCALES):
        if wanted in held:
            return held[wanted]
    return None


def _summaries(
    session: Session,
    *,
    workspace_id: int,
    locale: str,
    category: str | None = None,
    external_ids: Iterable[str] | None = None,
) -> list[ArticleSummary]:
    """Published articles (of ``category`` or of ``external_ids`` when given) in ``locale``."""
    query = _published(workspace_id)
    if category is not None:
        query = query.where(HelpArticle.category == category)
    if external_ids is not None:
        query = query.where(HelpArticle.external_id.in_(list(external_ids)))
    articles: dict[int, HelpArticle] = {}
    versions: dict[int, list[HelpArticleVersion]] = {}
    for article, version in session.execute(query.order_by(HelpArticle.id)).tuples():
        articles[article.id] = article
        versions.setdefault(article.id, []).append(version)
    summaries = []
    for article_id, article in articles.items():
        shown = _in_language(versions[article_id], locale)
        if shown is not None:
            summaries.append(
                ArticleSummary(
                    article.external_id, article.category, shown.title, shown.locale, shown.body
                )
            )
    return summaries


def categories(session: Session, *, workspace_id: int, locale: str) -> list[Category]:
    """The categories that hold published articles, largest first, each with its articles."""
    grouped: dict[str, list[ArticleSummary]] = {}
    for summary in _summaries(session, workspace_id=workspace_id, locale=locale):
        grouped.setdefault(summary.category, []).append(summary)
    ordered = sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))
    return [Category(slug, tuple(articles)) for slug, articles in ordered]


def category_articles(
    session: Session, *, workspace_id: int, category: str, locale: str
) -> list[ArticleSummary]:
    """The published articles of ``category``; NotFound when it has none."""
    found = _summaries(session, workspace_id=workspace_id, locale=locale, category=category)
    if not found:
        raise NotFound(f"No category {category!r}.")
    return found


def published_article(
    session: Session, *, workspace_id: int, external_id: str, locale: str
) -> PublicArticle:
    """The published article ``external_id`` in ``locale`` (else in its other language);
    NotFound for a draft, another workspace's article or none at all."""
    rows = (
        session.execute(_published(workspace_id).where(HelpArticle.external_id == external_id))
        .tuples()
        .all()
    )
    shown = _in_language([version for _, version in rows], locale)
    if shown is None:
        raise NotFound(f"No article {external_id!r}.")
    article = rows[0][0]
    return PublicArticle(
        external_id=article.external_id,
        category=article.category,
        locale=shown.locale,
        title=shown.title,
        body=shown.body,
        tags=tuple(shown.tags),
        locales=tuple(sorted({v.locale for _, v in rows}, key=HELP_LOCALES.index)),
        updated_at=max(article.updated_at, shown.updated_at),
    )


def search_articles(
    session: Session,
    settings: Settings,
    *,
    workspace_id: int,
    text: str,
    locale: str,
    limit: int = MAX_SEARCH_RESULTS,
) -> list[ArticleSummary]:
    """The published articles that match ``text``, best first as the bot ranks them, in
    ``locale`` where they have it."""
    if not text.strip():
        return []
    index = knowledge_index(session, settings, workspace_id=workspace_id)
    ranked = [hit.article for hit in index.ranked(text, limit=limit)]
    summaries = {
        s.external_id: s
        for s in _summaries(session, workspace_id=workspace_id, locale=locale, external_ids=ranked)
    }
    return [summaries[article] for article in ranked if article in summaries]
