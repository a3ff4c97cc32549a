"""Help jobs: every minute, the conversations the bot holds are ended — resolved when its
answer was the last word for a while, handed to the team when a message went unanswered; and
after articles change, the workspace's index is built ahead of the next question."""

from __future__ import annotations

from huey import crontab
from sqlalchemy.orm import Session

from cxloop.core.db import get_database
from cxloop.core.jobs import after_commit, huey
from cxloop.core.settings import get_settings
from cxloop.help import conversations, kb


@huey.periodic_task(crontab(minute="*"))
def end_bot_conversations() -> int:
    """Every minute: resolve the bot's idle answered conversations; hand over the others."""
    with get_database().session() as session:
        resolved, handed = conversations.sweep(session)
        return resolved + handed


@huey.task()
def build_index(workspace_id: int) -> int:
    """The workspace's index of published articles, built and saved unless it is already (a
    thousand new articles take the better part of a minute to read for their meaning, which
    no customer's question should wait for). Returns how many documents it holds."""
    with get_database().read_session() as session:
        return len(kb.knowledge_index(session, get_settings(), workspace_id=workspace_id).docs)


def index_after_commit(session: Session, workspace_id: int) -> None:
    """Build the workspace's index once the articles' changes in ``session`` are committed."""
    after_commit(session, build_index, workspace_id)
