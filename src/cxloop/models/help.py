"""The knowledge base: articles with a Korean and an English version each, every saved version
of their text, and the bot's answers (what it was asked, what it answered or why it handed
over)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId, PortableJSON, Timestamped

HELP_LOCALES = ("ko", "en")
ARTICLE_STATUSES = ("draft", "published")


class HelpArticle(Timestamped, Base):
    """One article of a workspace's knowledge base; ``external_id`` is its id in the file it was
    imported from (importing it again updates it in place)."""

    __tablename__ = "help_articles"
    __table_args__ = (
        UniqueConstraint("workspace_id", "external_id"),
        Index("ix_help_articles_listing", "workspace_id", "status", "category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class HelpArticleVersion(Base):
    """An article's text in one language (its current one)."""

    __tablename__ = "help_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("help_articles.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class HelpArticleRevision(Base):
    """A saved state of one language version: the history of an article's text."""

    __tablename__ = "help_article_revisions"
    __table_args__ = (Index("ix_help_article_revisions_article", "article_id", "locale", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("help_articles.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(32), default="")  # import, editor, api
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HelpBotSettings(Base):
    """How a workspace's bot answers: the confidence under which it hands over, and the article
    categories it always leaves to people (refunds, complaints…)."""

    __tablename__ = "help_bot_settings"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    threshold: Mapped[float] = mapped_column(default=0.55)
    people_categories: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
