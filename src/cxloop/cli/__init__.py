"""The ``cxloop`` command line: the root command with what belongs to no domain (serve, worker,
demo, migrate) and the entry point that turns every error into one line.

Each domain's command groups (workspaces, users, keys, imports, exports, erasure, the bus, the
outbox, text analysis) live in this package's module of that domain and are added from the
domain registry (:mod:`cxloop.domains`), in its order."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from cxloop import domains
from cxloop.cli.common import _progress, _ready_database, console, err
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
    # uvicorn has stopped the app (jobs, bus and sweeper stopped, sessions closed). What is left
    # is the idle threads that served synchronous endpoints, which the interpreter would wait
    # for seconds to time out on its way out: Ctrl-C should end the server at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command()
def worker(
    threads: Annotated[int, typer.Option(min=1, max=64, help="Job threads")] = 4,
) -> None:
    """Run background jobs from Redis and keep the bus consumers caught up."""
    import signal
    import threading

    from cxloop import domains
    from cxloop.core import heap
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
    heap.settle()
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


# --- every domain's groups ---------------------------------------------------------------------


def _add_domain_groups() -> None:
    """Every domain's command groups, in registry order. Groups of one name (``import``) are
    one group: the commands of a later domain join those of the first."""
    groups: dict[Any, typer.Typer] = {}
    for domain in domains.DOMAINS:
        for reference in domain.cli:
            group: typer.Typer = domains.resolve(reference)
            name = group.info.name
            if name not in groups:
                groups[name] = group
                app.add_typer(group)
                continue
            joined = groups[name].registered_commands
            joined.extend(c for c in group.registered_commands if c not in joined)


_add_domain_groups()


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
