"""The data-subject commands: ``cxloop export customer`` and ``cxloop erase customer``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from cxloop.cli.common import (
    WorkspaceOpt,
    _database,
    _workspace_id,
    console,
    err,
)
from cxloop.core.errors import CxloopError

export_app = typer.Typer(
    name="export", help="Export data (data-subject access requests).", no_args_is_help=True
)
erase_app = typer.Typer(
    name="erase", help="Erase personal data (data-subject erasure).", no_args_is_help=True
)


@export_app.command("customer")
def export_customer(
    customer_id: Annotated[int, typer.Argument(help="Customer id")],
    workspace: WorkspaceOpt,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout")
    ] = None,
) -> None:
    """Everything held about one customer, as JSON (audited)."""
    from cxloop.accounts.service import cli_principal
    from cxloop.core.http import JSONBytesResponse
    from cxloop.core.jsonutil import dump_json
    from cxloop.profiles.service import export_customer as export
    from cxloop.profiles.service import get_customer

    workspace_id = _workspace_id(workspace)
    with _database().session() as session:
        customer = get_customer(session, workspace_id=workspace_id, customer_id=customer_id)
        data = export(session, principal=cli_principal(workspace_id), customer=customer)
    body = JSONBytesResponse(data).body
    pretty = dump_json(orjson.loads(body), indent=True)
    if output:
        output.write_bytes(pretty)
        err.print(f"Wrote {output}")
    else:
        sys.stdout.write(pretty.decode() + "\n")


@erase_app.command("customer")
def erase_customer(
    customer_id: Annotated[int, typer.Argument(help="Customer id")],
    workspace: WorkspaceOpt,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase a customer's personal data (kept: counts and amounts). Audited; cannot be undone."""
    from cxloop.accounts.service import cli_principal
    from cxloop.profiles.service import erase_customer as erase
    from cxloop.profiles.service import get_customer

    workspace_id = _workspace_id(workspace)
    if not yes:
        if not sys.stdin.isatty():
            raise CxloopError("Pass --yes to erase without a prompt.")
        typer.confirm(f"Erase customer {customer_id} for good?", abort=True)
    with _database().session() as session:
        customer = get_customer(session, workspace_id=workspace_id, customer_id=customer_id)
        removed = erase(session, principal=cli_principal(workspace_id), customer=customer)
    console.print(
        f"Customer {customer_id} erased: "
        + ", ".join(f"{k} {v}" for k, v in sorted(removed.items()))
    )
