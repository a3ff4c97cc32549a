"""The model registry: the model shipped with cxloop and each workspace's trained model runs,
which one analyses a workspace's texts (with a process-wide cache of loaded analysers), choosing
another, and asking for a retraining.

Every function takes the session first and never commits.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, scoped
from cxloop.accounts.service import record_audit
from cxloop.core.db import dialect_insert
from cxloop.core.errors import Conflict, NotFound
from cxloop.core.pagination import newest_first
from cxloop.core.timeutil import utcnow
from cxloop.models import (
    TextModelRun,
)
from cxloop.text.categories import Taxonomy
from cxloop.text.pipeline import Analyzer
from cxloop.text.sentiment import MODEL_PATH, TextModel, load_model
from cxloop.text.taxonomy.service import ensure_taxonomy, workspace_taxonomy

STALE_TRAINING = timedelta(hours=2)  # a run "training" this long lost its worker


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
        dialect_insert(session)(TextModelRun)
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
    return analyzer_and_own_run(session, workspace_id=workspace_id)[0]


def analyzer_and_own_run(
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
