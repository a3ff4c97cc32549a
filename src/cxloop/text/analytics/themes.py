"""Themes: what recent texts talk about, found without a taxonomy by clustering them, so a topic
nobody named yet shows up with its size, its negativity and examples, and can become a category.

The texts of the last weeks are clustered per language over the keywords their analyses kept
(TF-IDF, then average-linkage agglomerative clustering on cosine distance with a fixed merge
threshold); small or incoherent clusters are dropped and each theme is labelled by its top
keywords. A run replaces the workspace's previous themes; the same texts give the same themes
(nothing random).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, scoped
from cxloop.core.db import Database
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import oldest_first
from cxloop.core.timeutil import utcnow
from cxloop.models import TextAnalysis, TextCategory, TextTheme
from cxloop.models.base import table_of
from cxloop.models.text import TextThemeMember
from cxloop.text.taxonomy import service as text_taxonomy

THEME_WEEKS = 12
MIN_TEXTS = 20  # fewer texts of a language than this are not clustered
MIN_THEME_SIZE = 5
MIN_THEME_SHARE = 0.02  # and at least this share of the language's texts
MAX_THEMES = 12  # per language
COHERENCE = 0.5  # a theme's top keywords appear in at least this share of its texts
MATCH_SHARE = 0.6  # a theme most of whose texts carry one category "matches" it
TOP_KEYWORDS = 6
EXAMPLES = 6
# Groups of texts merge while their texts are on average at least this alike (cosine of TF-IDF
# keyword vectors); a text joins a theme at least this close to its centre.
MERGE_SIMILARITY = 0.1
MAX_CLUSTERED = 3000  # texts clustered pairwise (a 3000² distance matrix is 72 MB)
LANGS = ("ko", "en")
# Words that say when or how much, not what about: kept out of theme keywords and labels.
FILLER = frozenset(
    " ".join(
        (
            "이번 처음 다음 전반 생각 하루 이틀 일주일 덕분 부분 과정 정도 항상 매번 오늘 어제",
            "honestly first come keep after point every since last next week month",
        )
    ).split()
)


@dataclass(frozen=True, slots=True)
class ThemeDoc:
    """What the clustering reads of one analysis."""

    analysis_id: int
    keywords: tuple[str, ...]
    categories: tuple[str, ...] = ()
    sentiment: str = "neutral"
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class Cluster:
    keywords: tuple[str, ...]  # most characteristic first
    members: tuple[int, ...]  # analysis ids, in id order
    examples: tuple[int, ...]  # the most typical members first


def _analyzer(doc: Sequence[str]) -> list[str]:
    return list(doc)


def _sample(count: int, size: int) -> np.ndarray:
    """Evenly spaced row numbers: at most ``size`` of ``count``, the same for the same count."""
    if count <= size:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, size).round().astype(int))


def cluster_texts(docs: Sequence[ThemeDoc], *, max_themes: int = MAX_THEMES) -> list[Cluster]:
    """Themes of one language's texts, largest first (none below :data:`MIN_TEXTS` texts).

    Texts are TF-IDF vectors of their keywords; groups merge bottom-up (average linkage) while
    their texts are on average at least :data:`MERGE_SIMILARITY` alike, which splits texts about
    different things without asking how many themes there are. Above :data:`MAX_CLUSTERED`
    texts an even sample is clustered and the others join the theme they are closest to."""
    docs = sorted((d for d in docs if d.keywords), key=lambda d: d.analysis_id)
    if len(docs) < MIN_TEXTS:
        return []
    vectorizer = TfidfVectorizer(analyzer=_analyzer, min_df=2, sublinear_tf=True)
    try:
        weights = vectorizer.fit_transform([d.keywords for d in docs])
    except ValueError:  # no keyword shared by two texts
        return []
    kept = np.flatnonzero(weights.getnnz(axis=1) > 0)
    if len(kept) < MIN_TEXTS:
        return []
    weights = weights[kept]
    docs = [docs[i] for i in kept]
    vocabulary = np.array(vectorizer.get_feature_names_out())
    sample = _sample(len(docs), MAX_CLUSTERED)
    part = weights[sample]
    distances = np.clip(1.0 - (part @ part.T).toarray(), 0.0, 2.0)
    labels = AgglomerativeClustering(
        n_clusters=None,
        distance_threshold=1.0 - MERGE_SIMILARITY,
        metric="precomputed",
        linkage="average",
    ).fit_predict(distances)
    min_size = max(MIN_THEME_SIZE, int(np.ceil(MIN_THEME_SHARE * len(sample))))
    groups = [sample[labels == label] for label in np.unique(labels)]
    groups = [g for g in groups if len(g) >= min_size]
    if not groups:
        return []
    centroids = normalize(np.vstack([np.asarray(weights[g].mean(axis=0)) for g in groups]))
    # Every text (sampled or not) joins the group it is closest to, if close enough.
    closeness = np.asarray(weights @ centroids.T)
    nearest = closeness.argmax(axis=1)
    joined = closeness.max(axis=1) >= MERGE_SIMILARITY
    clusters = []
    for index in range(len(groups)):
        rows = np.flatnonzero(joined & (nearest == index))
        if len(rows) < min_size:
            continue
        centroid = np.asarray(weights[rows].mean(axis=0)).ravel()
        order = np.argsort(-centroid, kind="stable")
        top = tuple(str(vocabulary[i]) for i in order[:TOP_KEYWORDS] if centroid[i] > 0)
        lead = set(top[:2])
        covered = sum(1 for r in rows if lead & set(docs[r].keywords))
        if not top or covered < COHERENCE * len(rows):
            continue  # a catch-all of texts that share little
        typical = rows[np.argsort(-closeness[rows, index], kind="stable")[:EXAMPLES]]
        clusters.append(
            Cluster(
                keywords=top,
                members=tuple(sorted(docs[r].analysis_id for r in rows)),
                examples=tuple(docs[r].analysis_id for r in typical),
            )
        )
    clusters.sort(key=lambda c: (-len(c.members), c.keywords))
    return clusters[:max_themes]


# --- stored themes -------------------------------------------------------------------------------


def _label(keywords: Sequence[str]) -> str:
    return " · ".join(keywords[:3])[:200]


def recompute_themes(
    session: Session,
    *,
    workspace_id: int,
    now: datetime | None = None,
    weeks: int = THEME_WEEKS,
) -> list[TextTheme]:
    """Cluster the workspace's texts of the last ``weeks`` weeks per language and store the
    themes found in place of the previous ones (a promoted theme found again stays promoted)."""
    end = now or utcnow()
    start = end - timedelta(weeks=weeks)
    rows = session.execute(
        scoped(
            select(
                TextAnalysis.id,
                TextAnalysis.lang,
                TextAnalysis.keywords,
                TextAnalysis.categories,
                TextAnalysis.sentiment,
                TextAnalysis.score,
            ),
            TextAnalysis,
            workspace_id,
        )
        .where(
            TextAnalysis.occurred_at >= start,
            TextAnalysis.occurred_at < end,
            TextAnalysis.lang.in_(LANGS),
        )
        .order_by(TextAnalysis.id)
    ).all()
    docs: dict[str, list[ThemeDoc]] = {lang: [] for lang in LANGS}
    for row in rows:
        docs[row.lang].append(
            ThemeDoc(
                analysis_id=int(row.id),
                keywords=tuple(w for w in row.keywords or () if w not in FILLER),
                categories=tuple(row.categories or ()),
                sentiment=row.sentiment,
                score=float(row.score),
            )
        )
    promoted = [
        (set(t.keywords[:3]), t.promoted_category_key, t.lang)
        for t in session.scalars(
            scoped(select(TextTheme), TextTheme, workspace_id).where(
                TextTheme.promoted_category_key.is_not(None)
            )
        )
    ]
    found: list[tuple[str, Cluster, dict[int, ThemeDoc]]] = []
    for lang in LANGS:
        by_id = {d.analysis_id: d for d in docs[lang]}
        for cluster in cluster_texts(docs[lang]):
            found.append((lang, cluster, by_id))
    # Written only now that the clustering (seconds for a busy workspace) is done: a session
    # that takes SQLite's write lock at its first write holds it only while the themes are
    # stored.
    session.execute(delete(TextThemeMember).where(TextThemeMember.workspace_id == workspace_id))
    session.execute(delete(TextTheme).where(TextTheme.workspace_id == workspace_id))
    # Largest first across languages: ids then list the themes in that order.
    found.sort(key=lambda item: (-len(item[1].members), item[0], item[1].keywords))
    created = []
    for lang, cluster, by_id in found:
        members = [by_id[i] for i in cluster.members]
        size = len(members)
        counts = Counter(c for d in members for c in d.categories)
        matched, matched_count = counts.most_common(1)[0] if counts else (None, 0)
        again = next(
            (
                key
                for words, key, theme_lang in promoted
                if theme_lang == lang and len(words & set(cluster.keywords[:3])) >= 2
            ),
            None,
        )
        theme = TextTheme(
            workspace_id=workspace_id,
            lang=lang,
            label=_label(cluster.keywords),
            keywords=list(cluster.keywords),
            size=size,
            negative_share=round(sum(d.sentiment == "negative" for d in members) / size, 4),
            mean_score=round(sum(d.score for d in members) / size, 4),
            examples=list(cluster.examples),
            window_start=start,
            window_end=end,
            promoted_category_key=again,
            matched_category=matched if matched_count >= MATCH_SHARE * size else None,
            matched_share=round(matched_count / size, 4) if matched else None,
        )
        session.add(theme)
        session.flush()
        session.execute(
            insert(table_of(TextThemeMember)),
            [
                {"theme_id": theme.id, "analysis_id": d.analysis_id, "workspace_id": workspace_id}
                for d in members
            ],
        )
        created.append(theme)
    return created


def recompute_themes_in(database: Database, *, workspace_id: int) -> list[TextTheme]:
    """:func:`recompute_themes` in a unit of work of its own that reads and clusters without
    SQLite's write lock and takes it only to store the themes (ingestion goes on meanwhile).
    The caller holds no transaction of its own."""
    with database.session(write_on_demand=True) as session:
        return recompute_themes(session, workspace_id=workspace_id)


def list_themes(
    session: Session,
    *,
    workspace_id: int,
    lang: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[TextTheme], str | None]:
    """The workspace's current themes, largest first (the order they were stored in)."""
    query = scoped(select(TextTheme), TextTheme, workspace_id)
    if lang is not None:
        query = query.where(TextTheme.lang == lang)
    return oldest_first(
        session,
        query,
        time=TextTheme.created_at,
        id=TextTheme.id,
        cursor=cursor,
        limit=max(1, min(limit, 200)),
    )


