"""Attachment jobs: every hour, the files agents uploaded for a reply or note they never sent
(a draft left a day ago) are deleted. Safe to run anywhere, any number of times at once."""

from __future__ import annotations

from datetime import timedelta

from huey import crontab

from cxloop.care.attachments import forget_unsent_uploads
from cxloop.core.db import get_database
from cxloop.core.jobs import huey
from cxloop.core.timeutil import utcnow

UNSENT_KEPT = timedelta(days=1)


@huey.periodic_task(crontab(minute="17"))
def forget_unsent_attachments() -> int:
    """Every hour: delete uploads no reply or note took within a day."""
    with get_database().session() as session:
        return forget_unsent_uploads(session, before=utcnow() - UNSENT_KEPT)
