"""``cxloop insights``: fit and score a workspace's customer models, and export the predictions."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from cxloop.cli.common import WorkspaceOpt, _ready_database, _workspace_id, err, moment_option

insights_app = typer.Typer(
    name="insights",
    help="Customer insights: RFM, lifetime value, churn risk, clusters, recommendations.",
    no_args_is_help=True,
)


@insights_app.command("run")
def run(
    workspace: WorkspaceOpt,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Use only data before this date (KST midnight) or ISO time; default now",
        ),
    ] = None,
    horizon_days: Annotated[
        int, typer.Option("--horizon-days", help="Days ahead churn risk looks at")
    ] = 90,
) -> None:
    """Fit and score every model, record the run, and print it as one JSON line."""
    from cxloop.accounts.service import cli_principal
    from cxloop.core.errors import CxloopError
    from cxloop.insights import runs

    workspace_id = _workspace_id(workspace)
    moment = moment_option(as_of, "--as-of")
    database = _ready_database()
    with database.session() as session:
        try:
            started = runs.start_run(
                session,
                principal=cli_principal(workspace_id),
                workspace_id=workspace_id,
                as_of=moment,
                horizon_days=horizon_days,
                trigger="cli",
            )
        except CxloopError as exc:
            err.print(exc.detail)
            raise typer.Exit(2) from None
        run_id = started.id
    err.print(f"Fitting the models of run {run_id}…")
    finished = runs.perform_run(database, run_id=run_id)
    if finished is None or finished.status != "ready":
        err.print(f"Run {run_id} failed: {finished.error if finished else 'it was taken'}")
        raise typer.Exit(1)
    summary = finished.summary
    sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")


@insights_app.command("export")
def export(workspace: WorkspaceOpt) -> None:
    """Print each scored customer's predictions as one JSON line."""
    from cxloop.insights import runs

    workspace_id = _workspace_id(workspace)
    with _ready_database().read_session() as session:
        for row in runs.export_predictions(session, workspace_id=workspace_id):
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
