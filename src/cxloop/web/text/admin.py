"""Text analytics pages for people who look after the analysis: sentiment and category tags
beside the texts (with a correction form for those allowed), the workspace taxonomy editor and
the model page (the shipped model, each retraining with its held-out figures, retrain and
activate).

Other pages show tags through :func:`text_tags` (one query for a page of texts) and the
``text/text_tag.html`` macro; corrections post here and return to the page they came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from cxloop.accounts.access import require
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.models import TextAnalysis, TextCategory, TextModelRun
from cxloop.models.text import SENTIMENTS
from cxloop.text.registry import service as text_registry
from cxloop.text.store import service as text_store
from cxloop.text.taxonomy import service as text_taxonomy
from cxloop.text.training import tasks as text_tasks
from cxloop.web import errors
from cxloop.web.rendering import redirect, render
from cxloop.web.session import Page, WebContext, flash_text, safe_next, verify_csrf

router = APIRouter(prefix="/text", include_in_schema=False, dependencies=[Depends(verify_csrf)])

TAXONOMY_PAGE = 50
RUNS_PAGE = 20
MAX_ID = 2**53
MAX_NAME = 100
MAX_SEED = 50
# A page whose model run is queued or training reloads itself this often (seconds).
PENDING_REFRESH = 15
TextField = Annotated[str, Form()]


# --- tags beside other pages' texts ------------------------------------------------------------


@dataclass(frozen=True)
class TextTags:
    """The analyses of a page's texts and what the tag macro needs to show and correct them."""

    analyses: dict[int, TextAnalysis] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # category key → name for the reader
    choices: list[tuple[str, str]] = field(default_factory=list)  # active categories
    can_correct: bool = False
    back: str = "/"

    def of(self, source_id: int) -> TextAnalysis | None:
        return self.analyses.get(source_id)


def all_categories(page: WebContext) -> list[TextCategory]:
    """The workspace's whole taxonomy, inactive categories too (a few dozen at most)."""
    rows, cursor = text_taxonomy.list_categories(page.db, workspace_id=page.workspace.id, limit=200)
    while cursor is not None:
        more, cursor = text_taxonomy.list_categories(
            page.db, workspace_id=page.workspace.id, cursor=cursor, limit=200
        )
        rows.extend(more)
    return rows


def category_name(page: WebContext, category: TextCategory) -> str:
    return category.name_ko if page.locale == "ko" else category.name_en


def text_tags(page: WebContext, *, source_type: str, source_ids: list[int]) -> TextTags:
    """Tags of a page's texts of one source (their analyses in one query), for
    ``text/text_tag.html``."""
    back = page.request.url.path + (f"?{page.request.url.query}" if page.request.url.query else "")
    if not page.can("text:read") or not source_ids:
        return TextTags(back=back)
    analyses = text_store.analyses_of_sources(
        page.db, workspace_id=page.workspace.id, source_type=source_type, source_ids=source_ids
    )
    if not analyses:
        return TextTags(back=back)
    categories = all_categories(page)
    return TextTags(
        analyses=analyses,
        names={c.key: category_name(page, c) for c in categories},
        choices=[(c.key, category_name(page, c)) for c in categories if c.active],
        can_correct=page.can("text:correct"),
        back=back,
    )


