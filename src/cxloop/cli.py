"""The ``cxloop`` command line: serve, worker, demo, migrate, workspaces, users, keys,
imports and data-subject exports/erasure."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cxloop.core.db import Database
from cxloop.core.errors import CxloopError

try:  # Typer 0.29+ vendors its own copy of Click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older Typer on plain Click
    from click import exceptions as click_errors  # type: ignore[no-redef]

app = typer.Typer(
    name="cxloop",
    help="cxloop: customer-experience platform. Every command has --help.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
workspace_app = typer.Typer(help="Workspaces (tenants).", no_args_is_help=True)
user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
key_app = typer.Typer(help="API keys and ingestion write keys.", no_args_is_help=True)
import_app = typer.Typer(
    help="Import customers, orders or events from files.", no_args_is_help=True
)
export_app = typer.Typer(help="Export data (data-subject access requests).", no_args_is_help=True)
erase_app = typer.Typer(help="Erase personal data (data-subject erasure).", no_args_is_help=True)
bus_app = typer.Typer(help="The internal event bus.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing email (the outbox).", no_args_is_help=True)
text_app = typer.Typer(help="Korean and English text analysis.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(user_app, name="user")
app.add_typer(key_app, name="key")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(erase_app, name="erase")
app.add_typer(bus_app, name="bus")
app.add_typer(outbox_app, name="outbox")
app.add_typer(text_app, name="text")

console = Console()
# Errors stay on one line however narrow the terminal.
err = Console(stderr=True, soft_wrap=True)

WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name (slug)")]


def _database() -> Database:
    """The database, with every domain plugged in (merges, exports and erasure reach them all)."""
    from cxloop import domains
    from cxloop.core.db import get_database

    domains.install()
    return get_database()


def _ready_database() -> Database:
    """The database, migrated first when it is the embedded SQLite default."""
    from cxloop.core.migrate import current_is_head, upgrade
    from cxloop.core.settings import get_settings

    settings = get_settings()
    if not current_is_head(settings.db_url):
        if settings.is_sqlite:
            upgrade(settings.db_url)
        else:
            raise CxloopError("The database schema is not up to date; run `cxloop migrate`.")
    return _database()


def _workspace_id(slug: str) -> int:
    from cxloop.accounts.service import find_workspace

    with _ready_database().session() as session:
        return find_workspace(session, slug=slug).id


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


# --- runtime -----------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Web worker processes (PostgreSQL only)")
    ] = 1,
) -> None:
    """Serve the web UI and the APIs (and, without Redis, the jobs and the bus)."""
    import uvicorn

    from cxloop.core.serving import LimitedHeadProtocol
    from cxloop.core.settings import get_settings

    _ready_database()
    settings = get_settings()
    if workers > 1 and settings.is_sqlite:
        raise CxloopError("Several web workers need PostgreSQL; SQLite serves one process.")
    console.print(f"cxloop serving on http://{host}:{port}  (data: {settings.data_dir})")
    uvicorn.run(
        "cxloop.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        http=LimitedHeadProtocol,  # request heads over 64 KB are refused with 431
    )


@app.command()
def worker(
    threads: Annotated[int, typer.Option(min=1, max=64, help="Job threads")] = 4,
) -> None:
    """Run background jobs from Redis and keep the bus consumers caught up."""
    import signal
    import threading

    from cxloop import domains
    from cxloop.core.settings import get_settings

    settings = get_settings()
    if not settings.redis_url:
        raise CxloopError(
            "`cxloop worker` needs CXLOOP_REDIS_URL; without Redis, "
            "`cxloop serve` runs the jobs itself."
        )
    database = _ready_database()
    runner = domains.background(database, settings, workers=threads)
    runner.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    console.print(f"cxloop worker running ({threads} threads); Ctrl-C stops it.")
    stop.wait()
    runner.stop()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from cxloop.core.migrate import upgrade
    from cxloop.core.settings import get_settings

    settings = get_settings()
    upgrade(settings.db_url)
    console.print("Database is up to date.")


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=10, max=200_000, help="How many customers")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data)")] = 7,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the UI when done")
    ] = True,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port")] = 8000,
) -> None:
    """Build the `demo` workspace with a year of realistic data, then serve the UI."""
    from cxloop.demo import build_demo

    database = _ready_database()
    with _progress() as progress:
        result = build_demo(database, customers=customers, seed=seed, progress=progress)
    console.print(
        f"Demo workspace [bold]{result.workspace_slug}[/] ready: {result.customers} customers, "
        f"{result.events} events, {result.orders} orders."
    )
    console.print(
        f"Log in at http://{host}:{port}/login as [bold]{result.email}[/] "
        f"with password [bold]{result.password}[/]"
    )
    console.print(
        f"Write key for Segment SDKs (host http://{host}:{port}): [bold]{result.write_key}[/]\n"
        f"API key (owner) for /api/v1: [bold]{result.api_key}[/]\n"
        "These secrets are shown only now; create more under Settings → Keys."
    )
    if serve_after:
        serve(host=host, port=port, workers=1)


# --- workspaces, users, keys -------------------------------------------------------------------


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
        service.change_password(session, user=user, password=_new_password(password))
        console.print(f"New password set for {user.email}; their sessions were ended.")


@user_app.command("sign-out")
def user_sign_out(email: Annotated[str, typer.Option(help="Login email")]) -> None:
    """End every web session of a user at once (API keys keep working)."""
    from cxloop.accounts import service

    with _database().session() as session:
        user = service.find_user(session, email=email)
        service.end_sessions(session, user=user)
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


# --- imports -----------------------------------------------------------------------------------


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
    check = runner(None, workspace_id=workspace_id, path=path)
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
        )
    console.print(
        f"{report.rows} rows read, {report.stored} stored, {report.duplicates} "
        f"already there, {len(report.errors)} skipped as invalid."
    )


SkipInvalid = Annotated[
    bool, typer.Option("--skip-invalid", help="Import the valid rows even if some are not")
]
FileArg = Annotated[Path, typer.Argument(help="File to import")]


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
    """Segment messages from a JSON-lines file (each line one message with its type)."""
    _run_import("events", workspace, file, skip_invalid)


@import_app.command("products")
def import_products(
    file: FileArg, workspace: WorkspaceOpt, skip_invalid: SkipInvalid = False
) -> None:
    """A product catalogue from CSV: product_id, sku, name, category, brand, price, currency."""
    _run_import("products", workspace, file, skip_invalid)


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

    from cxloop.feedback.imports import import_response_file

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


# --- data-subject rights -----------------------------------------------------------------------


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


@text_app.command("analyze")
def text_analyze(
    file: Annotated[
        Path | None, typer.Argument(help="JSON lines, each with 'text' (stdin when left out)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout")
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", "-w", help="Use this workspace's model and taxonomy"),
    ] = None,
) -> None:
    """Analyse texts: JSON lines in (a 'text' field, optionally 'lang'), the same lines out
    with lang, sentiment, score, categories, aspects and keywords added (the shipped model, or
    with --workspace the workspace's own)."""
    from cxloop.text.pipeline import Analyzer, default_analyzer

    if file is not None and not file.is_file():
        raise CxloopError(f"{file} is not a file.")
    lines = (file.read_text(encoding="utf-8") if file else sys.stdin.read()).splitlines()
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise CxloopError(f"line {number}: not JSON ({exc}).") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise CxloopError(f"line {number}: needs a 'text' field with a string.")
        if record.get("lang") not in (None, "ko", "en", "other"):
            raise CxloopError(f"line {number}: lang must be ko, en or other.")
        records.append(record)
    analyzer: Analyzer = default_analyzer()
    if workspace is not None:
        from cxloop.text.service import analyzer_for

        workspace_id = _workspace_id(workspace)
        with _database().session() as session:
            analyzer, _run = analyzer_for(session, workspace_id=workspace_id)
    out = output.open("wb") if output else sys.stdout.buffer
    try:
        with _progress() as progress:
            task = progress.add_task("Analysing", total=len(records))
            for start in range(0, len(records), 256):
                chunk = records[start : start + 256]
                results = analyzer.analyze_many(
                    [r["text"] for r in chunk], [r.get("lang") for r in chunk]
                )
                for record, result in zip(chunk, results, strict=True):
                    added = {
                        "lang": result.lang,
                        "sentiment": result.sentiment,
                        "score": result.score,
                        "categories": list(result.categories),
                        "aspects": [
                            {"category": a.category, "sentiment": a.sentiment, "clause": a.clause}
                            for a in result.aspects
                        ],
                        "keywords": list(result.keywords),
                    }
                    out.write(orjson.dumps({**record, **added}) + b"\n")
                progress.advance(task, len(chunk))
    finally:
        if output:
            out.close()
    if output:
        err.print(f"Wrote {len(records)} analyses to {output}")


@text_app.command("reanalyze")
def text_reanalyze(
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Only this workspace (default: all)")
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Only this text source, e.g. survey_response (repeatable)"),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only texts written on or after this date (YYYY-MM-DD)")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Analyse unchanged texts again (e.g. after retraining)")
    ] = False,
) -> None:
    """Analyse stored texts (survey comments, …) in batches of 500 per transaction. Texts
    analysed before and unchanged are skipped, so a rerun after an interruption goes on
    where it stopped."""
    from datetime import date, datetime, time

    from sqlalchemy import select

    from cxloop.core.timeutil import KST, as_utc
    from cxloop.models import Workspace
    from cxloop.text import tasks
    from cxloop.text.sources import get_source

    start: datetime | None = None
    if since is not None:
        try:
            day = date.fromisoformat(since)
        except ValueError:
            raise CxloopError(f"--since takes a date as YYYY-MM-DD, not {since!r}.") from None
        start = as_utc(datetime.combine(day, time(0), tzinfo=KST))
    database = _ready_database()
    for name in source or []:
        get_source(name)
    if workspace is not None:
        workspace_ids = [_workspace_id(workspace)]
    else:
        with database.session() as session:
            workspace_ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
    total = tasks.reanalysis_total(
        database, workspace_ids=workspace_ids, source_types=source, since=start
    )
    with _progress() as progress:
        task = progress.add_task("Analysing texts", total=total)
        report = tasks.reanalyse(
            database,
            workspace_ids=workspace_ids,
            source_types=source,
            since=start,
            force=force,
            progress=lambda n: progress.advance(task, n),
        )
    console.print(
        f"{report.texts} texts read: {report.analysed} analysed, {report.skipped} unchanged "
        "and skipped.",
        soft_wrap=True,
    )


