"""Background jobs on Huey: SQLite-backed in the data dir by default, Redis when configured;
and :func:`after_commit`, the one way work inside a unit of work starts a job.

A job enqueued in the middle of a transaction may run before that transaction commits (and
then not find its rows) or after it rolled back (and then act on something that never
happened). :func:`after_commit` holds the job on the session and enqueues it only when the
session's transaction commits:

- nothing is enqueued when it rolls back (or the session closes without committing);
- a job asked for several times in one transaction (the same task with the same arguments),
  however often the session flushes, is enqueued once;
- "commits" means the session's own outermost transaction commits. A savepoint the session
  opens itself (``begin_nested``) is not a commit: when it is released its jobs wait for the
  enclosing transaction, when it rolls back its jobs are dropped. A session joined to an
  outer connection transaction through a savepoint (``join_transaction_mode=
  "create_savepoint"``, as the tests' transactional database is) commits when it releases
  that savepoint: its work is then visible to every other session on that connection, which
  is how tests observe the job.

Jobs still take ids, reload their rows and are safe to run twice: a job is enqueued after the
commit, so a crash between the two loses it, and the periodic sweeps pick such work up.
"""

from __future__ import annotations

import logging
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from cxloop.core.settings import get_settings

log = logging.getLogger(__name__)


def make_huey() -> Huey:
    settings = get_settings()
    if settings.env == "test" and not settings.redis_url:
        return MemoryHuey("cxloop", immediate=True)
    if settings.redis_url:
        return RedisHuey("cxloop", url=settings.redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("cxloop", filename=str(settings.data_dir / "jobs.db"))


huey = make_huey()


# --- jobs after commit ---------------------------------------------------------------------------

_PENDING = "cxloop.jobs.after_commit"  # session.info: {transaction: {job key: job}}
_COMMITTED = "cxloop.jobs.committed"  # session.info: the transaction ending next committed

_Job = tuple[TaskWrapper, tuple[Any, ...], float | None]


def after_commit(
    session: Session, task: TaskWrapper, *args: Any, delay: float | None = None
) -> None:
    """Enqueue ``task(*args)`` (after ``delay`` seconds, if given) once the transaction of
    ``session`` commits; never when it rolls back. Asking twice in one transaction for the
    same task with the same arguments enqueues it once. Outside a transaction, the job waits
    for the one the session begins next."""
    owner = session.get_nested_transaction() or session.get_transaction() or session.begin()
    pending: dict[SessionTransaction, dict[tuple[Any, ...], _Job]]
    pending = session.info.setdefault(_PENDING, {})
    pending.setdefault(owner, {}).setdefault((task, args, delay), (task, args, delay))


def _owner(transaction: SessionTransaction) -> SessionTransaction:
    """The transaction that holds jobs for ``transaction``: itself when it is a savepoint or
    the outermost one, else the nearest such one around it."""
    while not transaction.nested and transaction.parent is not None:
        transaction = transaction.parent
    return transaction


@event.listens_for(Session, "after_commit")
def _note_commit(session: Session) -> None:
    if _PENDING in session.info:
        # The transaction that just committed is the next one to end.
        session.info[_COMMITTED] = True


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if pending is None:
        return
    committed = session.info.pop(_COMMITTED, False)
    jobs = pending.pop(transaction, None)
    if not pending:
        del session.info[_PENDING]
    if not jobs or not committed:
        return  # not a transaction that holds jobs, or it rolled back: its jobs are dropped
    if transaction.parent is not None:
        # A savepoint was released: its jobs wait for the transaction around it.
        held = session.info.setdefault(_PENDING, {}).setdefault(_owner(transaction.parent), {})
        for key, job in jobs.items():
            held.setdefault(key, job)
        return
    for task, args, delay in jobs.values():
        _enqueue(task, args, delay)


def _enqueue(task: TaskWrapper, args: tuple[Any, ...], delay: float | None) -> None:
    try:
        if delay is None:
            task(*args)
        else:
            task.schedule(args=args, delay=delay)
    except Exception:  # the commit stands; the job's periodic sweep does the work later
        log.exception("could not enqueue %s%r after commit", task.task_class.__name__, args)
