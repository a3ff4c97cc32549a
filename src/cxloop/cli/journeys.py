"""``cxloop journeys``: funnels and retention for scripts, one JSON object each."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from cxloop.cli.common import WorkspaceOpt, _ready_database, _workspace_id, err

journeys_app = typer.Typer(
    name="journeys", help="Funnels and retention from the event log.", no_args_is_help=True
)


def _day(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"{option} must be a date such as 2026-11-01.")
        raise typer.Exit(2) from None


def _invalid(exc: ValidationError) -> typer.Exit:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    err.print(f"{where}: {message}" if where else message)
    return typer.Exit(2)


def _print(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")


@journeys_app.command("funnel")
def funnel(
    workspace: WorkspaceOpt,
    steps: Annotated[str, typer.Option("--steps", help='Event names in order: "A,B,C"')],
    window_days: Annotated[
        float, typer.Option("--window-days", help="Conversion window from the first step")
    ] = 14,
    order: Annotated[
        str, typer.Option("--order", help="ordered, strict (nothing between) or unordered")
    ] = "ordered",
    start: Annotated[
        str | None, typer.Option("--from", help="First day (workspace time zone)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, included")] = None,
    breakdown: Annotated[
        str | None, typer.Option("--breakdown", help="An event property to split persons by")
    ] = None,
    trait: Annotated[
        bool, typer.Option("--trait", help="--breakdown names a customer trait instead")
    ] = False,
    interval: Annotated[
        str | None, typer.Option("--interval", help="Conversion over time: day, week or month")
    ] = None,
) -> None:
    """Print the persons at each step (per breakdown value when asked) and the time to convert;
    persons enter when their step-1 event falls in the period."""
    from cxloop.core.errors import CxloopError
    from cxloop.journeys import service
    from cxloop.journeys.schemas import FunnelOut
    from cxloop.journeys.spec import FunnelSpec, parse_steps

    first, last = _day(start, "--from"), _day(end, "--to")
    try:
        spec = FunnelSpec.model_validate(
            {
                "steps": [s.model_dump() for s in parse_steps(steps)],
                "window_days": window_days,
                "order": order,
                "breakdown": (
                    {"kind": "trait" if trait else "property", "key": breakdown}
                    if breakdown
                    else None
                ),
            }
        )
    except (ValidationError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise _invalid(exc) from None
        err.print(str(exc))
        raise typer.Exit(2) from None
    if interval not in (None, "day", "week", "month"):
        err.print("--interval must be day, week or month.")
        raise typer.Exit(2)
    workspace_id = _workspace_id(workspace)
    with _ready_database().read_session() as session:
        try:
            report = service.run_funnel(
                session,
                workspace_id=workspace_id,
                spec=spec,
                start=first,
                end=last,
                interval=interval,  # type: ignore[arg-type]
            )
        except CxloopError as exc:
            err.print(exc.detail)
            raise typer.Exit(2) from None
        tz = service.workspace_zone(session, workspace_id=workspace_id)
    _print(FunnelOut.of(report, tz).model_dump(mode="json"))


@journeys_app.command("retention")
def retention(
    workspace: WorkspaceOpt,
    start_event: Annotated[str, typer.Option("--start-event", help="The cohort's first event")],
    return_event: Annotated[
        str | None, typer.Option("--return-event", help="Coming back (default: any event)")
    ] = None,
    period: Annotated[str, typer.Option("--period", help="day, week or month")] = "week",
    periods: Annotated[int, typer.Option("--periods", help="Periods to follow")] = 12,
    cohorts: Annotated[
        int | None, typer.Option("--cohorts", help="Cohorts (default: as many as periods)")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="A day in the first cohort (default: the last)")
    ] = None,
    unbounded: Annotated[
        bool, typer.Option("--unbounded", help="Count a return in a period or any later one")
    ] = False,
) -> None:
    """Print the cohort table: persons by the period of their first start event and how many
    came back in each later period."""
    from cxloop.core.errors import CxloopError
    from cxloop.journeys import service
    from cxloop.journeys.retention import RetentionSpec
    from cxloop.journeys.schemas import RetentionOut

    first = _day(start, "--from")
    try:
        spec = RetentionSpec.model_validate(
            {
                "start_event": start_event,
                "return_event": return_event,
                "period": period,
                "periods": periods,
                "cohorts": cohorts,
                "bounded": not unbounded,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    workspace_id = _workspace_id(workspace)
    with _ready_database().read_session() as session:
        try:
            report = service.run_retention(
                session, workspace_id=workspace_id, spec=spec, start=first
            )
        except CxloopError as exc:
            err.print(exc.detail)
            raise typer.Exit(2) from None
    _print(RetentionOut.of(report).model_dump(mode="json"))


@journeys_app.command("paths")
def paths(
    workspace: WorkspaceOpt,
    event: Annotated[str, typer.Option("--event", help="The event paths start from")],
    before: Annotated[
        bool, typer.Option("--before", help="The events before it instead of after")
    ] = False,
    steps: Annotated[int, typer.Option("--steps", help="Events per path (1 to 10)")] = 5,
    window_hours: Annotated[
        float, typer.Option("--window-hours", help="How far from the event a path reaches")
    ] = 24,
    start: Annotated[
        str | None, typer.Option("--from", help="First day (workspace time zone)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, included")] = None,
) -> None:
    """Print what persons did after (or before) their first EVENT in the period: nodes and
    links per step, and the most common whole paths."""
    from cxloop.core.errors import CxloopError
    from cxloop.journeys import service
    from cxloop.journeys.paths import PathSpec
    from cxloop.journeys.schemas import PathsOut

    first, last = _day(start, "--from"), _day(end, "--to")
    try:
        spec = PathSpec.model_validate(
            {
                "event": event,
                "direction": "before" if before else "after",
                "steps": steps,
                "window_hours": window_hours,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    workspace_id = _workspace_id(workspace)
    with _ready_database().read_session() as session:
        try:
            report = service.run_paths(
                session, workspace_id=workspace_id, spec=spec, start=first, end=last
            )
        except CxloopError as exc:
            err.print(exc.detail)
            raise typer.Exit(2) from None
    _print(PathsOut.of(report).model_dump(mode="json"))
