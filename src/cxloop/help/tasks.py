"""Help jobs: every minute, the conversations the bot holds are ended — resolved when its
answer was the last word for a while, handed to the team when a message went unanswered."""

from __future__ import annotations

from huey import crontab

from cxloop.core.db import get_database
from cxloop.core.jobs import huey
from cxloop.help import conversations


@huey.periodic_task(crontab(minute="*"))
def end_bot_conversations() -> int:
    """Every minute: resolve the bot's idle answered conversations; hand over the others."""
    with get_database().session() as session:
        resolved, handed = conversations.sweep(session)
        return resolved + handed
