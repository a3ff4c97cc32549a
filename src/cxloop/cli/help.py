"""``cxloop kb`` (import and export the knowledge base) and ``cxloop bot`` (ask the bot)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cxloop.cli.common import WorkspaceOpt, _ready_database, _workspace_id, console, err

kb_app = typer.Typer(name="kb", help="The knowledge base: help articles.", no_args_is_help=True)
bot_app = typer.Typer(name="bot", help="The help bot.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="A JSON lines file; - reads standard input")]


def _lines(path: Path) -> list[str]:
    if str(path) == "-":
        return sys.stdin.read().splitlines()
    try:
        return path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}.")
        raise typer.Exit(2) from None


@kb_app.command("import")
def import_kb(file: FileArg, workspace: WorkspaceOpt) -> None:
    """Import articles: one JSON line per language version, {"external_id", "locale": "ko"|"en",
    "title", "body", "category"} (same external_id = one article); importing again updates in
    place. One bad line and nothing is imported."""
    from cxloop.core.errors import ValidationFailed
    from cxloop.core.settings import get_settings
    from cxloop.help import kb

    workspace_id = _workspace_id(workspace)
    lines = _lines(file)
    with _ready_database().session() as session:
        try:
            result = kb.import_articles(session, workspace_id=workspace_id, lines=lines)
        except ValidationFailed as exc:
            err.print(exc.detail)
            raise typer.Exit(2) from None
    console.print(
        f"{len(result.articles)} articles: {result.created} versions added, "
        f"{result.updated} updated, {result.unchanged} unchanged."
    )
    indexing = console.status("Indexing the published articles…")
    with indexing, _ready_database().read_session() as session:
        index = kb.knowledge_index(session, get_settings(), workspace_id=workspace_id)
    console.print(f"The bot answers from {len(index.articles)} published articles.")


@kb_app.command("export")
def export_kb(workspace: WorkspaceOpt) -> None:
    """Print every article as import lines (JSON lines, one per language version)."""
    from cxloop.help import kb

    workspace_id = _workspace_id(workspace)
    with _ready_database().read_session() as session:
        for row in kb.export_articles(session, workspace_id=workspace_id):
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


@bot_app.command("ask")
def ask(file: FileArg, workspace: WorkspaceOpt) -> None:
    """Ask the bot each question of FILE (JSON lines {"id", "text"}); print one JSON line per
    question: {"id", "article_external_id", "confidence", "handoff", "reason"}."""
    from cxloop.core.settings import get_settings
    from cxloop.help.service import answer_question

    workspace_id = _workspace_id(workspace)
    settings = get_settings()
    questions = []
    for number, raw in enumerate(_lines(file), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError:
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            err.print(f'line {number}: not a JSON object with a "text" string.')
            raise typer.Exit(2)
        questions.append(row)
    with _ready_database().read_session() as session:
        for row in questions:
            answer = answer_question(
                session, settings, workspace_id=workspace_id, text=row["text"][:20_000]
            )
            decision = answer.decision
            out = {
                "id": row.get("id"),
                "article_external_id": decision.article,
                "confidence": round(decision.confidence, 4),
                "handoff": decision.handoff,
                "reason": decision.reason,
            }
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
