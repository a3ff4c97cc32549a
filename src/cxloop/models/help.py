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
    threshold: Mapped[float] = mapped_column(default=0.6)
    people_categories: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    # How it speaks: "haeyo" (해요체) or "hamnida" (합니다체), and what it says first in a new
    # conversation ("" for the default greeting of its tone).
    tone: Mapped[str] = mapped_column(String(8), default="haeyo", server_default="haeyo")
    greeting: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The team a handover goes to by the category of the article it tried ("" the inbox's).
    category_teams: Mapped[dict[str, str]] = mapped_column(
        PortableJSON, default=dict, server_default="{}"
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class HelpBotTurn(Base):
    """What the bot did with one customer message in a conversation: answered with an article
    (and the reply it wrote), or handed over to the team, and why. One per message, so a
    message the bus delivers again is not answered twice."""

    __tablename__ = "help_bot_turns"
    __table_args__ = (
        UniqueConstraint("message_id"),
        Index("ix_help_bot_turns_workspace_created", "workspace_id", "created_at"),
        Index("ix_help_bot_turns_conversation", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_messages.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(16))
    # answered, thanked, or why it handed over (asked_for_person, upset, people_topic,
    # not_sure, no_match, two_failed)
    reason: Mapped[str] = mapped_column(String(24))
    handoff: Mapped[bool] = mapped_column(default=False)
    article: Mapped[str | None] = mapped_column(String(128))  # answered with, or tried
    confidence: Mapped[float] = mapped_column(default=0.0)
    tried: Mapped[list[str]] = mapped_column(PortableJSON, default=list)  # runners-up too
    team: Mapped[str] = mapped_column(String(64), default="")  # handed to
    reply_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_messages.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HelpArticleVote(Base):
    """A "was this helpful?" vote on one article, once per voter (a hash of the help centre's
    anonymous visitor id, or of a conversation's customer)."""

    __tablename__ = "help_article_votes"
    __table_args__ = (
        UniqueConstraint("article_id", "voter"),
        Index("ix_help_article_votes_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("help_articles.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(String(8))
    helpful: Mapped[bool]
    voter: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), default="web")  # web (help centre), chat…
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
