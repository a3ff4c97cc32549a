"""Retrain a workspace's text model from its own data, measure it, and use it only if it is not
worse than the model in use.

Training examples: the project's labelled texts (train split; ``text/training/dataset.py``),
weak labels from the sources (a survey score says how the customer felt: NPS 0–6 / 9–10,
CSAT 1–2 / 4–5; a low weight) and people's corrections (strong labels, weighted up). The
held-out set is the labelled test split plus a fixed fifth of the corrections; nothing in it is
trained on, and the new model and the model in use are both measured on it, so the comparison is
like for like.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxloop.core.db import Database, rowcount
from cxloop.core.timeutil import utcnow
from cxloop.models import TextModelRun
from cxloop.text.categories import Taxonomy
from cxloop.text.features import prepare
from cxloop.text.pipeline import Analyzer
from cxloop.text.registry import service as text_registry
from cxloop.text.sentiment import Example, Quality, fit_model, micro_f1, sentiment_quality
from cxloop.text.sources import WeakLabelSource, get_source, sources
from cxloop.text.store import service as text_store
from cxloop.text.taxonomy import service as text_taxonomy
from cxloop.text.training.dataset import training_split

log = logging.getLogger(__name__)

WEAK_WEIGHT = 0.3
STRONG_WEIGHT = 2.0
MAX_WEAK_LABELS = 5000  # the newest; older scores add little and cost training time
HOLDOUT_SHARE = 5  # one correction in five is held out (fixed by its source)


@dataclass
class TrainingSet:
    train: list[Example] = field(default_factory=list)
    holdout: list[Example] = field(default_factory=list)
    base: int = 0
    weak: int = 0
    strong: int = 0


def is_held_out(source_type: str, source_id: int) -> bool:
    """Whether a corrected text belongs to the held-out set (fixed, so runs compare)."""
    digest = hashlib.sha256(f"{source_type}:{source_id}".encode()).digest()
    return digest[0] % HOLDOUT_SHARE == 0


def training_set(session: Session, *, workspace_id: int) -> TrainingSet:
    """The examples to train on and the held-out ones to measure with."""
    out = TrainingSet()
    base_train, base_test = training_split()
    out.train.extend(r.example() for r in base_train)
    out.holdout.extend(r.example() for r in base_test)
    out.base = len(base_train)

    strong_keys: set[tuple[str, int]] = set()
    by_source: dict[str, list[text_store.StrongLabel]] = defaultdict(list)
    for label in text_store.strong_labels(session, workspace_id=workspace_id):
        by_source[label.source_type].append(label)
    for source_type, labels in by_source.items():
        texts = {
            t.source_id: t
            for t in get_source(source_type).fetch(
                session, workspace_id=workspace_id, ids=[lab.source_id for lab in labels]
            )
        }
        for lab in labels:
            item = texts.get(lab.source_id)
            # the text changed since the correction (or is gone): the label no longer holds
            if item is None or text_store.text_hash(item.text) != lab.text_hash:
                continue
            strong_keys.add((source_type, lab.source_id))
            if is_held_out(source_type, lab.source_id):
                out.holdout.append(Example(item.text, lab.sentiment, 1.0, None, lab.categories))
            else:
                out.train.append(
                    Example(item.text, lab.sentiment, STRONG_WEIGHT, None, lab.categories)
                )
                out.strong += 1
    for name, source in sorted(sources.items()):
        if not isinstance(source, WeakLabelSource):
            continue
        for weak in source.weak_labels(session, workspace_id=workspace_id, limit=MAX_WEAK_LABELS):
            if (name, weak.source_id) in strong_keys:
                continue  # a person's label wins over a score's guess
            out.train.append(Example(weak.text, weak.label, WEAK_WEIGHT, weak.lang, None))
            out.weak += 1
    return out


def measure(analyzer: Analyzer, holdout: Sequence[Example]) -> Quality:
    """Sentiment accuracy and macro-F1 (overall and per language) and category micro-F1."""
    results = analyzer.analyze_many([e.text for e in holdout], [e.lang for e in holdout])
    quality = sentiment_quality(
        [r.lang for r in results], [e.label for e in holdout], [r.sentiment for r in results]
    )
    rows = [i for i, e in enumerate(holdout) if e.categories is not None]
    if rows:
        quality.category_micro_f1 = micro_f1(
            [holdout[i].categories or () for i in rows], [results[i].categories for i in rows]
        )
        for lang, figures in quality.per_language.items():
            idx = [i for i in rows if results[i].lang == lang]
            if idx:
                figures["category_micro_f1"] = micro_f1(
                    [holdout[i].categories or () for i in idx],
                    [results[i].categories for i in idx],
                )
    return quality


@dataclass
class Outcome:
    run_id: int
    status: str
    activated: bool = False
    macro_f1: float | None = None
    current_macro_f1: float | None = None


def _claim(database: Database, run_id: int) -> bool:
    with database.session() as session:
        result = session.execute(
            update(TextModelRun)
            .where(TextModelRun.id == run_id, TextModelRun.status == "queued")
            .values(status="training", started_at=utcnow())
        )
        return rowcount(result) == 1


def run_training(
    database: Database, *, run_id: int, progress: Callable[[str], None] | None = None
) -> Outcome:
    """Train the queued run ``run_id``; a run already taken by another worker is left alone."""
    say = progress or (lambda _msg: None)
    if not _claim(database, run_id):
        with database.session() as session:
            run = session.get(TextModelRun, run_id)
            return Outcome(run_id, run.status if run is not None else "missing")
    try:
        return _train(database, run_id, say)
    except Exception as exc:
        log.exception("training text model run %s failed", run_id)
        with database.session() as session:
            run = session.get(TextModelRun, run_id)
            if run is not None:
                run.status = "failed"
                run.error = f"{type(exc).__name__}: {exc}"[:2000]
                run.finished_at = utcnow()
        return Outcome(run_id, "failed")


def _train(database: Database, run_id: int, say: Callable[[str], None]) -> Outcome:
    # Reading the training set and loading the model in use only read (the shipped model's
    # run row aside, written once): SQLite's write lock, which ingestion needs, is not held.
    with database.session(write_on_demand=True) as session:
        run = session.get(TextModelRun, run_id)
        assert run is not None and run.workspace_id is not None
        workspace_id = run.workspace_id
        data = training_set(session, workspace_id=workspace_id)
        taxonomy = text_taxonomy.workspace_taxonomy(session, workspace_id=workspace_id)
        current_run = text_registry.active_run(session, workspace_id=workspace_id)
        current = text_registry.analyzer_of(current_run, taxonomy)
        current_id = current_run.id
    say(
        f"{len(data.train)} texts to train on ({data.base} labelled, {data.weak} weak, "
        f"{data.strong} corrected), {len(data.holdout)} held out"
    )
    model = _fit(data.train, taxonomy)
    say("measuring the new model and the model in use on the held-out texts")
    new_quality = measure(
        Analyzer(model, taxonomy=taxonomy, model_path=None, use_transformers=False), data.holdout
    )
    current_quality = measure(current, data.holdout)
    activate = new_quality.macro_f1 >= current_quality.macro_f1
    comparison: dict[str, Any] = {
        "against_run_id": current_id,
        "against_macro_f1": current_quality.macro_f1,
        "against_accuracy": current_quality.accuracy,
        "macro_f1": new_quality.macro_f1,
        "holdout_size": new_quality.n,
        "activated": activate,
    }
    note = (
        f"Held-out macro-F1 {new_quality.macro_f1:.3f} against {current_quality.macro_f1:.3f} "
        f"of the model in use (run {current_id}) on the same {new_quality.n} texts: "
        + ("not worse, so it is now in use." if activate else "worse, so it was not activated.")
    )
    say(note)
    model_bytes = text_registry.model_to_bytes(model)  # compressed before the write lock is taken
    with database.session() as session:
        run = session.get(TextModelRun, run_id)
        assert run is not None
        run.base_labels, run.weak_labels, run.strong_labels = data.base, data.weak, data.strong
        run.holdout_size = new_quality.n
        run.accuracy = new_quality.accuracy
        run.macro_f1 = new_quality.macro_f1
        run.category_micro_f1 = new_quality.category_micro_f1
        run.per_language = new_quality.per_language
        run.comparison = comparison
        run.note = note
        run.model_bytes = model_bytes
        run.status = "ready"
        run.finished_at = utcnow()
        session.flush()
        if activate:
            text_registry.activate_model_run(session, workspace_id=workspace_id, run=run)
    return Outcome(run_id, "ready", activate, new_quality.macro_f1, current_quality.macro_f1)


def _fit(examples: Sequence[Example], taxonomy: Taxonomy) -> Any:
    docs = [prepare(e.text, e.lang) for e in examples]
    return fit_model(docs, examples, taxonomy)


def retrain_workspace(
    database: Database,
    *,
    workspace_id: int,
    user_id: int | None = None,
    trigger: str = "manual",
    progress: Callable[[str], None] | None = None,
) -> Outcome:
    """Queue a run for the workspace (or take the queued one) and train it now."""
    with database.session() as session:
        run = text_registry.request_retraining(
            session, workspace_id=workspace_id, user_id=user_id, trigger=trigger
        )
        run_id = run.id
    return run_training(database, run_id=run_id, progress=progress)


def queued_runs(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(TextModelRun.id)
            .where(TextModelRun.status == "queued", TextModelRun.workspace_id.is_not(None))
            .order_by(TextModelRun.id)
        )
    )