@text_app.command("retrain")
def text_retrain(workspace: WorkspaceOpt) -> None:
    """Retrain the workspace's text model on the labelled texts, survey scores (weak labels)
    and corrections (strong labels); it is used only if not worse on the held-out texts."""
    from cxloop.text import retrain

    workspace_id = _workspace_id(workspace)
    with err.status("Training the text model…"):
        outcome = retrain.retrain_workspace(
            _database(),
            workspace_id=workspace_id,
            progress=lambda message: err.print(message, highlight=False),
        )
    if outcome.status != "ready":
        raise CxloopError(f"Model run {outcome.run_id} ended {outcome.status}.")
    console.print(
        f"Model run {outcome.run_id}: held-out macro-F1 {outcome.macro_f1:.3f} against "
        f"{outcome.current_macro_f1:.3f} of the model in use; "
        + ("now in use." if outcome.activated else "not used (worse)."),
        soft_wrap=True,
    )


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


@outbox_app.command("status")
def outbox_status() -> None:
    """How many messages are queued, sent and failed (all workspaces)."""
    from cxloop.channels import outbox

    with _ready_database().session() as session:
        counts = outbox.counts(session)
    console.print(
        f"queued {counts.queued} (due {counts.due}), sending {counts.sending}, "
        f"sent {counts.sent}, failed {counts.failed}, cancelled {counts.cancelled}"
    )


