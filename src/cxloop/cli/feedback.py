"""``cxloop import responses``: survey responses collected elsewhere."""

from __future__ import annotations

from typing import Annotated

import typer

from cxloop.cli.common import (
    FileArg,
    SkipInvalid,
    WorkspaceOpt,
    _database,
    _progress,
    _workspace_id,
    console,
    err,
)
from cxloop.core.errors import CxloopError

# Its command joins the ``import`` group of events (the root command merges groups of one name).
import_app = typer.Typer(name="import", no_args_is_help=True)


@import_app.command("responses")
def import_responses(
    file: FileArg,
    workspace: WorkspaceOpt,
    survey: Annotated[str, typer.Option("--survey", help="The survey's key")],
    source: Annotated[
        str, typer.Option(help="Where the answers were collected (e.g. typeform)")
    ] = "import",
    skip_invalid: SkipInvalid = False,
) -> None:
    """Survey responses collected elsewhere, from CSV (external_id, user_id or email,
    submitted_at, one column per question id, hidden.<field>) or JSON lines (the import API's
    row fields). Rows with an external id already imported are skipped."""
    import re

    from cxloop.feedback.responses.imports import import_response_file

    if not file.is_file():
        raise CxloopError(f"No such file: {file}")
    if not re.fullmatch(r"[a-z0-9_.-]{1,32}", source):
        raise CxloopError("--source takes 1-32 lowercase letters, digits, '_', '.' or '-'.")
    workspace_id = _workspace_id(workspace)
    database = _database()
    check = import_response_file(
        database, workspace_id=workspace_id, survey_key=survey, path=file, store=False
    )
    if check.errors and not skip_invalid:
        for line in check.errors[:10]:
            err.print(f"[red]{file.name} {line}[/]")
        more = f" (and {len(check.errors) - 10} more)" if len(check.errors) > 10 else ""
        raise CxloopError(
            f"{len(check.errors)} invalid rows{more}; nothing was imported. "
            "Fix them, or pass --skip-invalid to import the valid rows."
        )
    with _progress() as progress:
        task = progress.add_task("Importing responses", total=check.rows - len(check.errors))
        report = import_response_file(
            database,
            workspace_id=workspace_id,
            survey_key=survey,
            path=file,
            source=source,
            progress=lambda n: progress.advance(task, n),
        )
    console.print(
        f"{report.rows} rows read, {report.created} stored, {report.duplicates} already "
        f"there, {report.unlinked} not linked to a known customer, {len(report.errors)} "
        "skipped as invalid.",
        soft_wrap=True,
    )
