"""The knowledge base and the bot over HTTP: ask the bot (``POST /api/v1/bot/answer``), list
the articles, and import them as JSON lines."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession, SessionlessApiPrincipal
from cxloop.core.http import database_of
from cxloop.core.pagination import oldest_first
from cxloop.core.settings import Settings
from cxloop.help import kb, tasks
from cxloop.help.bot import Reason
from cxloop.help.service import Answer, answer_question
from cxloop.help.settings import BotSettings, bot_settings, change_bot_settings
from cxloop.models import HelpArticle, HelpArticleVersion

router = APIRouter(prefix="/api/v1", tags=["help"])
MAX_QUESTION = 20_000


class QuestionIn(BaseModel):
    text: str = Field(max_length=MAX_QUESTION, description="What the customer wrote")
    locale: str | None = Field(default=None, pattern="^(ko|en)$")


class RunnerUp(BaseModel):
    article_external_id: str
    title: str
    score: float


class AnswerOut(BaseModel):
    article_external_id: str | None = Field(
        description="The article answered with (or, on a handoff, the best one tried)"
    )
    confidence: float = Field(description="How likely that article is the right answer, 0–1")
    handoff: bool = Field(description="True: a person should answer")
    reason: Reason
    title: str = ""
    answer: str = Field("", description="The article's answer passage (Markdown)")
    runners_up: list[RunnerUp] = []


def answer_out(answer: Answer) -> AnswerOut:
    decision = answer.decision
    return AnswerOut(
        article_external_id=decision.article,
        confidence=round(decision.confidence, 4),
        handoff=decision.handoff,
        reason=decision.reason,
        title=answer.title,
        answer="" if decision.handoff else answer.passage,
        runners_up=[
            RunnerUp(article_external_id=hit.article, title=title, score=round(hit.score, 4))
            for hit, title in answer.runners_up
        ],
    )


@router.post("/bot/answer", response_model=AnswerOut)
def bot_answer(body: QuestionIn, principal: SessionlessApiPrincipal, request: Request) -> AnswerOut:
    """The bot's answer to a customer's question from the workspace's published articles, or
    its reason to hand over to a person: asked_for_person, upset, people_topic, not_sure (the
    confidence is under the threshold) or no_match. Any text gets an answer or a handoff."""
    require(principal, "help:read")
    settings: Settings = request.app.state.settings
    with database_of(request).read_session() as session:
        answer = answer_question(
            session,
            settings,
            workspace_id=principal.workspace_id,
            text=body.text,
            locale=body.locale,
        )
    return answer_out(answer)


class ArticleOut(BaseModel):
    external_id: str
    category: str
    status: str
    titles: dict[str, str]


class ArticlePage(BaseModel):
    items: list[ArticleOut]
    next_cursor: str | None


@router.get("/help/articles", response_model=ArticlePage)
def list_articles(
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ArticlePage:
    """The workspace's articles, oldest first, with their titles per language."""
    require(principal, "help:read")
    query = select(HelpArticle).where(HelpArticle.workspace_id == principal.workspace_id)
    rows, next_cursor = oldest_first(
        session,
        query,
        time=HelpArticle.created_at,
        id=HelpArticle.id,
        cursor=cursor,
        limit=limit,
    )
    titles: dict[int, dict[str, str]] = {}
    for article_id, locale, title in session.execute(
        select(
            HelpArticleVersion.article_id, HelpArticleVersion.locale, HelpArticleVersion.title
        ).where(HelpArticleVersion.article_id.in_([r.id for r in rows]))
    ):
        titles.setdefault(article_id, {})[locale] = title
    return ArticlePage(
        items=[
            ArticleOut(
                external_id=r.external_id,
                category=r.category,
                status=r.status,
                titles=titles.get(r.id, {}),
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )


class ImportedOut(BaseModel):
    created: int = Field(description="Language versions added")
    updated: int = Field(description="Language versions changed (a revision kept)")
    unchanged: int
    articles: int = Field(description="Articles created or changed")


@router.post(
    "/help/articles/import",
    response_model=ImportedOut,
    openapi_extra={
        "requestBody": {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}
    },
)
def import_articles(
    principal: ApiPrincipal,
    session: DbSession,
    payload: Annotated[bytes, Body(media_type="application/x-ndjson")] = b"",
) -> ImportedOut:
    """Import articles as JSON lines, one line per language version: ``{"external_id",
    "locale": "ko"|"en", "title", "body", "category", "tags"?, "status"?}``. Lines with the same
    external_id are one article; importing again updates in place. Every line is checked
    first: one bad line and nothing is imported (422 naming the lines)."""
    require(principal, "help:write")
    text = payload.decode("utf-8", "replace")
    result = kb.import_articles(
        session,
        workspace_id=principal.workspace_id,
        lines=text.splitlines(),
        author_id=principal.user_id,
    )
    tasks.index_after_commit(session, principal.workspace_id)
    return ImportedOut(
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        articles=len(result.articles),
    )


class BotSettingsIn(BaseModel):
    threshold: float | None = Field(
        default=None, ge=0.05, le=0.95, description="Hand over under this confidence"
    )
    people_categories: list[str] | None = Field(
        default=None, max_length=50, description="Article categories always left to people"
    )
    tone: Literal["haeyo", "hamnida"] | None = Field(
        default=None, description="How it speaks Korean: 해요체 or 합니다체"
    )
    greeting: str | None = Field(
        default=None, max_length=500, description="Before its first answer; empty: the default"
    )
    category_teams: dict[str, str] | None = Field(
        default=None, max_length=50, description="The team a handover goes to, by category"
    )


class BotSettingsOut(BaseModel):
    threshold: float
    people_categories: list[str]
    tone: str
    greeting: str
    category_teams: dict[str, str]

    @classmethod
    def of(cls, current: BotSettings) -> BotSettingsOut:
        return cls(
            threshold=current.threshold,
            people_categories=list(current.people_categories),
            tone=current.tone,
            greeting=current.greeting,
            category_teams=dict(current.category_teams),
        )


@router.get("/bot/settings", response_model=BotSettingsOut)
def get_bot_settings(principal: ApiPrincipal, session: DbSession) -> BotSettingsOut:
    """The workspace's bot settings (the defaults until changed)."""
    require(principal, "help:read")
    return BotSettingsOut.of(bot_settings(session, workspace_id=principal.workspace_id))


@router.patch("/bot/settings", response_model=BotSettingsOut)
def patch_bot_settings(
    body: BotSettingsIn, principal: ApiPrincipal, session: DbSession
) -> BotSettingsOut:
    """Change the threshold, the categories left to people, the tone, the greeting or the
    team per category (owners and admins; audited)."""
    require(principal, "care:manage")
    changed = change_bot_settings(
        session,
        principal=principal,
        threshold=body.threshold,
        people_categories=body.people_categories,
        tone=body.tone,
        greeting=body.greeting,
        category_teams=body.category_teams,
    )
    return BotSettingsOut.of(changed)
