"""The ``cxloop care canned`` and ``cxloop care macro`` commands: keep canned replies and macros
from the command line (changes audited as the operator's), and try one on a conversation."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cxloop.cli.common import WorkspaceOpt, _ready_database, _workspace_id, console, err

canned_app = typer.Typer(
    name="canned", help="Canned replies: text with variables, by shortcut.", no_args_is_help=True
)
macro_app = typer.Typer(
    name="macro", help="Macros: several actions on a conversation at once.", no_args_is_help=True
)

Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]


@canned_app.command("list")
def canned_list(
    workspace: WorkspaceOpt,
    language: Annotated[str | None, typer.Option(help="ko or en")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first")] = 50,
) -> None:
    """The workspace's canned replies."""
    from cxloop.care import canned

    workspace_id = _workspace_id(workspace)
    table = Table("id", "shortcut", "language", "name", "team", "variables")
    with _ready_database().session() as session:
        rows, _ = canned.list_canned(
            session, workspace_id=workspace_id, language=language, limit=limit
        )
        for r in rows:
            table.add_row(
                str(r.id),
                r.shortcut,
                r.language,
                r.name,
                r.team,
                ", ".join(canned.variables_in(r.body)),
            )
    console.print(table)


@canned_app.command("create")
def canned_create(
    workspace: WorkspaceOpt,
    name: Annotated[str, typer.Option(help="e.g. 배송 문의 답변")],
    shortcut: Annotated[str, typer.Option(help="e.g. /배송")],
    body: Annotated[str, typer.Option(help="The text, with {{customer.name}} and the like")],
    language: Annotated[str, typer.Option(help="ko or en")] = "ko",
    team: Annotated[str, typer.Option(help='The team it is for ("" for every team)')] = "",
) -> None:
    """Keep a new canned reply."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import canned

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        made = canned.create_canned(
            session,
            principal=cli_principal(workspace_id),
            name=name,
            shortcut=shortcut,
            language=language,
            body=body,
            team=team,
        )
        reply_id, kept = made.id, made.shortcut
    console.print(f"Canned reply {reply_id} created ({kept}).")


@canned_app.command("edit")
def canned_edit(
    reply_id: Annotated[int, typer.Argument(min=1, help="The canned reply's id")],
    workspace: WorkspaceOpt,
    name: Annotated[str | None, typer.Option()] = None,
    shortcut: Annotated[str | None, typer.Option()] = None,
    body: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change a canned reply (what is not given stays)."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import canned

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        reply = canned.get_canned(session, workspace_id=workspace_id, canned_id=reply_id)
        canned.update_canned(
            session,
            principal=cli_principal(workspace_id),
            canned=reply,
            name=name,
            shortcut=shortcut,
            body=body,
            language=language,
            team=team,
        )
    console.print(f"Canned reply {reply_id} changed.")


@canned_app.command("delete")
def canned_delete(
    reply_id: Annotated[int, typer.Argument(min=1, help="The canned reply's id")],
    workspace: WorkspaceOpt,
    yes: Yes = False,
) -> None:
    """Delete a canned reply (after asking)."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import canned

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        reply = canned.get_canned(session, workspace_id=workspace_id, canned_id=reply_id)
        if not yes and not typer.confirm(f"Delete the canned reply {reply.name!r}?"):
            err.print("Nothing deleted.")
            raise typer.Exit(1)
        canned.delete_canned(session, principal=cli_principal(workspace_id), canned=reply)
    console.print(f"Canned reply {reply_id} deleted.")