def _bounded(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise NotFound(f"No text analysis {value} in this workspace.")
    return value


@router.post("/analyses/{analysis_id:int}/correct")
def correct_analysis(
    page: Page,
    analysis_id: int,
    sentiment: TextField = "",
    categories: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies the default)
    categories_shown: TextField = "",
    next_url: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """Correct one analysis's sentiment and/or categories from the tag's form; only what
    changed is recorded (each change is a strong label for the next retraining)."""
    require(page.principal, "text:correct")
    analysis = text_store.get_analysis(
        page.db, workspace_id=page.workspace.id, analysis_id=_bounded(analysis_id)
    )
    back = safe_next(next_url.split("#", 1)[0], "/surveys") + f"#text-{analysis.id}"
    if sentiment and sentiment not in SENTIMENTS:
        page.flash("error", "textadm.tag.bad_sentiment")
        return redirect(back)
    new_sentiment = sentiment if sentiment and sentiment != analysis.sentiment else None
    wanted = [c[:64] for c in categories[:100]]
    # The form offers active categories only: an inactive one the text has is not "unticked".
    active = text_taxonomy.workspace_taxonomy(page.db, workspace_id=page.workspace.id).keys
    offered = {c for c in analysis.categories or [] if c in active}
    new_categories = wanted if categories_shown and set(wanted) != offered else None
    if new_sentiment is None and new_categories is None:
        page.flash("info", "textadm.tag.unchanged")
        return redirect(back)
    try:
        with page.db.begin_nested():
            text_store.correct(
                page.db,
                analysis=analysis,
                user_id=page.user.id,
                actor=page.user.email,
                sentiment=new_sentiment,
                categories=new_categories,
                principal=page.principal,
            )
    except ValidationFailed as exc:
        flash_text(page.request, "error", errors.describe(page.locale, exc))
        return redirect(back)
    page.flash("success", "textadm.tag.done")
    return redirect(back)


# --- taxonomy ----------------------------------------------------------------------------------


@dataclass
class CategoryForm:
    key: str = ""
    name_ko: str = ""
    name_en: str = ""
    seeds_ko: str = ""
    seeds_en: str = ""


def seeds_of(value: str) -> list[str]:
    """Seeds typed one per line or separated by commas."""
    return [s.strip() for s in re.split(r"[,\n]", value) if s.strip()]


def _form_of(category: TextCategory) -> CategoryForm:
    return CategoryForm(
        key=category.key,
        name_ko=category.name_ko,
        name_en=category.name_en,
        seeds_ko="\n".join(category.seeds_ko),
        seeds_en="\n".join(category.seeds_en),
    )


def category_problems(page: WebContext, form: CategoryForm, *, new: bool) -> dict[str, str]:
    """Every field's problem at once, in the user's language (the service checks again)."""
    problems: dict[str, str] = {}
    if new and not text_taxonomy.CATEGORY_KEY.fullmatch(form.key):
        problems["key"] = page.t("textadm.tax.err_key")
    for name in ("name_ko", "name_en"):
        value = " ".join(getattr(form, name).split())
        if not value or len(value) > MAX_NAME:
            problems[name] = page.t("textadm.tax.err_name", n=MAX_NAME)
    for name in ("seeds_ko", "seeds_en"):
        seeds = seeds_of(getattr(form, name))
        if any(len(s) > MAX_SEED for s in seeds):
            problems[name] = page.t("textadm.tax.err_seed_long", n=MAX_SEED)
        elif len(set(seeds)) > text_taxonomy.MAX_SEEDS:
            problems[name] = page.t("textadm.tax.err_seed_many", n=text_taxonomy.MAX_SEEDS)
    return problems


def _service_problems(page: WebContext, exc: ValidationFailed) -> dict[str, str]:
    found = {str(e.get("field")): str(e.get("message")) for e in exc.errors if e.get("field")}
    return found or {"form": errors.describe(page.locale, exc)}


def _taxonomy_page(
    page: WebContext,
    *,
    cursor: str = "",
    form: CategoryForm | None = None,
    problems: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    rows, next_cursor = text_taxonomy.list_categories(
        page.db, workspace_id=page.workspace.id, cursor=cursor[:500] or None, limit=TAXONOMY_PAGE
    )
    return render(
        page.request,
        "text/text_taxonomy.html",
        page=page,
        section="text",
        text_tab="taxonomy",
        rows=rows,
        cursor=cursor,
        next_cursor=next_cursor,
        form=form or CategoryForm(),
        problems=problems or {},
        can_manage=page.can("text:manage"),
        status=status,
    )


@router.get("/taxonomy")
def taxonomy(page: Page, cursor: str = "") -> Response:
    """The workspace's categories (read-only without text:manage) and a form to add one."""
    require(page.principal, "text:read")
    return _taxonomy_page(page, cursor=cursor)


@router.post("/taxonomy")
def create_category(
    page: Page,
    key: TextField = "",
    name_ko: TextField = "",
    name_en: TextField = "",
    seeds_ko: TextField = "",
    seeds_en: TextField = "",
) -> Response:
    """Add a category with its names and keyword seeds in both languages."""
    require(page.principal, "text:manage")
    form = CategoryForm(
        key.strip()[:100], name_ko[:500], name_en[:500], seeds_ko[:20000], seeds_en[:20000]
    )
    problems = category_problems(page, form, new=True)
    if problems:
        return _taxonomy_page(page, form=form, problems=problems, status=422)
    try:
        with page.db.begin_nested():
            category = text_taxonomy.create_category(
                page.db,
                workspace_id=page.workspace.id,
                key=form.key,
                name_ko=form.name_ko,
                name_en=form.name_en,
                seeds_ko=seeds_of(form.seeds_ko),
                seeds_en=seeds_of(form.seeds_en),
                principal=page.principal,
            )
    except ValidationFailed as exc:
        return _taxonomy_page(
            page, form=form, problems=_service_problems(page, exc), status=exc.status
        )
    except Conflict:
        problems = {"key": page.t("textadm.tax.err_taken", category=form.key)}
        return _taxonomy_page(page, form=form, problems=problems, status=409)
    page.flash("success", "textadm.tax.created", name=category_name(page, category))
    return redirect(f"/text/taxonomy#cat-{category.key}")


def _category(page: WebContext, key: str) -> TextCategory:
    if not text_taxonomy.CATEGORY_KEY.fullmatch(key):
        raise NotFound(f"No category {key[:64]!r} in this workspace.")
    return text_taxonomy.get_category(page.db, workspace_id=page.workspace.id, key=key)


def _edit_page(
    page: WebContext,
    category: TextCategory,
    form: CategoryForm,
    problems: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        page.request,
        "text/text_taxonomy_edit.html",
        page=page,
        section="text",
        text_tab="taxonomy",
        category=category,
        form=form,
        problems=problems or {},
        status=status,
    )


@router.get("/taxonomy/{key}")
def edit_category_form(page: Page, key: str) -> Response:
    """The form to rename a category or change its seeds."""
    require(page.principal, "text:manage")
    category = _category(page, key)
    return _edit_page(page, category, _form_of(category))


@router.post("/taxonomy/{key}")
def edit_category(
    page: Page,
    key: str,
    name_ko: TextField = "",
    name_en: TextField = "",
    seeds_ko: TextField = "",
    seeds_en: TextField = "",
) -> Response:
    """Save a category's names and seeds (new analyses use them at once)."""
    require(page.principal, "text:manage")
    category = _category(page, key)
    form = CategoryForm(
        category.key, name_ko[:500], name_en[:500], seeds_ko[:20000], seeds_en[:20000]
    )
    problems = category_problems(page, form, new=False)
    if problems:
        return _edit_page(page, category, form, problems, 422)
    try:
        with page.db.begin_nested():
            text_taxonomy.update_category(
                page.db,
                category=category,
                name_ko=form.name_ko,
                name_en=form.name_en,
                seeds_ko=seeds_of(form.seeds_ko),
                seeds_en=seeds_of(form.seeds_en),
                principal=page.principal,
            )
    except ValidationFailed as exc:
        page.db.refresh(category)
        return _edit_page(page, category, form, _service_problems(page, exc), exc.status)
    page.flash("success", "textadm.tax.saved", name=category_name(page, category))
    return redirect(f"/text/taxonomy#cat-{category.key}")


@router.get("/taxonomy/{key}/deactivate")
def deactivate_form(page: Page, key: str) -> Response:
    """Confirm before a category stops being assigned to new texts."""
    require(page.principal, "text:manage")
    category = _category(page, key)
    return render(
        page.request,
        "text/text_taxonomy_deactivate.html",
        page=page,
        section="text",
        text_tab="taxonomy",
        category=category,
        name=category_name(page, category),
    )


@router.post("/taxonomy/{key}/deactivate")
def deactivate_category(page: Page, key: str) -> Response:
    """Switch a category off: new analyses leave it out; past ones keep it until reanalysed."""
    require(page.principal, "text:manage")
    category = _category(page, key)
    if category.active:
        with page.db.begin_nested():
            text_taxonomy.update_category(
                page.db, category=category, active=False, principal=page.principal
            )
    page.flash("success", "textadm.tax.deactivated", name=category_name(page, category))
    return redirect(f"/text/taxonomy#cat-{category.key}")


@router.post("/taxonomy/{key}/activate")
def activate_category(page: Page, key: str) -> Response:
    """Switch a category back on."""
    require(page.principal, "text:manage")
    category = _category(page, key)
    if not category.active:
        with page.db.begin_nested():
            text_taxonomy.update_category(
                page.db, category=category, active=True, principal=page.principal
            )
    page.flash("success", "textadm.tax.activated", name=category_name(page, category))
    return redirect(f"/text/taxonomy#cat-{category.key}")


# --- models ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """One model run as the page shows it."""

    run: TextModelRun
    in_use: bool
    shipped: bool
    languages: list[tuple[str, dict[str, Any]]]

    @property
    def pending(self) -> bool:
        return self.run.status in ("queued", "training")


def run_view(run: TextModelRun, in_use_id: int) -> RunView:
    languages = sorted(
        ((lang, figures) for lang, figures in (run.per_language or {}).items() if figures),
        key=lambda item: ("ko", "en").index(item[0]) if item[0] in ("ko", "en") else 9,
    )
    return RunView(run, run.id == in_use_id, run.workspace_id is None, languages)


@router.get("/models")
def models(page: Page, cursor: str = "") -> Response:
    """The model in use, the shipped model and every retraining of the workspace with their
    held-out figures; retrain and activate for text:manage."""
    require(page.principal, "text:read")
    workspace_id = page.workspace.id
    in_use = text_registry.active_run(page.db, workspace_id=workspace_id)
    rows, next_cursor = text_registry.list_model_runs(
        page.db, workspace_id=workspace_id, cursor=cursor[:500] or None, limit=RUNS_PAGE
    )
    pending = _pending_run(page)
    return render(
        page.request,
        "text/text_models.html",
        page=page,
        section="text",
        text_tab="models",
        current=run_view(in_use, in_use.id),
        runs=[run_view(r, in_use.id) for r in rows],
        pending=pending,
        refresh_seconds=PENDING_REFRESH if pending is not None else 0,
        cursor=cursor,
        next_cursor=next_cursor,
        can_manage=page.can("text:manage"),
    )


def _pending_run(page: WebContext) -> TextModelRun | None:
    """The workspace's run queued or training, if any (always among its newest runs)."""
    newest, _ = text_registry.list_model_runs(page.db, workspace_id=page.workspace.id, limit=5)
    return next((r for r in newest if r.status in ("queued", "training")), None)


@router.post("/models/retrain")
def retrain(page: Page) -> Response:
    """Queue a retraining (or show the one queued or training already)."""
    require(page.principal, "text:manage")
    before = _pending_run(page)
    with page.db.begin_nested():
        run = text_registry.request_retraining(
            page.db, workspace_id=page.workspace.id, principal=page.principal
        )
        fresh = before is None or before.id != run.id
    if fresh:
        # The job is enqueued when this request commits (a sweep picks up a lost one).
        text_tasks.queue_training(page.db, run.id)
        page.flash("success", "textadm.models.queued", id=run.id)
    else:
        page.flash("info", "textadm.models.already", id=run.id)
    return redirect("/text/models")


def _run(page: WebContext, run_id: int) -> TextModelRun:
    if not 0 < run_id < 2**31:
        raise NotFound(f"No model run {run_id} in this workspace.")
    return text_registry.get_model_run(page.db, workspace_id=page.workspace.id, run_id=run_id)


@router.get("/models/{run_id:int}/activate")
def activate_form(page: Page, run_id: int) -> Response:
    """Confirm before the workspace's texts are analysed by another model."""
    require(page.principal, "text:manage")
    run = _run(page, run_id)
    in_use = text_registry.active_run(page.db, workspace_id=page.workspace.id)
    return render(
        page.request,
        "text/text_models_activate.html",
        page=page,
        section="text",
        text_tab="models",
        view=run_view(run, in_use.id),
        current=run_view(in_use, in_use.id),
    )


@router.post("/models/{run_id:int}/activate")
def activate(page: Page, run_id: int) -> Response:
    """Use this ready model for the workspace's new analyses (the shipped one: go back to it)."""
    require(page.principal, "text:manage")
    run = _run(page, run_id)
    try:
        with page.db.begin_nested():
            text_registry.activate_model_run(
                page.db, workspace_id=page.workspace.id, run=run, principal=page.principal
            )
    except Conflict:
        page.flash("error", "textadm.models.not_ready", id=run.id)
        return redirect("/text/models")
    if run.workspace_id is None:
        page.flash("success", "textadm.models.shipped_in_use")
    else:
        page.flash("success", "textadm.models.activated", id=run.id)
    return redirect("/text/models")