def get_theme(session: Session, *, workspace_id: int, theme_id: int) -> TextTheme:
    theme = session.scalar(
        scoped(select(TextTheme), TextTheme, workspace_id).where(TextTheme.id == theme_id)
    )
    if theme is None:
        raise NotFound(f"No theme {theme_id} in this workspace.")
    return theme


_NOT_KEY = re.compile(r"[^a-z0-9_]+")


def _free_key(session: Session, *, workspace_id: int, theme: TextTheme) -> str:
    """A category key from the theme's English keywords, else ``theme_<id>``; never taken."""
    words = [_NOT_KEY.sub("", w.lower()) for w in theme.keywords[:2]] if theme.lang == "en" else []
    base = "_".join(w for w in words if w)[:50]
    if not base or not base[0].isalpha():
        base = f"theme_{theme.id}"
    taken = set(
        session.scalars(
            scoped(select(TextCategory.key), TextCategory, workspace_id).where(
                TextCategory.key.startswith(base, autoescape=True)
            )
        )
    )
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def promote_theme(
    session: Session,
    *,
    workspace_id: int,
    theme_id: int,
    key: str | None = None,
    name_ko: str | None = None,
    name_en: str | None = None,
    principal: Principal | None = None,
) -> TextCategory:
    """Make a theme a category of the workspace's taxonomy, seeded with its keywords (in the
    theme's language); texts analysed from now on carry it. The new category is audited when
    ``principal`` is given, as one made in the taxonomy editor is."""
    theme = get_theme(session, workspace_id=workspace_id, theme_id=theme_id)
    if theme.promoted_category_key:
        raise Conflict(f"Theme {theme_id} is already the category {theme.promoted_category_key!r}.")
    seeds = [w for w in theme.keywords if 1 <= len(w) <= 50]
    if not seeds:
        raise ValidationFailed(
            "The theme has no keywords to seed a category with.",
            errors=[{"field": "theme_id", "message": "the theme has no keywords"}],
        )
    category = text_taxonomy.create_category(
        session,
        workspace_id=workspace_id,
        key=key or _free_key(session, workspace_id=workspace_id, theme=theme),
        name_ko=name_ko or theme.label[:100],
        name_en=name_en or theme.label[:100],
        seeds_ko=seeds if theme.lang == "ko" else [],
        seeds_en=seeds if theme.lang == "en" else [],
        principal=principal,
    )
    theme.promoted_category_key = category.key
    session.flush()
    return category