@canned_app.command("render")
def canned_render(
    reply_id: Annotated[int, typer.Argument(min=1, help="The canned reply's id")],
    workspace: WorkspaceOpt,
    conversation: Annotated[int, typer.Option(min=1, help="The conversation's id")],
) -> None:
    """Show a canned reply as it reads in a conversation, and the variables it has no value
    for (the operator is nobody, so agent.* is always missing)."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import canned, service

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        rendered = canned.render_for(
            session,
            canned=canned.get_canned(session, workspace_id=workspace_id, canned_id=reply_id),
            conversation=service.get_conversation(
                session, workspace_id=workspace_id, conversation_id=conversation
            ),
            principal=cli_principal(workspace_id),
        )
    console.print(rendered.text, markup=False, highlight=False)
    if rendered.missing:
        err.print(f"Missing: {', '.join(rendered.missing)}", markup=False)


@macro_app.command("list")
def macro_list(workspace: WorkspaceOpt) -> None:
    """The workspace's macros."""
    from cxloop.care import macros

    workspace_id = _workspace_id(workspace)
    table = Table("id", "name", "reply", "tags", "status", "priority", "assign")
    with _ready_database().session() as session:
        for m in macros.list_macros(session, workspace_id=workspace_id):
            table.add_row(
                str(m.id),
                m.name,
                str(m.canned_reply_id or ""),
                " ".join([*(f"+{t}" for t in m.add_tags), *(f"-{t}" for t in m.remove_tags)]),
                (m.status or "") + (f" {m.snooze_minutes}m" if m.status == "snoozed" else ""),
                m.priority or "",
                m.assign_mode + (f" {m.assignee_id}" if m.assign_mode == "user" else ""),
            )
    console.print(table)


@macro_app.command("create")
def macro_create(
    workspace: WorkspaceOpt,
    name: Annotated[str, typer.Option(help="e.g. 환불 완료 후 해결")],
    reply: Annotated[int | None, typer.Option(help="A canned reply's id to answer with")] = None,
    add_tag: Annotated[list[str] | None, typer.Option(help="A tag to add (repeatable)")] = None,
    remove_tag: Annotated[
        list[str] | None, typer.Option(help="A tag to remove (repeatable)")
    ] = None,
    status: Annotated[str | None, typer.Option(help="open, pending, snoozed or resolved")] = None,
    snooze_minutes: Annotated[int | None, typer.Option(help="With --status snoozed")] = None,
    priority: Annotated[str | None, typer.Option(help="urgent, high, normal or low")] = None,
    team: Annotated[str | None, typer.Option(help="Move the conversation to this team")] = None,
    assign: Annotated[
        str, typer.Option(help='"" to leave, me, nobody, or a member\'s user id')
    ] = "",
) -> None:
    """Keep a new macro."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import macros

    workspace_id = _workspace_id(workspace)
    spec = macros.MacroSpec(
        name=name,
        canned_reply_id=reply,
        add_tags=add_tag or [],
        remove_tags=remove_tag or [],
        status=status,
        snooze_minutes=snooze_minutes,
        priority=priority,
        team=team,
        assign_mode="user" if assign.isdigit() else assign,
        assignee_id=int(assign) if assign.isdigit() else None,
    )
    with _ready_database().session() as session:
        made = macros.create_macro(session, principal=cli_principal(workspace_id), spec=spec)
        macro_id = made.id
    console.print(f"Macro {macro_id} created.")


@macro_app.command("delete")
def macro_delete(
    macro_id: Annotated[int, typer.Argument(min=1, help="The macro's id")],
    workspace: WorkspaceOpt,
    yes: Yes = False,
) -> None:
    """Delete a macro (after asking)."""
    from cxloop.accounts.service import cli_principal
    from cxloop.care import macros

    workspace_id = _workspace_id(workspace)
    with _ready_database().session() as session:
        macro = macros.get_macro(session, workspace_id=workspace_id, macro_id=macro_id)
        if not yes and not typer.confirm(f"Delete the macro {macro.name!r}?"):
            err.print("Nothing deleted.")
            raise typer.Exit(1)
        macros.delete_macro(session, principal=cli_principal(workspace_id), macro=macro)
    console.print(f"Macro {macro_id} deleted.")
