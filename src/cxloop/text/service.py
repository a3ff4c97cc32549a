"""The text service: analyse a domain's texts and keep what was understood, list and correct
analyses, edit the workspace taxonomy, and choose which trained model a workspace uses.

Every function takes the session first and never commits. Analyses are keyed by (workspace,
source type, source id) and keep a hash of the text they read, so analysing the same text again
is skipped (a bus replay, a rerun of ``cxloop text reanalyze``) unless forced.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, exists, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, scoped
from cxloop.accounts.service import record_audit
from cxloop.core.db import rowcount
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import newest_first, oldest_first
from cxloop.core.timeutil import utcnow
from cxloop.models import (
    Customer,
    TextAnalysis,
    TextAnalysisCategory,
    TextCategory,
    TextCorrection,
    TextModelRun,
)
from cxloop.models.base import table_of
from cxloop.models.text import SENTIMENTS
from cxloop.text.categories import Category, Taxonomy, load_taxonomy
from cxloop.text.pipeline import Analysis, Analyzer
from cxloop.text.sentiment import MODEL_PATH, TextModel, load_model
from cxloop.text.sources import SourceText, get_source

CATEGORY_KEY = re.compile(r"[a-z][a-z0-9_]{1,63}")
MAX_SEEDS = 200
STALE_TRAINING = timedelta(hours=2)  # a run "training" this long lost its worker
ANALYSE_CHUNK = 256  # texts per call of the analyser (its learned parts run once per call)


def text_hash(text: str) -> str:
    """What identifies a text's content: analysing the same text twice gives the same answer."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- taxonomy ------------------------------------------------------------------------------------


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def ensure_taxonomy(session: Session, *, workspace_id: int) -> None:
    """Seed the workspace's taxonomy from ``text/taxonomy.toml`` the first time it is needed."""
    if session.scalar(
        select(exists().where(TextCategory.workspace_id == workspace_id))
    ):  # the common case, one indexed probe
        return
    now = utcnow()
    rows = [
        {
            "workspace_id": workspace_id,
            "key": cat.key,
            "name_ko": cat.name_ko,
            "name_en": cat.name_en,
            "seeds_ko": list(cat.seeds_ko),
            "seeds_en": list(cat.seeds_en),
            "active": True,
            "position": position,
            "created_at": now,
            "updated_at": now,
        }
        for position, cat in enumerate(load_taxonomy().categories)
    ]
    # Two workers seeding at once: the unique (workspace, key) keeps one row of each.
    session.execute(
        _insert(session)(TextCategory)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["workspace_id", "key"])
    )


def workspace_taxonomy(session: Session, *, workspace_id: int) -> Taxonomy:
    """The workspace's active categories as the analyser reads them. Only reads: a workspace
    whose taxonomy was never seeded reads the default one it would be seeded from."""
    rows = session.scalars(
        scoped(select(TextCategory), TextCategory, workspace_id)
        .where(TextCategory.active.is_(True))
        .order_by(TextCategory.position, TextCategory.id)
    ).all()
    if not rows and not session.scalar(
        select(exists().where(TextCategory.workspace_id == workspace_id))
    ):
        return _as_read(load_taxonomy().categories)
    return _as_read(rows)


def _as_read(categories: Sequence[Category] | Sequence[TextCategory]) -> Taxonomy:
    """Categories as stored and read back (English seeds in lower case)."""
    return Taxonomy(
        tuple(
            Category(
                key=c.key,
                name_ko=c.name_ko,
                name_en=c.name_en,
                seeds_ko=tuple(c.seeds_ko),
                seeds_en=tuple(s.lower() for s in c.seeds_en),
            )
            for c in categories
        )
    )


def list_categories(
    session: Session, *, workspace_id: int, cursor: str | None = None, limit: int = 50
) -> tuple[list[TextCategory], str | None]:
    """The workspace's taxonomy (inactive categories too), in the order they were added."""
    ensure_taxonomy(session, workspace_id=workspace_id)
    return oldest_first(
        session,
        scoped(select(TextCategory), TextCategory, workspace_id),
        time=TextCategory.created_at,
        id=TextCategory.id,
        cursor=cursor,
        limit=limit,
    )


