"""What the bot says to a question: the decision of ``bot``, with the article's title and the
passage it answers with, for the API, the CLI and the channels."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.settings import Settings
from cxloop.help.bot import Decision, decide
from cxloop.help.kb import knowledge_index
from cxloop.help.retrieval import Doc, Hit, paragraphs
from cxloop.help.settings import bot_settings


@dataclass(frozen=True)
class Answer:
    decision: Decision
    title: str
    passage: str  # the article's first paragraph, what the bot answers with
    runners_up: tuple[tuple[Hit, str], ...]  # with their titles


def passage_of(body: str) -> str:
    """The answer passage: an article's first paragraph that is not a heading."""
    for text in paragraphs(body):
        if not text.startswith("#"):
            return text
    return body.strip()[:500]


def _version(docs: list[Doc], article: str, locale: str | None) -> Doc | None:
    versions = [d for d in docs if d.article == article]
    preferred = [d for d in versions if d.locale == locale]
    chosen = preferred or versions
    return chosen[0] if chosen else None


def answer_question(
    session: Session,
    settings: Settings,
    *,
    workspace_id: int,
    text: str,
    locale: str | None = None,
    threshold: float | None = None,
) -> Answer:
    """The bot's answer to ``text`` in ``locale`` (the matched version's language when
    unset), or its reason to hand over, by the workspace's bot settings (``threshold``
    overrides its threshold)."""
    from cxloop.models import HelpArticle

    settings_of_bot = bot_settings(session, workspace_id=workspace_id)
    index = knowledge_index(session, settings, workspace_id=workspace_id)
    rows = session.execute(
        select(HelpArticle.external_id, HelpArticle.category).where(
            HelpArticle.workspace_id == workspace_id
        )
    )
    categories = {external_id: category for external_id, category in rows}
    decision = decide(
        index,
        text,
        threshold=settings_of_bot.threshold if threshold is None else threshold,
        people_categories=frozenset(settings_of_bot.people_categories),
        category_of=categories,
    )
    best = decision.found.best
    version = _version(index.docs, best.article, locale or best.locale) if best else None
    runners = []
    for hit in decision.found.runners_up:
        other = _version(index.docs, hit.article, locale or hit.locale)
        runners.append((hit, other.title if other else ""))
    return Answer(
        decision=decision,
        title=version.title if version else "",
        passage=passage_of(version.body) if version else "",
        runners_up=tuple(runners),
    )
