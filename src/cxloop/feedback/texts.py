"""Survey comments as texts for the text domain: the ``survey_response`` source (list, fetch and
weak labels from scores) and the bus consumer that analyses each newly answered comment.

The consumer reads the "Survey Answered" events that completed answers log, so a comment is
analysed in the background, never inside the request that received it; the text service skips
a comment it has already analysed, so a replay of the log changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import scoped
from cxloop.models import Event, Response
from cxloop.text.sources import SourceText, WeakLabel
from cxloop.text.store import service as text_service

SOURCE = "survey_response"
SURVEY_ANSWERED = "Survey Answered"  # as feedback.responses.service logs it


def _with_comment(query: Any, workspace_id: int, since: datetime | None) -> Any:
    query = scoped(query, Response, workspace_id).where(
        Response.comment.is_not(None), Response.comment != ""
    )
    if since is not None:
        query = query.where(Response.submitted_at >= since)
    return query


def _source_text(row: Any) -> SourceText:
    return SourceText(
        source_id=row.id,
        text=row.comment,
        occurred_at=row.submitted_at,
        customer_id=row.customer_id,
    )


_COLUMNS = (Response.id, Response.comment, Response.submitted_at, Response.customer_id)


class SurveyResponseTexts:
    """The comments of survey responses (partial answers too: the customer wrote them)."""

    name = SOURCE

    def count(self, session: Session, *, workspace_id: int, since: datetime | None) -> int:
        query = _with_comment(select(func.count()).select_from(Response), workspace_id, since)
        return int(session.scalar(query) or 0)

    def batch(
        self,
        session: Session,
        *,
        workspace_id: int,
        after_id: int,
        limit: int,
        since: datetime | None,
    ) -> list[SourceText]:
        query = _with_comment(select(*_COLUMNS), workspace_id, since)
        rows = session.execute(
            query.where(Response.id > after_id).order_by(Response.id).limit(limit)
        )
        return [_source_text(row) for row in rows]

    def fetch(self, session: Session, *, workspace_id: int, ids: Sequence[int]) -> list[SourceText]:
        if not ids:
            return []
        query = _with_comment(select(*_COLUMNS), workspace_id, None)
        rows = session.execute(query.where(Response.id.in_(list(ids))).order_by(Response.id))
        return [_source_text(row) for row in rows]

    def touchpoints(self, *, workspace_id: int) -> Select[Any]:
        """Where each response was asked (its ``touchpoint``), for the emotion curve."""
        return scoped(
            select(Response.id.label("source_id"), Response.touchpoint.label("touchpoint")),
            Response,
            workspace_id,
        ).where(Response.touchpoint.is_not(None), Response.touchpoint != "")

    def weak_labels(self, session: Session, *, workspace_id: int, limit: int) -> list[WeakLabel]:
        """NPS 0-6 negative and 9-10 positive; CSAT 1-2 negative and 4-5 positive (passives,
        neutral CSAT and CES say too little about the words)."""
        negative = or_(Response.nps <= 6, and_(Response.nps.is_(None), Response.csat <= 2))
        positive = or_(Response.nps >= 9, and_(Response.nps.is_(None), Response.csat >= 4))
        rows = session.execute(
            _with_comment(select(*_COLUMNS, Response.nps, Response.csat), workspace_id, None)
            .where(or_(negative, positive))
            .order_by(Response.submitted_at.desc(), Response.id.desc())
            .limit(limit)
        )
        out = []
        for row in rows:
            score, low, high = (row.nps, 6, 9) if row.nps is not None else (row.csat, 2, 4)
            label = "negative" if score <= low else "positive" if score >= high else None
            if label is not None:
                out.append(WeakLabel(source_id=row.id, text=row.comment, label=label))
        return out


survey_texts = SurveyResponseTexts()


class SurveyCommentAnalysis:
    """Bus consumer: analyse the comment of every newly answered survey response."""

    name = "text_survey_comments"
    columns: tuple[str, ...] | None = ("workspace_id", "type", "name", "channel", "properties")

    def handle(self, session: Session, events: Sequence[Event]) -> None:
        wanted: dict[int, set[int]] = defaultdict(set)
        for event in events:
            if event.type != "track" or event.name != SURVEY_ANSWERED:
                continue
            response_id = (event.properties or {}).get("response_id")
            if isinstance(response_id, int) and not isinstance(response_id, bool):
                wanted[event.workspace_id].add(response_id)
        for workspace_id, ids in sorted(wanted.items()):
            items = survey_texts.fetch(session, workspace_id=workspace_id, ids=sorted(ids))
            if items:
                text_service.analyse_and_store(
                    session, workspace_id=workspace_id, source_type=SOURCE, items=items
                )


survey_comment_analysis = SurveyCommentAnalysis()
