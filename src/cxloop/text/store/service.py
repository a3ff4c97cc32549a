"""Stored analyses: analyse a domain's texts and keep what was understood, list and correct
analyses, the strong labels corrections make, and the customer merge, export and erasure hooks.

Every function takes the session first and never commits. Analyses are keyed by (workspace,
source type, source id) and keep a hash of the text they read, so analysing the same text again
is skipped (a bus replay, a rerun of ``cxloop text reanalyze``) unless forced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, insert, select, update
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, scoped
from cxloop.accounts.service import record_audit
from cxloop.core.db import dialect_insert, rowcount
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.pagination import newest_first
from cxloop.core.timeutil import utcnow
from cxloop.models import (
    Customer,
    TextAnalysis,
    TextAnalysisCategory,
    TextCorrection,
)
from cxloop.models.base import table_of
from cxloop.models.text import SENTIMENTS
from cxloop.text.pipeline import Analysis
from cxloop.text.registry.service import analyzer_and_own_run, shipped_run
from cxloop.text.sources import SourceText, get_source
from cxloop.text.taxonomy.service import ensure_taxonomy, workspace_taxonomy

ANALYSE_CHUNK = 256  # texts per call of the analyser (its learned parts run once per call)


def text_hash(text: str) -> str:
    """What identifies a text's content: analysing the same text twice gives the same answer."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    analyzer, own_run = analyzer_and_own_run(session, workspace_id=workspace_id)
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
    insert_ = dialect_insert(session)
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
