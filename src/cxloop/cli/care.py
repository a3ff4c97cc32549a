"""The ``cxloop care`` commands: inboxes and their webhooks, conversations, SLA targets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cxloop.cli.care_replies import canned_app, macro_app
from cxloop.cli.care_routing import routing_app
from cxloop.cli.common import (
    WorkspaceOpt,
    _progress,
    _ready_database,
    _workspace_id,
    console,
    err,
)

care_app = typer.Typer(
    name="care", help="Conversations with customers: inboxes, SLA targets.", no_args_is_help=True
)
care_app.add_typer(canned_app)
care_app.add_typer(macro_app)
care_app.add_typer(routing_app)


@care_app.command("inbox-create")
def inbox_create(
    workspace: WorkspaceOpt,
    name: Annotated[str, typer.Option(help="The inbox's name, e.g. 고객센터")],
    address: Annotated[str, typer.Option(help="The support address customers write to")] = "",
    team: Annotated[str, typer.Option(help="The team that works it")] = "",
    reopen_days: Annotated[
        int, typer.Option(help="Days after resolving in which a customer's mail reopens it")
    ] = 7,
    channel: Annotated[
        str, typer.Option(help="email, talktalk, social, review or phone")
    ] = "email",
) -> None:
    """Create an inbox and print its webhook path (with its secret token, shown once)."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import service, social
    from cxloop.care.webhooks import webhook_path
    from cxloop.core.settings import get_settings

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        made = service.create_inbox(
            session,
            principal=cli_principal(workspace_id),
            name=name,
            channel=channel,
            address=address,
            team=team,
            reopen_days=reopen_days,
        )
        inbox_id = made.inbox.id
        signing = ""
        if channel in social.INBOX_KINDS:
            signing = social.signing_secret(made.inbox, get_settings())
    path = webhook_path(channel, made.token)
    if not path:
        err.print(f"Inbox {name!r} created (id {inbox_id}); it takes imports and logged calls.")
        return
    what = {"email": "raw mail (message/rfc822)", "talktalk": "TalkTalk's webhook events"}
    err.print(f"Inbox {name!r} created (id {inbox_id}). Post {what.get(channel, 'items')} to:")
    console.print(path, soft_wrap=True)
    if signing:
        err.print("Sign each call with this secret (X-Cxloop-Signature, see the README):")
        console.print(signing, soft_wrap=True)


