"""The ``cxloop text`` commands: analyse texts from a file, reanalyse stored ones, retrain
a workspace's text model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from cxloop.cli.common import (
    WorkspaceOpt,
    _database,
    _progress,
    _ready_database,
    _workspace_id,
    console,
    err,
)
from cxloop.core.errors import CxloopError

text_app = typer.Typer(name="text", help="Korean and English text analysis.", no_args_is_help=True)


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
        from cxloop.text.registry.service import analyzer_for

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
    from cxloop.text.sources import get_source
    from cxloop.text.store import tasks

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
    from cxloop.text.training import service as retrain

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
