"""Bursts of unhappy answers: a survey's team hears about its first few new follow-ups in a
window one by one, and about the rest of the burst in one digest when the window closes (in the
app and by email), so a flood of answers never becomes a flood of mail. Every follow-up is
still created and on the board; only the telling is batched.

``CXLOOP_FOLLOW_UP_NOTICE_BURST`` (3) follow-ups of one survey and team within
``CXLOOP_FOLLOW_UP_NOTICE_WINDOW_MINUTES`` (10) are announced alone; a further one opens a
digest for that survey and team (or joins the open one), which a job sends once its window has
passed. The job claims each digest with a conditional UPDATE and notifies with a dedupe key, so
it is safe to run twice or on several workers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cxloop.core.db import rowcount
from cxloop.core.settings import get_settings
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import FollowUp, FollowUpDigest, Response, Survey
from cxloop.notifications import service as notifications

NOTICE_KIND = "followup_digest"


def add_to_digest(
    session: Session, *, follow_up: FollowUp, survey: Survey, now: datetime | None = None
) -> FollowUpDigest | None:
    """Count a new follow-up in its survey and team's open digest (opening one) when the team
    already heard of enough of that survey's follow-ups within the window; None when the
    follow-up is to be announced on its own."""
    settings = get_settings()
    now = now or utcnow()
    window = timedelta(minutes=settings.follow_up_notice_window_minutes)
    recent = session.scalar(
        select(func.count())
        .select_from(FollowUp)
        .join(
            Response,
            (Response.id == FollowUp.response_id)
            & (Response.workspace_id == FollowUp.workspace_id),
        )
        .where(
            FollowUp.workspace_id == follow_up.workspace_id,
            FollowUp.team == follow_up.team,
            FollowUp.created_at >= now - window,
            FollowUp.id != follow_up.id,
            Response.survey_id == survey.id,
        )
    )
    if int(recent or 0) < settings.follow_up_notice_burst:
        return None
    # One open digest per survey and team: concurrent answers take turns on the survey's row
    # (FOR NO KEY UPDATE, which does not wait for the responses that merely reference it).
    session.execute(select(Survey.id).where(Survey.id == survey.id).with_for_update(key_share=True))
    digest = session.scalar(
        select(FollowUpDigest)
        .where(
            FollowUpDigest.workspace_id == follow_up.workspace_id,
            FollowUpDigest.survey_id == survey.id,
            FollowUpDigest.team == follow_up.team,
            FollowUpDigest.closes_at > now,
            FollowUpDigest.sent_at.is_(None),
        )
        .order_by(FollowUpDigest.id.desc())
        .limit(1)
    )
    if digest is None:
        digest = FollowUpDigest(
            workspace_id=follow_up.workspace_id,
            survey_id=survey.id,
            team=follow_up.team,
            answers=1,
            opened_at=now,
            closes_at=now + window,
        )
        session.add(digest)
    else:
        session.execute(
            update(FollowUpDigest)
            .where(FollowUpDigest.id == digest.id)
            .values(answers=FollowUpDigest.answers + 1)
        )
    session.flush()
    return digest


def send_due_digests(session: Session, *, now: datetime | None = None, limit: int = 200) -> int:
    """Tell each team about its digests whose window has passed (once each); how many were
    sent."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(FollowUpDigest)
            .where(FollowUpDigest.sent_at.is_(None), FollowUpDigest.closes_at <= now)
            .order_by(FollowUpDigest.closes_at, FollowUpDigest.id)
            .limit(limit)
        )
    )
    sent = 0
    for digest in due:
        claimed = session.execute(
            update(FollowUpDigest)
            .where(FollowUpDigest.id == digest.id, FollowUpDigest.sent_at.is_(None))
            .values(sent_at=now)
        )
        if rowcount(claimed) == 0:
            continue  # another worker sent it
        session.refresh(digest)
        survey = session.get(Survey, digest.survey_id)
        minutes = round((as_utc(digest.closes_at) - as_utc(digest.opened_at)).total_seconds() / 60)
        notifications.notify(
            session,
            workspace_id=digest.workspace_id,
            kind=NOTICE_KIND,
            params={
                "count": digest.answers,
                "survey": survey.name if survey is not None else "",
                "team": digest.team,
                "minutes": minutes,
            },
            link="/follow-ups?" + urlencode({"team": digest.team}),
            dedupe_key=f"{NOTICE_KIND}:{digest.id}",
            team=digest.team,
        )
        sent += 1
    return sent
