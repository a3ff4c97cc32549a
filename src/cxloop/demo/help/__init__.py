"""The demo shop's knowledge base: 30 articles in Korean and English (``shop_kb.jsonl``),
imported as an operator would import their FAQ, with the bot's index built at once."""

from __future__ import annotations

from pathlib import Path

from cxloop.core.settings import get_settings
from cxloop.demo.context import DemoContext
from cxloop.help import kb

KNOWLEDGE_BASE = Path(__file__).parent / "shop_kb.jsonl"


def add_knowledge_base(ctx: DemoContext) -> None:
    """Phase: the help articles, then the bot's index of them."""
    lines = KNOWLEDGE_BASE.read_text("utf-8").splitlines()
    task = ctx.task("Help articles", len(lines) + 1)
    with ctx.database.session() as session:
        kb.import_articles(session, workspace_id=ctx.workspace_id, lines=lines)
    task.advance(len(lines))
    with ctx.database.read_session() as session:
        kb.knowledge_index(session, get_settings(), workspace_id=ctx.workspace_id)
    task.advance(1)
