"""The ``cxloop workspace``, ``cxloop user`` and ``cxloop key`` commands: workspaces, users
and their roles, API keys and ingestion write keys."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.table import Table

from cxloop.cli.common import (
    WorkspaceOpt,
    _database,
    _ready_database,
    _workspace_id,
    console,
    err,
)
from cxloop.core.errors import CxloopError

workspace_app = typer.Typer(name="workspace", help="Workspaces (tenants).", no_args_is_help=True)
user_app = typer.Typer(name="user", help="Users and their roles.", no_args_is_help=True)
key_app = typer.Typer(name="key", help="API keys and ingestion write keys.", no_args_is_help=True)


@workspace_app.command("create")
def workspace_create(
    name: Annotated[str, typer.Argument(help="Display name")],
    slug: Annotated[str | None, typer.Option(help="Short name used by --workspace")] = None,
) -> None:
    """Create a workspace."""
    from cxloop.accounts.service import create_workspace

    with _ready_database().session() as session:
        workspace = create_workspace(session, name=name, slug=slug, by_operator=True)
        console.print(f"Created workspace {workspace.slug} (id {workspace.id}).")


@workspace_app.command("list")
def workspace_list() -> None:
    """List workspaces."""
    from sqlalchemy import select

    from cxloop.models import Workspace

    table = Table("id", "slug", "name", "created")
    with _ready_database().session() as session:
        for w in session.scalars(select(Workspace).order_by(Workspace.id)):
            table.add_row(str(w.id), w.slug, w.name, w.created_at.strftime("%Y-%m-%d"))
    console.print(table)


@user_app.command("create")
def user_create(
    workspace: WorkspaceOpt,
    email: Annotated[str, typer.Option(help="Login email")],
    role: Annotated[str, typer.Option(help="owner, admin, agent, marketer, analyst or viewer")],
    name: Annotated[str, typer.Option(help="Display name")] = "",
    password: Annotated[
        str | None,
        typer.Option(
            help="Password (12+ characters); asked for when omitted, or read from CXLOOP_PASSWORD"
        ),
    ] = None,
    locale: Annotated[str, typer.Option(help="UI language: ko or en")] = "ko",
) -> None:
    """Create a user (or add an existing one) with a role in a workspace."""
    from cxloop.accounts import service

    service.check_role(role)
    workspace_id = _workspace_id(workspace)
    with _database().session() as session:
        ws = service.get_workspace(session, workspace_id=workspace_id)
        try:
            user = service.find_user(session, email=service.normalise_login_email(email))
        except CxloopError:
            secret = password or os.environ.get("CXLOOP_PASSWORD")
            if not secret:
                if not sys.stdin.isatty():
                    raise CxloopError(
                        "Give --password (or CXLOOP_PASSWORD) when not running interactively."
                    ) from None
                secret = typer.prompt(
                    "Password (12+ characters)", hide_input=True, confirmation_prompt=True
                )
            user = service.create_user(
                session, email=email, password=secret, display_name=name, locale=locale
            )
        service.add_member(
            session, workspace=ws, user=user, role=role, principal=service.cli_principal(ws.id)
        )
        console.print(f"{user.email} is {role} of {ws.slug}.")


def _new_password(password: str | None) -> str:
    secret = password or os.environ.get("CXLOOP_PASSWORD")
    if secret:
        return secret
    if not sys.stdin.isatty():
        raise CxloopError("Give --password (or CXLOOP_PASSWORD) when not running interactively.")
    return str(
        typer.prompt("New password (12+ characters)", hide_input=True, confirmation_prompt=True)
    )


@user_app.command("password")
def user_password(
    email: Annotated[str, typer.Option(help="Login email")],
    password: Annotated[
        str | None,
        typer.Option(help="New password; asked for when omitted, or read from CXLOOP_PASSWORD"),
    ] = None,
) -> None:
    """Set a user's password (it must pass the password rules); their web sessions end."""
    from cxloop.accounts import service

    with _database().session() as session:
        user = service.find_user(session, email=email)
        service.operator_set_password(session, user=user, password=_new_password(password))
        console.print(f"New password set for {user.email}; their sessions were ended.")


@user_app.command("sign-out")
def user_sign_out(email: Annotated[str, typer.Option(help="Login email")]) -> None:
    """End every web session of a user at once (API keys keep working)."""
    from cxloop.accounts import service

    with _database().session() as session:
        user = service.find_user(session, email=email)
        service.operator_sign_out(session, user=user)
        console.print(f"Every session of {user.email} was ended.")


@key_app.command("create")
def key_create(
    workspace: WorkspaceOpt,
    kind: Annotated[str, typer.Option(help="write (ingestion) or api (REST)")],
    role: Annotated[str | None, typer.Option(help="Role of an api key (default viewer)")] = None,
    name: Annotated[str, typer.Option(help="What the key is for")] = "",
) -> None:
    """Create a key and print its secret (shown only this once)."""
    from cxloop.accounts import service

    if kind not in ("write", "api"):
        raise CxloopError(f"--kind must be write or api, not {kind!r}.")
    if role and kind == "write":
        raise CxloopError("--role applies to api keys only.")
    workspace_id = _workspace_id(workspace)
    with _database().session() as session:
        key, secret = service.create_key(
            session,
            workspace_id=workspace_id,
            kind=kind,
            name=name,
            role=role,
            principal=service.cli_principal(workspace_id),
        )
    err.print(f"Created {kind} key {key.prefix}… (id {key.id}); the secret is shown once:")
    print(secret)


@key_app.command("list")
def key_list(workspace: WorkspaceOpt) -> None:
    """List the keys of a workspace (without secrets)."""
    from cxloop.accounts import service

    workspace_id = _workspace_id(workspace)
    table = Table("id", "kind", "name", "role", "prefix", "created", "revoked")
    with _database().session() as session:
        for k in service.list_keys(session, workspace_id=workspace_id, limit=1000):
            table.add_row(
                str(k.id),
                k.kind,
                k.name,
                k.role or "",
                k.prefix,
                k.created_at.strftime("%Y-%m-%d"),
                k.revoked_at.strftime("%Y-%m-%d") if k.revoked_at else "",
            )
    console.print(table)


@key_app.command("revoke")
def key_revoke(
    workspace: WorkspaceOpt, key_id: Annotated[int, typer.Argument(help="Key id (see key list)")]
) -> None:
    """Revoke a key at once."""
    from cxloop.accounts import service

    workspace_id = _workspace_id(workspace)
    with _database().session() as session:
        service.revoke_key(
            session,
            workspace_id=workspace_id,
            key_id=key_id,
            principal=service.cli_principal(workspace_id),
        )
    console.print(f"Key {key_id} revoked.")
