"""``cxloop care metrics`` and ``cxloop care csat``: the care metrics of a period as a table
(or JSON), and an inbox's CSAT survey after resolution. Joined to the ``care`` group."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from cxloop.cli.common import (
    WorkspaceOpt,
    _ready_database,
    _workspace_id,
    console,
    err,
    moment_option,
)

metrics_app = typer.Typer(name="care", help="Conversations with customers.", no_args_is_help=True)


def duration_text(seconds: float | None) -> str:
    """3d 4h, 2h 05m, 12m 30s: how long, for a table."""
    if seconds is None:
        return "–"
    total = round(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


@metrics_app.command("metrics")
def metrics(
    workspace: WorkspaceOpt,
    since: Annotated[
        str | None, typer.Option(help="Start: a date (KST) or ISO time; default 30 days ago")
    ] = None,
    until: Annotated[str | None, typer.Option(help="End (exclusive); default now")] = None,
    channel: Annotated[str | None, typer.Option(help="email, chat, sms, …")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team's conversations")] = None,
    agent: Annotated[int | None, typer.Option(help="Only this agent's (user id)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Volume, response and resolution times (wall clock and business hours), first-contact
    resolution, reopen rate, SLA met, CSAT per agent and team, and the backlog."""
    from cxloop.care import metrics as care_metrics
    from cxloop.care.metrics_api import metrics_out
    from cxloop.care.views import user_names
    from cxloop.core.errors import ValidationFailed
    from cxloop.core.timeutil import utcnow

    workspace_id = _workspace_id(workspace)
    now = utcnow()
    end = moment_option(until, "--until") or now
    start = moment_option(since, "--since") or end - timedelta(days=30)
    with _ready_database().session() as session:
        try:
            result = care_metrics.care_metrics(
                session,
                workspace_id=workspace_id,
                start=start,
                end=end,
                filters=care_metrics.MetricsFilter(channel=channel, team=team, agent_id=agent),
                now=now,
            )
        except ValidationFailed as exc:
            err.print(exc.detail)
            raise typer.Exit(2) from None
        names = user_names(
            session, workspace_id=workspace_id, user_ids=[g.key for g in result.csat_by_agent]
        )
    out = metrics_out(result, names)
    if as_json:
        console.print_json(out.model_dump_json())
        return
    console.print(
        f"{out.conversations:,} conversations started {out.since:%Y-%m-%d %H:%M} – "
        f"{out.until:%Y-%m-%d %H:%M} UTC"
    )
    volume = Table("channel", "conversations", "messages in", "messages out", title="Volume")
    for v in out.volume:
        volume.add_row(
            v.channel, f"{v.conversations:,}", f"{v.messages_in:,}", f"{v.messages_out:,}"
        )
    console.print(volume)
    times = Table("", "n", "median", "p90", "median (business)", "p90 (business)", title="Times")
    for label, t in (
        ("first response", out.first_response),
        ("next response", out.next_response),
        ("resolution", out.resolution),
    ):
        w, b = t.wall_clock, t.business_hours
        times.add_row(
            label,
            f"{w.n:,}",
            duration_text(w.median_seconds),
            duration_text(w.p90_seconds),
            duration_text(b.median_seconds),
            duration_text(b.p90_seconds),
        )
    console.print(times)
    rates = Table("", "rate", "of", title="Outcomes")
    for label, share in (
        ("first-contact resolution", out.first_contact_resolution),
        ("reopened", out.reopen_rate),
    ):
        rates.add_row(
            label, _percent(share.estimate.percent if share.estimate else None), f"{share.whole:,}"
        )
    for s in out.sla:
        rates.add_row(f"SLA {s.target.replace('_', ' ')} met", _percent(s.percent), f"{s.due:,}")
    console.print(rates)
    csat = Table("CSAT", "satisfied", "95% interval", "answers", title="CSAT")
    groups = [("all", out.csat)] if out.csat else []
    groups += [(f"agent {g.name or g.key or '(none)'}", g) for g in out.csat_by_agent]
    groups += [(f"team {g.key or '(none)'}", g) for g in out.csat_by_team]
    for label, e in groups:
        assert e is not None
        csat.add_row(
            label,
            _percent(e.percent),
            f"{e.ci_low:.1f}–{e.ci_high:.1f}%",
            f"{e.n:,}" + (" (few)" if e.too_few else ""),
        )
    console.print(csat)
    waiting = out.backlog
    backlog = Table(
        *waiting.buckets, "oldest", title=f"Backlog now: {waiting.total:,} open or pending"
    )
    backlog.add_row(
        *(f"{n:,}" for n in waiting.buckets.values()),
        f"#{waiting.oldest_id} ({duration_text(waiting.oldest_age_seconds)})"
        if waiting.oldest_id
        else "–",
    )
    console.print(backlog)


@metrics_app.command("csat")
def csat(
    workspace: WorkspaceOpt,
    inbox: Annotated[int, typer.Option(help="The inbox's id")],
    survey: Annotated[int | None, typer.Option(help="The CSAT survey's id to send")] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop sending CSAT surveys")] = False,
) -> None:
    """Send a CSAT survey after agents resolve the inbox's conversations (--off to stop)."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import csat as care_csat
    from cxloop.core.errors import NotFound, ValidationFailed

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        try:
            found = care_csat.get_inbox(session, workspace_id=workspace_id, inbox_id=inbox)
            care_csat.set_inbox_csat(
                session,
                principal=cli_principal(workspace_id),
                inbox=found,
                enabled=not off,
                survey_id=survey if survey is not None else found.csat_survey_id,
            )
        except (NotFound, ValidationFailed) as exc:
            err.print(exc.detail)
            raise typer.Exit(2) from None
    if off:
        console.print(f"Inbox {inbox}: no CSAT survey after resolution.")
    else:
        console.print(
            f"Inbox {inbox}: CSAT survey {survey or found.csat_survey_id} after resolution."
        )
