"""What every ``cxloop`` command shares: the consoles, the ``--workspace`` option, opening
the database (migrated first when it is the embedded default) and progress bars."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cxloop.core.db import Database
from cxloop.core.errors import CxloopError

# Long lines (a password, a key) stay whole however narrow the terminal or the log.
console = Console(soft_wrap=True)
# Errors stay on one line however narrow the terminal.
err = Console(stderr=True, soft_wrap=True)
KST = ZoneInfo("Asia/Seoul")

WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name (slug)")]


def _database() -> Database:
    """The database, with every domain plugged in (merges, exports and erasure reach them all)."""
    from cxloop import domains
    from cxloop.core.db import get_database

    domains.install()
    return get_database()


def _ready_database() -> Database:
    """The database, migrated first when it is the embedded SQLite default."""
    from cxloop.core.migrate import current_is_head, upgrade
    from cxloop.core.settings import get_settings

    settings = get_settings()
    if not current_is_head(settings.db_url):
        if settings.is_sqlite:
            upgrade(settings.db_url)
        else:
            raise CxloopError("The database schema is not up to date; run `cxloop migrate`.")
    return _database()


def _workspace_id(slug: str) -> int:
    from cxloop.accounts.service import find_workspace

    with _ready_database().session() as session:
        return find_workspace(session, slug=slug).id


def moment_option(value: str | None, option: str) -> datetime | None:
    """A date (midnight KST) or an ISO time (UTC unless it says otherwise); a one-line error
    naming the option otherwise."""
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=KST)
        moment = datetime.fromisoformat(value)
    except ValueError:
        err.print(f"{option} must be a date (2026-11-01) or an ISO time.")
        raise typer.Exit(2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


# What every import command takes (events' and feedback's).
SkipInvalid = Annotated[
    bool, typer.Option("--skip-invalid", help="Import the valid rows even if some are not")
]
FileArg = Annotated[Path, typer.Argument(help="File to import")]
