"""Texts by where they were written, for the domains that place them in a journey: the analysed
texts of a period with their analysis ids, the current themes' members to join them with, and
the verbatims of chosen analyses with their words and themes.

The journey map groups texts by the stage their writer was at (which ``text`` does not know), so
it reads these statements and maps; ``text`` keeps its tables to itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import scoped
from cxloop.models import TextAnalysis, TextTheme
from cxloop.models.text import TextThemeMember
from cxloop.text.analytics.service import Verbatim, scored_texts
from cxloop.text.sources import sources

MAX_VERBATIMS = 200


@dataclass(frozen=True, slots=True)
class ThemeName:
    id: int
    label: str
    lang: str


def placed_texts(*, workspace_id: int, start: datetime, end: datetime) -> Select[Any]:
    """:func:`scored_texts` with each text's ``analysis_id``."""
    return scored_texts(workspace_id=workspace_id, start=start, end=end).add_columns(
        TextAnalysis.id.label("analysis_id")
    )


def theme_names(
    session: Session, *, workspace_id: int, ids: Sequence[int] | None = None
) -> dict[int, ThemeName]:
    """The workspace's current themes (only ``ids``, when given) by id."""
    query = scoped(select(TextTheme.id, TextTheme.label, TextTheme.lang), TextTheme, workspace_id)
    if ids is not None:
        if not ids:
            return {}
        query = query.where(TextTheme.id.in_(sorted(set(ids))))
    return {int(i): ThemeName(int(i), label, lang) for i, label, lang in session.execute(query)}


def theme_members(*, workspace_id: int, theme_id: int | None = None) -> Select[Any]:
    """(``analysis_id``, ``theme_id``) of the workspace's current themes (only ``theme_id``'s,
    when given): a statement to join texts with, or to filter them by."""
    query = select(TextThemeMember.analysis_id, TextThemeMember.theme_id).where(
        TextThemeMember.workspace_id == workspace_id
    )
    if theme_id is not None:
        query = query.where(TextThemeMember.theme_id == theme_id)
    return query


def verbatims_by_id(
    session: Session, *, workspace_id: int, ids: Sequence[int]
) -> list[tuple[Verbatim, tuple[int, ...]]]:
    """The workspace's analyses of these ids in the order given, each with its words from its
    source (None when gone) and its current themes' ids."""
    wanted = list(dict.fromkeys(ids))[:MAX_VERBATIMS]
    if not wanted:
        return []
    analyses = {
        a.id: a
        for a in session.scalars(
            scoped(select(TextAnalysis), TextAnalysis, workspace_id).where(
                TextAnalysis.id.in_(wanted)
            )
        )
    }
    by_source: dict[str, list[int]] = defaultdict(list)
    for analysis in analyses.values():
        by_source[analysis.source_type].append(analysis.source_id)
    words: dict[tuple[str, int], str] = {}
    for source_type, source_ids in by_source.items():
        source = sources.get(source_type)
        if source is None:
            continue
        for item in source.fetch(session, workspace_id=workspace_id, ids=source_ids):
            words[(source_type, item.source_id)] = item.text
    themes: dict[int, list[int]] = defaultdict(list)
    for analysis_id, theme_id in session.execute(
        select(TextThemeMember.analysis_id, TextThemeMember.theme_id)
        .where(
            TextThemeMember.workspace_id == workspace_id,
            TextThemeMember.analysis_id.in_(list(analyses)),
        )
        .order_by(TextThemeMember.theme_id)
    ):
        themes[int(analysis_id)].append(int(theme_id))
    return [
        (
            Verbatim(analyses[i], words.get((analyses[i].source_type, analyses[i].source_id))),
            tuple(themes.get(i, ())),
        )
        for i in wanted
        if i in analyses
    ]