def get_category(session: Session, *, workspace_id: int, key: str) -> TextCategory:
    ensure_taxonomy(session, workspace_id=workspace_id)
    category = session.scalar(
        scoped(select(TextCategory), TextCategory, workspace_id).where(TextCategory.key == key)
    )
    if category is None:
        raise NotFound(f"No category {key!r} in this workspace.")
    return category


def _clean_seeds(seeds: Sequence[str], field_name: str, *, lower: bool) -> list[str]:
    out: list[str] = []
    for seed in seeds:
        value = " ".join(seed.split())
        if lower:
            value = value.lower()
        if not value or len(value) > 50:
            raise ValidationFailed(
                "A seed is 1-50 characters.",
                errors=[{"field": field_name, "message": "each seed is 1-50 characters"}],
            )
        if value not in out:
            out.append(value)
    if len(out) > MAX_SEEDS:
        raise ValidationFailed(
            f"At most {MAX_SEEDS} seeds per language.",
            errors=[{"field": field_name, "message": f"at most {MAX_SEEDS} seeds"}],
        )
    return out


def _clean_name(value: str, field_name: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > 100:
        raise ValidationFailed(
            "A category name is 1-100 characters.",
            errors=[{"field": field_name, "message": "1-100 characters"}],
        )
    return name


def create_category(
    session: Session,
    *,
    workspace_id: int,
    key: str,
    name_ko: str,
    name_en: str,
    seeds_ko: Sequence[str] = (),
    seeds_en: Sequence[str] = (),
    principal: Principal | None = None,
) -> TextCategory:
    """Add a category to the workspace's taxonomy; audited when ``principal`` is given."""
    if not CATEGORY_KEY.fullmatch(key):
        raise ValidationFailed(
            "A category key is 2-64 lowercase letters, digits or '_', starting with a letter.",
            errors=[{"field": "key", "message": "use a-z, 0-9 and _ (2-64), a letter first"}],
        )
    ensure_taxonomy(session, workspace_id=workspace_id)
    taken = session.scalar(
        scoped(select(TextCategory.id), TextCategory, workspace_id).where(TextCategory.key == key)
    )
    if taken is not None:
        raise Conflict(f"The category {key!r} exists already; edit it instead.")
    last = session.scalars(
        scoped(select(TextCategory.position), TextCategory, workspace_id)
        .order_by(TextCategory.position.desc())
        .limit(1)
    ).first()
    category = TextCategory(
        workspace_id=workspace_id,
        key=key,
        name_ko=_clean_name(name_ko, "name_ko"),
        name_en=_clean_name(name_en, "name_en"),
        seeds_ko=_clean_seeds(seeds_ko, "seeds_ko", lower=False),
        seeds_en=_clean_seeds(seeds_en, "seeds_en", lower=True),
        active=True,
        position=(last or 0) + 1,
    )
    session.add(category)
    session.flush()
    if principal is not None:
        _audit_category(session, principal, "text_category.create", category)
    return category


def _audit_category(
    session: Session, principal: Principal, action: str, category: TextCategory
) -> None:
    record_audit(
        session,
        principal=principal,
        action=action,
        workspace_id=category.workspace_id,
        target_type="text_category",
        target_id=category.key,
    )


def update_category(
    session: Session,
    *,
    category: TextCategory,
    name_ko: str | None = None,
    name_en: str | None = None,
    seeds_ko: Sequence[str] | None = None,
    seeds_en: Sequence[str] | None = None,
    active: bool | None = None,
    principal: Principal | None = None,
) -> TextCategory:
    """Rename a category, change its seeds or (de)activate it; analyses made before keep their
    categories until they are analysed again. Audited when ``principal`` is given: a switch
    on or off as ``text_category.activate``/``deactivate`` (only when it changes), anything
    else as ``text_category.update``."""
    edited = any(v is not None for v in (name_ko, name_en, seeds_ko, seeds_en))
    switched = active is not None and active != category.active
    if name_ko is not None:
        category.name_ko = _clean_name(name_ko, "name_ko")
    if name_en is not None:
        category.name_en = _clean_name(name_en, "name_en")
    if seeds_ko is not None:
        category.seeds_ko = _clean_seeds(seeds_ko, "seeds_ko", lower=False)
    if seeds_en is not None:
        category.seeds_en = _clean_seeds(seeds_en, "seeds_en", lower=True)
    if active is not None:
        category.active = active
    category.updated_at = utcnow()
    session.flush()
    if principal is not None:
        if edited:
            _audit_category(session, principal, "text_category.update", category)
        if switched:
            action = "text_category.activate" if active else "text_category.deactivate"
            _audit_category(session, principal, action, category)
    return category


# --- models --------------------------------------------------------------------------------------


class _Cache:
    """A small process-wide LRU of loaded models and analysers (a model is a few MB in memory)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, make: Any) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_analyzers = _Cache(16)
_shipped_lock = threading.Lock()
_shipped: dict[str, Any] = {}


def _shipped_model() -> tuple[TextModel | None, str]:
    """The shipped model and its fingerprint (a hash of the file), loaded once per process."""
    with _shipped_lock:
        if "model" not in _shipped:
            model = load_model(MODEL_PATH)
            _shipped["model"] = model
            _shipped["fingerprint"] = (
                hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest() if model else "lexicon"
            )
        return _shipped["model"], _shipped["fingerprint"]


def shipped_run(session: Session) -> TextModelRun:
    """The shipped model's run row (no workspace), created with its held-out figures on first
    use so the model page shows the baseline each workspace model is compared with."""
    model, fingerprint = _shipped_model()
    run = session.scalar(select(TextModelRun).where(TextModelRun.fingerprint == fingerprint))
    if run is not None:
        return run
    figures: dict[str, Any] = (model.quality.get("test") or {}) if model is not None else {}
    labels: dict[str, int] = (model.quality.get("labels") or {}) if model is not None else {}
    now = utcnow()
    session.execute(
        _insert(session)(TextModelRun)
        .values(
            workspace_id=None,
            fingerprint=fingerprint,
            status="ready",
            active=True,
            trigger="shipped",
            base_labels=int(model.n_train if model is not None else 0) or sum(labels.values()),
            weak_labels=0,
            strong_labels=0,
            holdout_size=int(figures.get("n") or 0),
            accuracy=figures.get("accuracy"),
            macro_f1=figures.get("macro_f1"),
            category_micro_f1=figures.get("category_micro_f1"),
            per_language=figures.get("per_language") or {},
            comparison={},
            note="The model shipped with cxloop"
            + (f", trained {model.trained_at}." if model is not None else " (lexicon only)."),
            error="",
            created_at=now,
            started_at=now,
            finished_at=now,
        )
        .on_conflict_do_nothing(index_elements=["fingerprint"])
    )
    run = session.scalar(select(TextModelRun).where(TextModelRun.fingerprint == fingerprint))
    assert run is not None
    return run


def model_from_bytes(data: bytes) -> TextModel:
    import joblib

    model = joblib.load(io.BytesIO(data))
    if not isinstance(model, TextModel):
        raise ValueError("the stored model is not a cxloop text model")
    return model


def model_to_bytes(model: TextModel) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=("zlib", 6))
    return buffer.getvalue()


def _own_active_run(session: Session, *, workspace_id: int) -> TextModelRun | None:
    return session.scalar(
        scoped(select(TextModelRun), TextModelRun, workspace_id)
        .where(TextModelRun.active.is_(True), TextModelRun.status == "ready")
        .order_by(TextModelRun.id.desc())
        .limit(1)
    )


def active_run(session: Session, *, workspace_id: int) -> TextModelRun:
    """The run whose model analyses the workspace's texts: its own active one, else shipped."""
    run = _own_active_run(session, workspace_id=workspace_id)
    return run if run is not None else shipped_run(session)


def analyzer_of(run: TextModelRun, taxonomy: Taxonomy) -> Analyzer:
    """An analyser with the run's model and the taxonomy (cached per process)."""

    def make() -> Analyzer:
        if run.workspace_id is None:
            return Analyzer(_shipped_model()[0], taxonomy=taxonomy, model_path=None)
        assert run.model_bytes is not None
        return Analyzer(
            model_from_bytes(run.model_bytes),
            taxonomy=taxonomy,
            model_path=None,
            use_transformers=False,
        )

    # finished_at too: SQLite hands out the id of a deleted run again (a rebuilt demo).
    return _analyzers.get((run.id, run.finished_at, taxonomy), make)


def analyzer_for(session: Session, *, workspace_id: int) -> tuple[Analyzer, TextModelRun]:
    """The workspace's analyser (its active model and taxonomy) and the run it comes from,
    for work that stores analyses: the taxonomy their categories refer to is seeded first."""
    ensure_taxonomy(session, workspace_id=workspace_id)
    run = active_run(session, workspace_id=workspace_id)
    return analyzer_of(run, workspace_taxonomy(session, workspace_id=workspace_id)), run


def analyzer_in_use(session: Session, *, workspace_id: int) -> Analyzer:
    """The workspace's analyser (its active model and taxonomy), only reading: analysing a text
    on demand writes nothing, so it takes no write lock (on SQLite the one ingestion needs)."""
    return _analyzer_and_own_run(session, workspace_id=workspace_id)[0]


def _analyzer_and_own_run(
    session: Session, *, workspace_id: int
) -> tuple[Analyzer, TextModelRun | None]:
    """The workspace's analyser and its own active run (None: the shipped model), read only."""
    taxonomy = workspace_taxonomy(session, workspace_id=workspace_id)
    run = _own_active_run(session, workspace_id=workspace_id)
    if run is not None:
        return analyzer_of(run, taxonomy), run
    model, fingerprint = _shipped_model()
    analyzer = _analyzers.get(
        ("shipped", fingerprint, taxonomy),
        lambda: Analyzer(model, taxonomy=taxonomy, model_path=None),
    )
    return analyzer, None


def list_model_runs(
    session: Session, *, workspace_id: int, cursor: str | None = None, limit: int = 50
) -> tuple[list[TextModelRun], str | None]:
    """The workspace's model runs and the shipped model's, newest first."""
    shipped_run(session)
    query = select(TextModelRun).where(
        or_(TextModelRun.workspace_id == workspace_id, TextModelRun.workspace_id.is_(None))
    )
    return newest_first(
        session,
        query,
        time=TextModelRun.created_at,
        id=TextModelRun.id,
        cursor=cursor,
        limit=limit,
    )


def get_model_run(session: Session, *, workspace_id: int, run_id: int) -> TextModelRun:
    run = session.get(TextModelRun, run_id)
    if run is None or run.workspace_id not in (workspace_id, None):
        raise NotFound(f"No model run {run_id} in this workspace.")
    return run


def is_in_use(session: Session, *, workspace_id: int, run: TextModelRun) -> bool:
    """Whether ``run`` analyses the workspace's texts now."""
    return active_run(session, workspace_id=workspace_id).id == run.id


def activate_model_run(
    session: Session, *, workspace_id: int, run: TextModelRun, principal: Principal | None = None
) -> TextModelRun:
    """Make ``run`` the workspace's model (the shipped run: go back to the shipped model).
    Texts analysed before keep their analyses until ``cxloop text reanalyze --force``.
    Audited when ``principal`` (not the retraining job) is given."""
    if run.workspace_id not in (workspace_id, None):
        raise NotFound(f"No model run {run.id} in this workspace.")
    if run.status != "ready":
        raise Conflict(f"Model run {run.id} is {run.status}; only a ready model can be used.")
    session.execute(
        update(TextModelRun)
        .where(TextModelRun.workspace_id == workspace_id, TextModelRun.id != run.id)
        .values(active=False)
    )
    if run.workspace_id is not None:
        run.active = True
    session.flush()
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            action="text_model.activate",
            workspace_id=workspace_id,
            target_type="text_model_run",
            target_id=run.id,
        )
    return run


