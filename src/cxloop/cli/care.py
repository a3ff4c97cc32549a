"""The ``cxloop care`` commands: inboxes and their webhooks, conversations, SLA targets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cxloop.cli.common import WorkspaceOpt, _ready_database, _workspace_id, console, err

care_app = typer.Typer(
    name="care", help="Conversations with customers: inboxes, SLA targets.", no_args_is_help=True
)


@care_app.command("inbox-create")
def inbox_create(
    workspace: WorkspaceOpt,
    name: Annotated[str, typer.Option(help="The inbox's name, e.g. 고객센터")],
    address: Annotated[str, typer.Option(help="The support address customers write to")] = "",
    team: Annotated[str, typer.Option(help="The team that works it")] = "",
    reopen_days: Annotated[
        int, typer.Option(help="Days after resolving in which a customer's mail reopens it")
    ] = 7,
) -> None:
    """Create an email inbox and print its webhook path (with its secret token, shown once)."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import service

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        made = service.create_inbox(
            session,
            principal=cli_principal(workspace_id),
            name=name,
            address=address,
            team=team,
            reopen_days=reopen_days,
        )
        inbox_id = made.inbox.id
    err.print(f"Inbox {name!r} created (id {inbox_id}). Post raw mail (message/rfc822) to:")
    console.print(f"/hooks/email/{made.token}", soft_wrap=True)


@care_app.command("inboxes")
def inboxes(workspace: WorkspaceOpt) -> None:
    """The workspace's inboxes (never their tokens)."""
    from cxloop.care import service

    workspace_id = _workspace_id(workspace)
    table = Table("id", "name", "channel", "address", "team", "reopen days")
    with _ready_database().session() as session:
        for inbox in service.list_inboxes(session, workspace_id=workspace_id):
            table.add_row(
                str(inbox.id),
                inbox.name,
                inbox.channel,
                inbox.address,
                inbox.team,
                str(inbox.reopen_days),
            )
    console.print(table)


@care_app.command("conversations")
def conversations(
    workspace: WorkspaceOpt,
    status: Annotated[str | None, typer.Option(help="open, pending, snoozed or resolved")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first")] = 20,
) -> None:
    """The latest conversations, with their SLA state."""
    from datetime import timedelta

    from cxloop.care import service, sla

    workspace_id = _workspace_id(workspace)
    table = Table("id", "status", "priority", "subject", "last message (UTC)", "SLA")
    with _ready_database().session() as session:
        rows, _cursor = service.list_conversations(
            session,
            workspace_id=workspace_id,
            filters=service.ConversationFilter(status=status),
            limit=limit,
        )
        for c in rows:
            states = sla.states(c, warn=timedelta(minutes=30))
            table.add_row(
                str(c.id),
                c.status,
                c.priority,
                c.subject[:60],
                c.last_message_at.strftime("%Y-%m-%d %H:%M"),
                ", ".join(f"{k} {v}" for k, v in states.items()),
            )
    console.print(table)


@care_app.command("sla")
def set_sla(
    workspace: WorkspaceOpt,
    team: Annotated[str, typer.Option(help='The team ("" for the default policy)')] = "",
    first_response: Annotated[int | None, typer.Option(help="Minutes to the first reply")] = None,
    next_response: Annotated[
        int | None, typer.Option(help="Minutes to answer a customer's next message")
    ] = None,
    resolution: Annotated[int | None, typer.Option(help="Minutes to resolve")] = None,
    wall_clock: Annotated[
        bool, typer.Option("--wall-clock", help="Count every minute, not business hours")
    ] = False,
) -> None:
    """Set a team's SLA targets (business minutes unless --wall-clock)."""
    from cxloop.care import sla

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        sla.set_policy(
            session,
            workspace_id=workspace_id,
            team=team,
            first_response_minutes=first_response,
            next_response_minutes=next_response,
            resolution_minutes=resolution,
            business_hours=not wall_clock,
        )
    clock = "wall-clock" if wall_clock else "business"
    console.print(
        f"SLA for {team or 'every team'}: first response {first_response or '-'}, "
        f"next response {next_response or '-'}, resolution {resolution or '-'} ({clock} minutes)."
    )
