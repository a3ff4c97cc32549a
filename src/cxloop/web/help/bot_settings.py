"""The help bot's settings page (/settings/bot, owners and admins): how many articles it answers
from in each language with a link to the public help centre, the form of its threshold and of
the article categories it always leaves to people (saved through help.settings, which audits the
change), and a test console that shows what the bot decides for a question — asked in a
read-only session, so neither the question nor the answer is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from cxloop.accounts.access import require
from cxloop.care import service as care
from cxloop.core.errors import ValidationFailed
from cxloop.core.http import database_of
from cxloop.core.i18n import format_number
from cxloop.core.timeutil import utcnow
from cxloop.help import markup
from cxloop.help.measures import bot_report
from cxloop.help.service import Answer, answer_question
from cxloop.help.settings import (
    HIGHEST_THRESHOLD,
    LOWEST_THRESHOLD,
    MAX_CATEGORIES,
    MAX_GREETING,
    TONES,
    BotSettings,
    bot_settings,
    change_bot_settings,
    knowledge_base_summary,
)
from cxloop.models import CareInbox, HelpArticle, HelpArticleVersion
from cxloop.models.help import HELP_LOCALES
from cxloop.web.accounts.admin import settings_page
from cxloop.web.care.routing import PostedForm
from cxloop.web.help.centre import category_label
from cxloop.web.rendering import redirect
from cxloop.web.session import Page, WebContext, settings_of, verify_csrf

router = APIRouter(
    prefix="/settings/bot", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

# The threshold as the form offers it, in percent: near 0 the bot answers anything, near 100
# it answers nothing.
LOWEST, HIGHEST = Decimal(LOWEST_THRESHOLD * 100), Decimal(HIGHEST_THRESHOLD * 100)
MAX_QUESTION = 20_000  # as the bot's API takes
REPORT_PERIOD = timedelta(days=30)  # what the page's figures cover


@dataclass(frozen=True)
class Trial:
    """A question asked in the console and what the bot decided (nothing of it is stored)."""

    question: str
    locale: str  # "" for the language of the article it finds
    answer: Answer | None = None
    passage: Markup = field(default_factory=Markup)  # the answer passage as safe HTML


def _percent(fraction: float) -> str:
    """0.55 → "55", 0.625 → "62.5" (as the form shows and takes it)."""
    return f"{fraction * 100:.1f}".removesuffix(".0")


def _settings_form(current: BotSettings, bot_inboxes: list[int]) -> dict[str, Any]:
    return {
        "threshold": _percent(current.threshold),
        "people_categories": list(current.people_categories),
        "tone": current.tone,
        "greeting": current.greeting,
        "category_teams": dict(current.category_teams),
        "inboxes": bot_inboxes,
    }


def _titles(page: WebContext, external_ids: list[str]) -> dict[str, str]:
    """The articles' titles in the reader's language (else in the other one)."""
    rows = page.db.execute(
        select(HelpArticle.external_id, HelpArticleVersion.locale, HelpArticleVersion.title)
        .join(HelpArticleVersion, HelpArticleVersion.article_id == HelpArticle.id)
        .where(
            HelpArticle.workspace_id == page.workspace.id,
            HelpArticle.external_id.in_(external_ids[:200] or [""]),
        )
    )
    titles: dict[str, str] = {}
    for external_id, locale, title in rows:
        if external_id not in titles or locale == page.locale:
            titles[external_id] = title
    return titles


def _answerable_inboxes(page: WebContext) -> list[CareInbox]:
    """The inboxes the bot can answer in (it replies where an agent could)."""
    inboxes = care.list_inboxes(page.db, workspace_id=page.workspace.id)
    return [i for i in inboxes if i.channel in care.BOT_CHANNELS]


def _page(
    page: WebContext,
    *,
    form: dict[str, Any] | None = None,
    error: str = "",
    trial: Trial | None = None,
    console_error: str = "",
    status: int = 200,
) -> HTMLResponse:
    workspace = page.workspace
    current = bot_settings(page.db, workspace_id=workspace.id)
    published, categories = knowledge_base_summary(page.db, workspace_id=workspace.id)
    inboxes = _answerable_inboxes(page)
    shown = form or _settings_form(current, [i.id for i in inboxes if i.bot_answers_first])
    # A category kept for people whose articles are gone stays on the form until unticked.
    offered = sorted(
        {
            *categories,
            *current.people_categories,
            *shown["people_categories"],
            *shown["category_teams"],
        }
    )
    centre = f"/help/{quote(workspace.slug, safe='')}"
    report = bot_report(
        page.db, workspace_id=workspace.id, since=utcnow() - REPORT_PERIOD, until=utcnow()
    )
    return settings_page(
        page,
        "help/bot_settings.html",
        section="bot",
        status=status,
        published=published,
        centre_url=centre,
        article_url=lambda external_id: f"{centre}/articles/{quote(external_id, safe='')}",
        category_name=lambda slug: category_label(page.locale, slug),
        form=shown,
        categories=offered,
        inboxes=inboxes,
        tones=TONES,
        max_greeting=MAX_GREETING,
        lowest=LOWEST,
        highest=HIGHEST,
        error=error,
        trial=trial or Trial(question="", locale=""),
        console_error=console_error,
        max_question=MAX_QUESTION,
        help_locales=HELP_LOCALES,
        threshold=_percent(current.threshold),
        report=report,
        titles=_titles(page, list(report.answers)),
        report_days=REPORT_PERIOD.days,
    )


@router.get("")
def bot_page(page: Page) -> Response:
    """The knowledge base in numbers, the bot's settings and its test console."""
    require(page.principal, "care:manage")
    return _page(page)


