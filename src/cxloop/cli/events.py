"""The ``cxloop import`` commands of customers, orders, events and products, and the
``cxloop bus`` commands of the internal event bus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cxloop.cli.common import (
    FileArg,
    SkipInvalid,
    WorkspaceOpt,
    _database,
    _progress,
    _ready_database,
    _workspace_id,
    console,
    err,
)
from cxloop.core.errors import CxloopError

import_app = typer.Typer(
    name="import", help="Import customers, orders or events from files.", no_args_is_help=True
)
bus_app = typer.Typer(name="bus", help="The internal event bus.", no_args_is_help=True)


def _run_import(kind: str, workspace: str, path: Path, skip_invalid: bool) -> None:
    from cxloop.events import imports

    runner = {
        "customers": imports.import_customers,
        "orders": imports.import_orders,
        "events": imports.import_events,
        "products": imports.import_products,
    }[kind]
    if not path.is_file():
        raise CxloopError(f"No such file: {path}")
    workspace_id = _workspace_id(workspace)
    options: dict[str, Any] = {}
    if kind == "events":
        # The check must read times without an offset as the import will: in the workspace's
        # time zone.
        with _database().read_session() as session:
            options["time_zone"] = imports.workspace_time_zone(session, workspace_id=workspace_id)
    check = runner(None, workspace_id=workspace_id, path=path, **options)
    if check.errors and not skip_invalid:
        for line in check.errors[:10]:
            err.print(f"[red]{path.name} {line}[/]")
        more = f" (and {len(check.errors) - 10} more)" if len(check.errors) > 10 else ""
        raise CxloopError(
            f"{len(check.errors)} invalid rows{more}; nothing was imported. "
            "Fix them, or pass --skip-invalid to import the valid rows."
        )
    with _progress() as progress:
        task = progress.add_task(f"Importing {kind}", total=check.rows - len(check.errors))
        report = runner(
            _database(),
            workspace_id=workspace_id,
            path=path,
            progress=lambda n: progress.advance(task, n),
            **options,
        )
    console.print(
        f"{report.rows} rows read, {report.stored} stored, {report.duplicates} "
        f"already there, {len(report.errors)} skipped as invalid."
    )


@import_app.command("customers")
def import_customers(
    file: FileArg, workspace: WorkspaceOpt, skip_invalid: SkipInvalid = False
) -> None:
    """Customers from CSV: user_id, email, phone, name, locale, consent_<purpose>_<channel>,
    and any other column as a trait."""
    _run_import("customers", workspace, file, skip_invalid)


@import_app.command("orders")
def import_orders(
    file: FileArg, workspace: WorkspaceOpt, skip_invalid: SkipInvalid = False
) -> None:
    """Orders from CSV, one row per item: order_id, user_id or email, placed_at, total,
    currency, product_id, product_name, category, price, quantity."""
    _run_import("orders", workspace, file, skip_invalid)


@import_app.command("events")
def import_events(
    file: FileArg, workspace: WorkspaceOpt, skip_invalid: SkipInvalid = False
) -> None:
    """Segment messages from a JSON-lines file (each line one message with its type), or a
    clickstream CSV: user_id, event, timestamp, optional anonymous_id, message_id and type
    (track, page, screen), and any other column as a property. Times without an offset are
    in the workspace's time zone."""
    _run_import("events", workspace, file, skip_invalid)


@import_app.command("products")
def import_products(
    file: FileArg, workspace: WorkspaceOpt, skip_invalid: SkipInvalid = False
) -> None:
    """A product catalogue from CSV: product_id, sku, name, category, brand, price, currency."""
    _run_import("products", workspace, file, skip_invalid)


@bus_app.command("drain")
def bus_drain() -> None:
    """Run every bus consumer until it has caught up."""
    from cxloop.events import bus

    handled = bus.drain(_ready_database())
    console.print(f"{handled} events handled.")


@bus_app.command("status")
def bus_status() -> None:
    """How far behind each bus consumer is."""
    from cxloop.events import bus

    with _ready_database().session() as session:
        for name, lag in bus.lag_of(session).items():
            console.print(f"{name}: {lag} events behind")


@bus_app.command("replay")
def bus_replay(
    consumer: Annotated[str, typer.Option("--consumer", "-c", help="Consumer name (see status)")],
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="Events received from this day (YYYY-MM-DD, from 00:00 KST) or time (ISO 8601)",
        ),
    ],
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Only this workspace")
    ] = None,
) -> None:
    """Hand a consumer the events received since a time again (e.g. to repair what it
    missed); safe to repeat, nothing is counted or sent twice."""
    from datetime import date, datetime, time

    from cxloop.core.timeutil import KST, as_utc
    from cxloop.events import bus

    try:
        start = (
            datetime.combine(date.fromisoformat(since), time(0), tzinfo=KST)
            if len(since) == 10
            else datetime.fromisoformat(since)
        )
    except ValueError:
        raise CxloopError(
            f"--since takes a day (YYYY-MM-DD) or an ISO 8601 time, not {since!r}."
        ) from None
    database = _ready_database()
    if consumer not in bus.consumers:
        raise CxloopError(
            f"No consumer named {consumer!r}; there are {', '.join(sorted(bus.consumers))}."
        )
    workspace_id = _workspace_id(workspace) if workspace else None
    with _progress() as progress:
        task = progress.add_task(f"Replaying to {consumer}", total=None)
        handled = bus.replay(
            database,
            bus.consumers[consumer],
            since=as_utc(start),
            workspace_id=workspace_id,
            progress=lambda n: progress.advance(task, n),
        )
    console.print(f"{handled} events replayed to {consumer}.")


@bus_app.command("check")
def bus_check(
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Only this workspace")
    ] = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Recount the profiles that differ")
    ] = False,
) -> None:
    """Compare every profile's event and order counters with the event log and the orders;
    exits 1 when some differ (and were not repaired)."""
    from cxloop.events import consumers

    database = _ready_database()
    workspace_id = _workspace_id(workspace) if workspace else None
    with database.read_session() as session:
        found = consumers.check_counters(session, workspace_id=workspace_id)
    if not found:
        console.print("Every profile's counters agree with the event log.")
        return
    console.print(f"{len(found)} profiles differ from the event log, for example:")
    for m in found[:10]:
        stored, log = m.stored, m.expected
        console.print(
            f"  customer {m.customer_id}: events {stored.event_count} (log {log.event_count}), "
            f"orders {stored.order_count} (log {log.order_count}), "
            f"revenue {stored.revenue} (log {log.revenue})"
        )
    if not repair:
        console.print("Run again with --repair to recount them.")
        raise typer.Exit(1)
    changed = consumers.repair_counters(database, customer_ids=[m.customer_id for m in found])
    console.print(f"{changed} profiles recounted.")