def request_retraining(
    session: Session,
    *,
    workspace_id: int,
    user_id: int | None = None,
    trigger: str = "manual",
    principal: Principal | None = None,
) -> TextModelRun:
    """A queued run for the workspace; the one already queued or training if there is one.
    A run left training by a worker that died is marked failed first. A new run asked for by
    ``principal`` is audited (the one already pending is not asked for again)."""
    session.execute(
        update(TextModelRun)
        .where(
            TextModelRun.workspace_id == workspace_id,
            TextModelRun.status == "training",
            TextModelRun.started_at < utcnow() - STALE_TRAINING,
        )
        .values(status="failed", error="the worker training it stopped", finished_at=utcnow())
    )
    pending = session.scalar(
        scoped(select(TextModelRun), TextModelRun, workspace_id)
        .where(TextModelRun.status.in_(("queued", "training")))
        .order_by(TextModelRun.id)
        .limit(1)
    )
    if pending is not None:
        return pending
    run = TextModelRun(
        workspace_id=workspace_id,
        status="queued",
        active=False,
        trigger=trigger,
        requested_by_id=user_id if principal is None else principal.user_id,
        per_language={},
        comparison={},
    )
    session.add(run)
    session.flush()
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            action="text_model.retrain",
            workspace_id=workspace_id,
            target_type="text_model_run",
            target_id=run.id,
        )
    return run