def _threshold(typed: str) -> float:
    """A percentage as typed ("55", "62.5", "55%") as the bot's confidence (0.55)."""
    problem = ValidationFailed(
        f"The threshold is a percentage from {LOWEST} to {HIGHEST}.",
        errors=[{"field": "threshold", "message": "not a percentage in range"}],
    )
    try:
        percent = Decimal(typed.removesuffix("%").strip().replace(",", "."))
    except InvalidOperation:
        raise problem from None
    if not percent.is_finite() or not LOWEST <= percent <= HIGHEST:
        raise problem
    return float(percent / 100)


def _refusal(page: WebContext, exc: ValidationFailed) -> str:
    """A refusal of the form in the user's language (the service speaks English)."""
    fields = {problem.get("field") for problem in exc.errors}
    if "greeting" in fields:
        return page.t("bot_settings.err_greeting", n=MAX_GREETING)
    if "category_teams" in fields:
        return page.t("bot_settings.err_teams")
    if "people_categories" in fields:
        return page.t("bot_settings.err_categories", n=MAX_CATEGORIES)
    if "threshold" in fields:
        return page.t("bot_settings.err_threshold", low=LOWEST, high=HIGHEST)
    return exc.detail


@router.post("")
def save_settings(page: Page, form: PostedForm) -> Response:
    """Store the threshold and the categories kept for people."""
    require(page.principal, "care:manage")
    value = form.get("threshold")
    typed_threshold = value.strip()[:20] if isinstance(value, str) else ""
    typed_categories = [
        c for c in form.getlist("people_categories") if isinstance(c, str) and c.strip()
    ][: MAX_CATEGORIES + 1]  # one over the limit is enough for the service to refuse
    tone, greeting = form.get("tone"), form.get("greeting")
    typed_tone = tone if isinstance(tone, str) else ""
    typed_greeting = greeting[: MAX_GREETING + 1] if isinstance(greeting, str) else ""
    typed_teams = {
        name.removeprefix("team:")[:64]: team[:65]
        for name, team in list(form.items())[: 4 * MAX_CATEGORIES + 20]
        if name.startswith("team:") and isinstance(team, str)
    }
    typed_inboxes = [
        int(v)
        for v in form.getlist("inboxes")
        if isinstance(v, str) and v.isdigit() and len(v) < 12
    ][:200]
    typed = {
        "threshold": typed_threshold,
        "people_categories": typed_categories,
        "tone": typed_tone,
        "greeting": typed_greeting,
        "category_teams": typed_teams,
        "inboxes": typed_inboxes,
    }
    try:
        threshold = _threshold(typed_threshold)
        with page.db.begin_nested():
            change_bot_settings(
                page.db,
                principal=page.principal,
                threshold=threshold,
                people_categories=typed_categories,
                tone=typed_tone or None,
                greeting=typed_greeting,
                category_teams=typed_teams,
            )
            care.set_bot_inboxes(page.db, principal=page.principal, inbox_ids=typed_inboxes)
    except ValidationFailed as exc:
        return _page(page, form=typed, error=_refusal(page, exc), status=422)
    page.flash("success", "bot_settings.saved")
    return redirect("/settings/bot")


@router.post("/ask")
def ask(page: Page, form: PostedForm) -> Response:
    """What the bot decides for the question typed, shown on the page (nothing is stored)."""
    require(page.principal, "care:manage")
    value, chosen = form.get("question"), form.get("locale")
    question = value if isinstance(value, str) else ""
    locale = chosen if isinstance(chosen, str) and chosen in HELP_LOCALES else ""
    if len(question) > MAX_QUESTION:
        return _page(
            page,
            trial=Trial(question=question[:MAX_QUESTION], locale=locale),
            console_error=page.t(
                "bot_settings.err_question_long", n=format_number(MAX_QUESTION, page.locale)
            ),
            status=422,
        )
    with database_of(page.request).read_session() as session:
        answer = answer_question(
            session,
            settings_of(page.request),
            workspace_id=page.workspace.id,
            text=question,
            locale=locale or None,
        )
    passage = Markup(markup.article_html(answer.passage))  # noqa: S704 (sanitised by nh3)
    return _page(page, trial=Trial(question, locale, answer, passage))