@care_app.command("inbox-imap")
def inbox_imap(
    inbox_id: Annotated[int, typer.Argument(help="The email inbox's id")],
    workspace: WorkspaceOpt,
    host: Annotated[str | None, typer.Option(help="IMAP server; set it to (re)configure")] = None,
    port: Annotated[int | None, typer.Option(help="993 for ssl, 143 otherwise")] = None,
    security: Annotated[
        str, typer.Option(help="ssl, starttls, or none (a server on this machine only)")
    ] = "ssl",
    username: Annotated[str, typer.Option(help="The mailbox's user name")] = "",
    folder: Annotated[str, typer.Option(help="The folder to read")] = "INBOX",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
    check: Annotated[bool, typer.Option("--check", help="Sign in and count the messages")] = False,
    poll: Annotated[bool, typer.Option("--poll", help="Take new mail in now")] = False,
    remove: Annotated[bool, typer.Option("--remove", help="Stop polling; forget it")] = False,
) -> None:
    """Set, show, test, poll or remove the IMAP mailbox an email inbox reads (every minute)."""
    import sys

    from cxloop.accounts.service import cli_principal
    from cxloop.care import mailbox as mailboxes
    from cxloop.core.errors import CxloopError, NotFound
    from cxloop.core.settings import get_settings
    from cxloop.models import CareMailbox

    workspace_id = _workspace_id(workspace)
    database = _ready_database()
    with database.session() as session:
        inbox = mailboxes.inbox_of(session, workspace_id=workspace_id, inbox_id=inbox_id)
        if remove:
            if not mailboxes.remove_mailbox(
                session, principal=cli_principal(workspace_id), inbox=inbox
            ):
                raise NotFound("This inbox reads no IMAP mailbox.")
            console.print(f"Inbox {inbox_id} no longer reads a mailbox.")
            return
        if host is not None:
            password = None
            if password_stdin:
                password = sys.stdin.readline().rstrip("\r\n")
            elif sys.stdin.isatty():
                password = str(typer.prompt("Password", hide_input=True))
            elif mailboxes.mailbox_of(session, inbox=inbox) is None:
                raise CxloopError("Give the password with --password-stdin.")
            mailboxes.set_mailbox(
                session,
                principal=cli_principal(workspace_id),
                inbox=inbox,
                host=host,
                port=port,
                security=security,
                username=username,
                password=password,
                folder=folder,
            )
        mailbox = mailboxes.mailbox_of(session, inbox=inbox)
        if mailbox is None:
            raise NotFound("This inbox reads no IMAP mailbox; set one with --host.")
        mailbox_id = mailbox.id
    if check:
        with database.session() as session:
            stored = session.get(CareMailbox, mailbox_id)
            assert stored is not None
            result = mailboxes.check_connection(stored, settings=get_settings())
        if not result.ok:
            raise CxloopError(result.summary)
        console.print(result.summary, highlight=False)
    if poll:
        report = mailboxes.poll(database, mailbox_id=mailbox_id, settings=get_settings())
        if report.error:
            raise CxloopError(report.error)
        console.print(
            f"{report.stored} stored, {report.duplicates} already stored, {report.other} other.",
            highlight=False,
        )
    if check or poll:
        return
    with database.session() as session:
        shown = session.get(CareMailbox, mailbox_id)
        assert shown is not None
        console.print(
            f"{shown.username} at {shown.host}:{shown.port} ({shown.security}), folder "
            f"{shown.folder!r}; last UID {shown.last_uid}"
            + (f"; last poll {shown.polled_at:%Y-%m-%d %H:%M} UTC" if shown.polled_at else "")
            + (f"; error: {shown.last_error}" if shown.last_error else ""),
            highlight=False,
        )


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
    from cxloop.accounts.service import cli_principal
    from cxloop.care import sla

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        sla.set_policy(
            session,
            principal=cli_principal(workspace_id),
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


# --- imports: social posts, reviews and calls ---------------------------------------------------

CLI_MAX_BYTES = 100 * 1024 * 1024
CLI_MAX_ROWS = 200_000
IMPORT_BATCH = 500
InboxOpt = Annotated[int, typer.Option("--inbox", min=1, help="The inbox to import into (id)")]
ImportFile = Annotated[Path, typer.Argument(help="A CSV or JSON file")]


def _import_into(path: Path, workspace: str, inbox_id: int, channels: tuple[str, ...]) -> None:
    """Import a file into an inbox a batch at a time (each batch committed), with a progress
    bar; bad rows are listed with their line and reason, the others go in."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import imports
    from cxloop.core.errors import CxloopError, NotFound
    from cxloop.models import CareInbox

    if not path.is_file():
        raise CxloopError(f"No such file: {path}")
    if path.stat().st_size > CLI_MAX_BYTES:
        raise CxloopError(f"{path.name} is larger than 100 MB; split it.")
    workspace_id = _workspace_id(workspace)
    database = _ready_database()
    with database.session() as session:
        inbox = session.get(CareInbox, inbox_id)
        if inbox is None or inbox.workspace_id != workspace_id:
            raise NotFound(f"No inbox with id {inbox_id} in this workspace.")
        if inbox.channel not in channels:
            raise CxloopError(f"Inbox {inbox_id} is a {inbox.channel} inbox, not {channels[0]}.")
    rows = imports.read_rows(
        path.read_bytes(), fmt=imports.format_of(path.name), max_rows=CLI_MAX_ROWS
    )
    report = imports.ImportReport()
    with _progress() as progress:
        task = progress.add_task(f"Importing {path.name}", total=len(rows))
        for start in range(0, len(rows), IMPORT_BATCH):
            with database.session() as session:
                inbox = session.get(CareInbox, inbox_id)
                assert inbox is not None
                report.add(
                    imports.import_rows(
                        session,
                        inbox=inbox,
                        rows=rows[start : start + IMPORT_BATCH],
                        progress=lambda n: progress.advance(task, n),
                    )
                )
    with database.session() as session:
        inbox = session.get(CareInbox, inbox_id)
        assert inbox is not None
        imports.record_import(
            session,
            principal=cli_principal(workspace_id),
            inbox=inbox,
            report=report,
            source=path.name,
        )
    for error in report.errors[:20]:
        err.print(f"{path.name} line {error.line}: {error.reason}", markup=False)
    more = " (first 20 shown)" if len(report.errors) > 20 else ""
    console.print(
        f"{report.rows} rows read, {report.created} stored, {report.duplicates} already there, "
        f"{len(report.errors)} not taken{more}."
    )


@care_app.command("import-social")
def import_social(file: ImportFile, workspace: WorkspaceOpt, inbox: InboxOpt) -> None:
    """Mentions and comments (into a social inbox) or reviews (into a review inbox) from CSV
    (id, kind, platform, author_name, author_handle, author_url, text, rating, url, posted_at)
    or JSON; each item once by its id."""
    _import_into(file, workspace, inbox, ("social", "review"))


@care_app.command("import-calls")
def import_calls(file: ImportFile, workspace: WorkspaceOpt, inbox: InboxOpt) -> None:
    """Phone calls into a phone inbox from CSV (call_id, phone, agent, started_at, duration,
    direction, notes, outcome) or JSON; each call once by its id."""
    _import_into(file, workspace, inbox, ("phone",))
