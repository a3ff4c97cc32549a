"""The "was this helpful?" votes on an article: one vote per voter and article (voting again changes
it), counted per article over a period. The voter is a keyed hash of the help centre's
anonymous reader id (a cookie), so the table holds nothing that names anyone."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cxloop.core.errors import NotFound
from cxloop.core.timeutil import utcnow
from cxloop.models import HelpArticle, HelpArticleVote


def voter_key(secret: str, reader_id: str) -> str:
    """The stored voter: a keyed hash of the reader's id (never the id itself)."""
    return hmac.new(secret.encode(), f"help-vote:{reader_id}".encode(), hashlib.sha256).hexdigest()


def vote(
    session: Session,
    *,
    workspace_id: int,
    external_id: str,
    locale: str,
    helpful: bool,
    voter: str,
    channel: str = "web",
) -> HelpArticleVote:
    """Record ``voter``'s vote on a published article (their earlier vote on it changes)."""
    article = session.scalar(
        select(HelpArticle).where(
            HelpArticle.workspace_id == workspace_id,
            HelpArticle.external_id == external_id[:128],
            HelpArticle.status == "published",
        )
    )
    if article is None:
        raise NotFound(f"No article {external_id!r}.")
    row = session.scalar(
        select(HelpArticleVote).where(
            HelpArticleVote.article_id == article.id, HelpArticleVote.voter == voter
        )
    )
    if row is None:
        row = HelpArticleVote(
            workspace_id=workspace_id, article_id=article.id, voter=voter, channel=channel
        )
        session.add(row)
    row.locale, row.helpful, row.created_at = locale, helpful, utcnow()
    session.flush()
    return row


def vote_counts(
    session: Session, *, workspace_id: int, since: datetime, until: datetime
) -> dict[str, tuple[int, int]]:
    """Per article (external id): the (helpful, not helpful) votes cast in [since, until)."""
    rows = session.execute(
        select(
            HelpArticle.external_id,
            func.sum(case((HelpArticleVote.helpful, 1), else_=0)),
            func.sum(case((HelpArticleVote.helpful, 0), else_=1)),
        )
        .join(HelpArticle, HelpArticle.id == HelpArticleVote.article_id)
        .where(
            HelpArticleVote.workspace_id == workspace_id,
            HelpArticleVote.created_at >= since,
            HelpArticleVote.created_at < until,
        )
        .group_by(HelpArticle.external_id)
    )
    return {external_id: (int(yes or 0), int(no or 0)) for external_id, yes, no in rows}