# --- analysing and storing -----------------------------------------------------------------------


@dataclass
class StoreReport:
    """What one call of :func:`analyse_and_store` did."""

    analysed: int = 0
    skipped: int = 0
    analysis_ids: list[int] = field(default_factory=list)


def _aspects(analysis: Analysis) -> list[dict[str, Any]]:
    return [
        {"category": a.category, "sentiment": a.sentiment, "score": a.score, "clause": a.clause}
        for a in analysis.aspects
    ]


def _stored_analyses(
    session: Session,
    *,
    workspace_id: int,
    source_type: str,
    source_ids: list[int],
    lock: bool = False,
) -> dict[int, TextAnalysis]:
    query = (
        scoped(select(TextAnalysis), TextAnalysis, workspace_id)
        .where(TextAnalysis.source_type == source_type, TextAnalysis.source_id.in_(source_ids))
        .order_by(TextAnalysis.source_id)
        # the rows as stored now (a correction may have come in since they were loaded)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update()
    return {a.source_id: a for a in session.scalars(query)}


def analyse_and_store(
    session: Session,
    *,
    workspace_id: int,
    source_type: str,
    items: Sequence[SourceText],
    force: bool = False,
) -> StoreReport:
    """Analyse the texts with the workspace's model and taxonomy and keep one analysis per
    source text; a text analysed before and unchanged is skipped unless ``force``. A person's
    correction stays in force while the text is the one it was made on."""
    get_source(source_type)
    report = StoreReport()
    latest: dict[int, SourceText] = {}
    for item in items:
        if item.text.strip():
            latest[item.source_id] = item
    if not latest:
        return report
    existing = _stored_analyses(
        session, workspace_id=workspace_id, source_type=source_type, source_ids=list(latest)
    )
    hashes = {sid: text_hash(item.text) for sid, item in latest.items()}
    todo = [
        item
        for sid, item in latest.items()
        if force or sid not in existing or existing[sid].text_hash != hashes[sid]
    ]
    report.skipped = len(latest) - len(todo)
    if not todo:
        return report
    analyzer, own_run = _analyzer_and_own_run(session, workspace_id=workspace_id)
    analyses: list[Analysis] = []
    for start in range(0, len(todo), ANALYSE_CHUNK):
        chunk = todo[start : start + ANALYSE_CHUNK]
        analyses.extend(analyzer.analyze_many([i.text for i in chunk], [i.lang for i in chunk]))
    # The rows again, locked, now that the analysis (the slow part) is done: a session that
    # takes SQLite's write lock at its first write (a reanalysis) held none while it analysed,
    # and a correction made meanwhile is kept.
    existing = _stored_analyses(
        session,
        workspace_id=workspace_id,
        source_type=source_type,
        source_ids=[item.source_id for item in todo],
        lock=True,
    )
    # Seeded (the categories refer to it) and the shipped run's row made, on first use, only
    # now that the write lock is held anyway.
    ensure_taxonomy(session, workspace_id=workspace_id)
    run_id = own_run.id if own_run is not None else shipped_run(session).id
    now = utcnow()
    insert_ = _insert(session)
    stored: list[tuple[int, str, list[str], datetime]] = []
    for item, result in zip(todo, analyses, strict=True):
        before = existing.get(item.source_id)
        kept = (
            list(before.corrected)
            if before is not None and before.text_hash == hashes[item.source_id]
            else []
        )
        sentiment = (
            before.sentiment if before is not None and "sentiment" in kept else result.sentiment
        )
        categories = (
            list(before.categories)
            if before is not None and "categories" in kept
            else list(result.categories)
        )
        values = {
            "customer_id": item.customer_id,
            "lang": result.lang,
            "sentiment": sentiment,
            "score": result.score,
            "sarcasm": result.sarcasm,
            "categories": categories,
            "aspects": _aspects(result),
            "keywords": list(result.keywords),
            "corrected": kept,
            "model_run_id": run_id,
            "text_hash": hashes[item.source_id],
            "occurred_at": item.occurred_at,
            "analysed_at": now,
        }
        # An upsert: the bus consumer and a reanalysis may store the same text at once.
        statement = (
            insert_(TextAnalysis)
            .values(
                workspace_id=workspace_id,
                source_type=source_type,
                source_id=item.source_id,
                **values,
            )
            .on_conflict_do_update(
                index_elements=["workspace_id", "source_type", "source_id"], set_=values
            )
            .returning(TextAnalysis.id)
        )
        analysis_id = int(session.execute(statement).scalar_one())
        stored.append((analysis_id, sentiment, categories, item.occurred_at))
    _replace_category_rows(session, workspace_id=workspace_id, rows=stored)
    # The ORM's copies of the rows just rewritten are stale.
    for before in existing.values():
        session.expire(before)
    report.analysed = len(stored)
    report.analysis_ids = [row[0] for row in stored]
    return report


def _replace_category_rows(
    session: Session, *, workspace_id: int, rows: Sequence[tuple[int, str, list[str], datetime]]
) -> None:
    ids = [row[0] for row in rows]
    session.execute(
        delete(TextAnalysisCategory).where(
            TextAnalysisCategory.workspace_id == workspace_id,
            TextAnalysisCategory.analysis_id.in_(ids),
        )
    )
    values = [
        {
            "analysis_id": analysis_id,
            "workspace_id": workspace_id,
            "category": category,
            "sentiment": sentiment,
            "occurred_at": occurred_at,
        }
        for analysis_id, sentiment, categories, occurred_at in rows
        for category in categories
    ]
    if values:
        session.execute(insert(table_of(TextAnalysisCategory)), values)


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalysisFilter:
    source_type: str | None = None
    category: str | None = None
    sentiment: str | None = None
    lang: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    customer_id: int | None = None


def _filtered(query: Select[Any], workspace_id: int, filters: AnalysisFilter) -> Select[Any]:
    query = scoped(query, TextAnalysis, workspace_id)
    if filters.source_type is not None:
        query = query.where(TextAnalysis.source_type == filters.source_type)
    if filters.sentiment is not None:
        query = query.where(TextAnalysis.sentiment == filters.sentiment)
    if filters.lang is not None:
        query = query.where(TextAnalysis.lang == filters.lang)
    if filters.since is not None:
        query = query.where(TextAnalysis.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(TextAnalysis.occurred_at < filters.until)
    if filters.customer_id is not None:
        query = query.where(TextAnalysis.customer_id == filters.customer_id)
    if filters.category is not None:
        query = query.where(
            exists().where(
                TextAnalysisCategory.analysis_id == TextAnalysis.id,
                TextAnalysisCategory.workspace_id == workspace_id,
                TextAnalysisCategory.category == filters.category,
            )
        )
    return query


def list_analyses(
    session: Session,
    *,
    workspace_id: int,
    filters: AnalysisFilter = AnalysisFilter(),
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[TextAnalysis], str | None]:
    """The workspace's analyses, newest text first, filtered; cursor pagination."""
    if filters.sentiment is not None and filters.sentiment not in SENTIMENTS:
        raise ValidationFailed(
            "sentiment must be positive, neutral or negative.",
            errors=[{"field": "sentiment", "message": "positive, neutral or negative"}],
        )
    if filters.since and filters.until and filters.since >= filters.until:
        raise ValidationFailed(
            "since must be before until.",
            errors=[{"field": "since", "message": "must be before until"}],
        )
    return newest_first(
        session,
        _filtered(select(TextAnalysis), workspace_id, filters),
        time=TextAnalysis.occurred_at,
        id=TextAnalysis.id,
        cursor=cursor,
        limit=limit,
    )


def get_analysis(session: Session, *, workspace_id: int, analysis_id: int) -> TextAnalysis:
    analysis = session.scalar(
        scoped(select(TextAnalysis), TextAnalysis, workspace_id).where(
            TextAnalysis.id == analysis_id
        )
    )
    if analysis is None:
        raise NotFound(f"No text analysis {analysis_id} in this workspace.")
    return analysis


def analyses_of_sources(
    session: Session, *, workspace_id: int, source_type: str, source_ids: Sequence[int]
) -> dict[int, TextAnalysis]:
    """The analyses of some source texts by source id (for tags beside a list of responses)."""
    if not source_ids:
        return {}
    return {
        a.source_id: a
        for a in session.scalars(
            scoped(select(TextAnalysis), TextAnalysis, workspace_id).where(
                TextAnalysis.source_type == source_type,
                TextAnalysis.source_id.in_(list(source_ids)),
            )
        )
    }


def corrections_of(session: Session, *, analysis: TextAnalysis) -> list[TextCorrection]:
    return list(
        session.scalars(
            select(TextCorrection)
            .where(
                TextCorrection.workspace_id == analysis.workspace_id,
                TextCorrection.analysis_id == analysis.id,
            )
            .order_by(TextCorrection.created_at, TextCorrection.id)
        )
    )


# --- corrections ---------------------------------------------------------------------------------


def correct(
    session: Session,
    *,
    analysis: TextAnalysis,
    user_id: int | None,
    actor: str = "",
    sentiment: str | None = None,
    categories: Sequence[str] | None = None,
    principal: Principal | None = None,
) -> list[TextCorrection]:
    """Correct an analysis's sentiment and/or categories: shown from now on (marked corrected)
    and used as a strong label by the next retraining. Audited when ``principal`` is given."""
    if sentiment is None and categories is None:
        raise ValidationFailed(
            "Give sentiment, categories or both.",
            errors=[{"field": "sentiment", "message": "give sentiment and/or categories"}],
        )
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise ValidationFailed(
            "sentiment must be positive, neutral or negative.",
            errors=[{"field": "sentiment", "message": "positive, neutral or negative"}],
        )
    wanted: list[str] | None = None
    if categories is not None:
        taxonomy = workspace_taxonomy(session, workspace_id=analysis.workspace_id)
        unknown = [c for c in categories if c not in taxonomy.keys]
        if unknown:
            raise ValidationFailed(
                f"Unknown categories: {', '.join(sorted(set(unknown)))}.",
                errors=[
                    {"field": "categories", "message": f"not in the workspace taxonomy: {c}"}
                    for c in sorted(set(unknown))
                ],
            )
        wanted = [k for k in taxonomy.keys if k in set(categories)]
    made: list[TextCorrection] = []
    corrected = list(analysis.corrected or [])
    common = {
        "workspace_id": analysis.workspace_id,
        "analysis_id": analysis.id,
        "user_id": user_id,
        "actor": actor[:100],
        "text_hash": analysis.text_hash,
    }
    if sentiment is not None:
        made.append(
            TextCorrection(
                **common, field="sentiment", value=sentiment, previous=analysis.sentiment
            )
        )
        analysis.sentiment = sentiment
        if "sentiment" not in corrected:
            corrected.append("sentiment")
    if wanted is not None:
        made.append(
            TextCorrection(
                **common, field="categories", value=wanted, previous=list(analysis.categories)
            )
        )
        analysis.categories = wanted
        if "categories" not in corrected:
            corrected.append("categories")
    analysis.corrected = corrected
    session.add_all(made)
    session.flush()
    _replace_category_rows(
        session,
        workspace_id=analysis.workspace_id,
        rows=[(analysis.id, analysis.sentiment, list(analysis.categories), analysis.occurred_at)],
    )
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            action="text.correct",
            workspace_id=analysis.workspace_id,
            target_type="text_analysis",
            target_id=analysis.id,
            detail={c.field: {"from": c.previous, "to": c.value} for c in made},
        )
    return made


@dataclass(frozen=True)
class StrongLabel:
    """An analysis people corrected: its source, and the labels it holds now."""

    source_type: str
    source_id: int
    sentiment: str
    categories: tuple[str, ...] | None  # None: categories not corrected
    text_hash: str


def strong_labels(session: Session, *, workspace_id: int) -> list[StrongLabel]:
    """Every analysis of the workspace with a correction still valid for its text."""
    rows = session.scalars(
        scoped(select(TextAnalysis), TextAnalysis, workspace_id)
        .where(
            exists().where(
                TextCorrection.analysis_id == TextAnalysis.id,
                TextCorrection.workspace_id == workspace_id,
                TextCorrection.text_hash == TextAnalysis.text_hash,
            )
        )
        .order_by(TextAnalysis.id)
    )
    return [
        StrongLabel(
            source_type=a.source_type,
            source_id=a.source_id,
            sentiment=a.sentiment,
            categories=tuple(a.categories) if "categories" in (a.corrected or []) else None,
            text_hash=a.text_hash,
        )
        for a in rows
        if a.corrected
    ]


# --- profiles follow: merge, export, erasure -----------------------------------------------------


def move_analyses_on_merge(
    session: Session, workspace_id: int, survivor_id: int, merged_id: int
) -> dict[str, int]:
    moved = session.execute(
        update(TextAnalysis)
        .where(TextAnalysis.workspace_id == workspace_id, TextAnalysis.customer_id == merged_id)
        .values(customer_id=survivor_id)
        .execution_options(synchronize_session=False)
    )
    return {TextAnalysis.__tablename__: rowcount(moved)}


def export_analyses(session: Session, customer: Customer) -> dict[str, Any]:
    rows = session.scalars(
        scoped(select(TextAnalysis), TextAnalysis, customer.workspace_id)
        .where(TextAnalysis.customer_id == customer.id)
        .order_by(TextAnalysis.occurred_at, TextAnalysis.id)
    )
    return {
        "text_analyses": [
            {
                "source_type": a.source_type,
                "source_id": a.source_id,
                "lang": a.lang,
                "sentiment": a.sentiment,
                "categories": a.categories,
                "keywords": a.keywords,
                "aspects": a.aspects,
                "occurred_at": a.occurred_at,
            }
            for a in rows
        ]
    }


def scrub_analyses(session: Session, customer: Customer) -> dict[str, int]:
    """Keep sentiment and categories (counts for trends) but nothing of the customer's words:
    keywords, the clauses of aspects, and the hash of the text go."""
    rows = list(
        session.scalars(
            scoped(select(TextAnalysis), TextAnalysis, customer.workspace_id).where(
                TextAnalysis.customer_id == customer.id
            )
        )
    )
    for analysis in rows:
        analysis.keywords = []
        analysis.aspects = [
            {k: v for k, v in aspect.items() if k != "clause"} for aspect in analysis.aspects or []
        ]
        analysis.text_hash = ""
    if rows:
        session.execute(
            update(TextCorrection)
            .where(
                TextCorrection.workspace_id == customer.workspace_id,
                TextCorrection.analysis_id.in_([a.id for a in rows]),
            )
            .values(text_hash="erased")  # no longer a label of any text
        )
    return {"text_analyses_scrubbed": len(rows)}