@outbox_app.command("send")
def outbox_send() -> None:
    """Send the due queued emails now over the configured SMTP server."""
    from cxloop.channels.tasks import deliver_outbox
    from cxloop.core.settings import get_settings

    settings = get_settings()
    if not settings.smtp_host:
        raise CxloopError("No SMTP server is configured; set CXLOOP_SMTP_HOST.")
    report = deliver_outbox(_ready_database(), settings=settings)
    console.print(f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed.")
    for reason in sorted(set(report.errors))[:5]:
        err.print(f"  {reason}", highlight=False)


def main() -> None:
    """Entry point: every error is one clear line and a non-zero exit."""
    try:
        # Without standalone mode Click returns the code of a typer.Exit instead of exiting.
        code = app(standalone_mode=False)
    except CxloopError as exc:
        err.print(f"[red]error:[/] {exc.detail}", highlight=False)
        sys.exit(1)
    except typer.Abort:
        err.print("Aborted.")
        sys.exit(1)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        err.print(f"[red]error:[/] {exc.format_message()} (see --help)", highlight=False)
        sys.exit(exc.exit_code or 2)
    except Exception as exc:  # configuration and database errors, still one line
        from pydantic import ValidationError
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, ValidationError | SQLAlchemyError | OSError | ValueError):
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            err.print(f"[red]error:[/] {message}", highlight=False)
            sys.exit(1)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
