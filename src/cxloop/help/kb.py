"""The knowledge base: importing articles (JSON lines, one line per language version), the
published articles as the bot's index reads them, and that index kept on the disk per workspace
and rebuilt when an article changes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.help.retrieval import ANALYSIS, Doc, KnowledgeIndex
from cxloop.models import HelpArticle, HelpArticleRevision, HelpArticleVersion
from cxloop.models.help import ARTICLE_STATUSES, HELP_LOCALES

MAX_LINES = 20_000
MAX_TITLE = 300
MAX_BODY = 100_000
MAX_TAGS = 20
_CATEGORY = re.compile(r"^[\w-]{0,64}$")
_EXTERNAL_ID = re.compile(r"^[^\s]{1,128}$")


@dataclass(frozen=True)
class ArticleLine:
    external_id: str
    locale: str
    title: str
    body: str
    category: str
    tags: tuple[str, ...]
    status: str


@dataclass
class Imported:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    articles: set[str] = field(default_factory=set)


def _line_error(number: int, problem: str) -> str:
    return f"line {number}: {problem}"


def parse_line(number: int, raw: str) -> ArticleLine:
    """One line of an import file; ValueError (with the line number) when it is not one."""
    try:
        row = json.loads(raw)
    except ValueError:
        raise ValueError(_line_error(number, "not JSON")) from None
    if not isinstance(row, dict):
        raise ValueError(_line_error(number, "not a JSON object"))

    def text(name: str, limit: int, *, required: bool = True) -> str:
        value = row.get(name, "")
        if not isinstance(value, str) or (required and not value.strip()):
            raise ValueError(_line_error(number, f'"{name}" must be a non-empty string'))
        if len(value) > limit:
            raise ValueError(_line_error(number, f'"{name}" is longer than {limit} characters'))
        return value.strip() if name != "body" else value

    external_id = text("external_id", 128)
    if not _EXTERNAL_ID.match(external_id):
        raise ValueError(_line_error(number, '"external_id" must not contain spaces'))
    locale = row.get("locale")
    if locale not in HELP_LOCALES:
        raise ValueError(_line_error(number, '"locale" must be "ko" or "en"'))
    category = text("category", 64, required=False)
    if not _CATEGORY.match(category):
        raise ValueError(_line_error(number, '"category" must be a short slug'))
    tags = row.get("tags") or []
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise ValueError(_line_error(number, f'"tags" must be a list of at most {MAX_TAGS}'))
    if not all(isinstance(t, str) and 0 < len(t) <= 64 for t in tags):
        raise ValueError(_line_error(number, '"tags" must hold short strings'))
    status = row.get("status", "published")
    if status not in ARTICLE_STATUSES:
        raise ValueError(_line_error(number, '"status" must be "draft" or "published"'))
    return ArticleLine(
        external_id=external_id,
        locale=str(locale),
        title=text("title", MAX_TITLE),
        body=text("body", MAX_BODY),
        category=category,
        tags=tuple(t.strip() for t in tags),
        status=str(status),
    )


def parse_lines(lines: Iterable[str]) -> list[ArticleLine]:
    """Every line of an import, all checked before anything is written: ValidationFailed
    naming the first bad lines when one is not right."""
    parsed: list[ArticleLine] = []
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for number, raw in enumerate(lines, start=1):
        if number > MAX_LINES:
            raise ValidationFailed(f"An import holds at most {MAX_LINES:,} lines.")
        if not raw.strip():
            continue
        try:
            line = parse_line(number, raw)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if (line.external_id, line.locale) in seen:
            problems.append(_line_error(number, f"{line.external_id} ({line.locale}) again"))
        seen.add((line.external_id, line.locale))
        parsed.append(line)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValidationFailed("Nothing was imported: " + "; ".join(problems[:3]) + more + ".")
    if not parsed:
        raise ValidationFailed("The file holds no articles.")
    return parsed


def import_articles(
    session: Session,
    *,
    workspace_id: int,
    lines: Iterable[str],
    author_id: int | None = None,
) -> Imported:
    """Create or update the articles of ``lines`` (same ``external_id`` = one article; a
    re-import updates in place and keeps a revision of each changed version)."""
    parsed = parse_lines(lines)
    result = Imported()
    ids = sorted({line.external_id for line in parsed})
    articles = {
        a.external_id: a
        for a in session.scalars(
            select(HelpArticle).where(
                HelpArticle.workspace_id == workspace_id, HelpArticle.external_id.in_(ids)
            )
        )
    }
    for line in parsed:
        article = articles.get(line.external_id)
        if article is None:
            article = HelpArticle(
                workspace_id=workspace_id,
                external_id=line.external_id,
                category=line.category,
                status=line.status,
                author_id=author_id,
            )
            session.add(article)
            session.flush()
            articles[line.external_id] = article
        elif (article.category, article.status) != (line.category, line.status):
            article.category, article.status = line.category, line.status
        version = session.scalar(
            select(HelpArticleVersion).where(
                HelpArticleVersion.article_id == article.id,
                HelpArticleVersion.locale == line.locale,
            )
        )
        if version is None:
            session.add(
                HelpArticleVersion(
                    workspace_id=workspace_id,
                    article_id=article.id,
                    locale=line.locale,
                    title=line.title,
                    body=line.body,
                    tags=list(line.tags),
                )
            )
            result.created += 1
        elif (version.title, version.body, list(version.tags)) != (
            line.title,
            line.body,
            list(line.tags),
        ):
            version.title, version.body, version.tags = line.title, line.body, list(line.tags)
            result.updated += 1
        else:
            result.unchanged += 1
            continue
        article.updated_at = utcnow()
        session.add(
            HelpArticleRevision(
                workspace_id=workspace_id,
                article_id=article.id,
                locale=line.locale,
                title=line.title,
                body=line.body,
                author_id=author_id,
                source="import",
            )
        )
        result.articles.add(line.external_id)
    session.flush()
    return result


def export_articles(session: Session, *, workspace_id: int) -> Iterable[dict[str, Any]]:
    """Every article's language versions as import lines, by external id and locale."""
    rows = session.execute(
        select(HelpArticle, HelpArticleVersion)
        .join(HelpArticleVersion, HelpArticleVersion.article_id == HelpArticle.id)
        .where(HelpArticle.workspace_id == workspace_id)
        .order_by(HelpArticle.external_id, HelpArticleVersion.locale.desc())
    )
    for article, version in rows:
        yield {
            "external_id": article.external_id,
            "locale": version.locale,
            "title": version.title,
            "body": version.body,
            "category": article.category,
            "tags": list(version.tags),
            "status": article.status,
        }


def published_docs(session: Session, *, workspace_id: int) -> list[Doc]:
    rows = session.execute(
        select(HelpArticle.external_id, HelpArticleVersion)
        .join(HelpArticleVersion, HelpArticleVersion.article_id == HelpArticle.id)
        .where(HelpArticle.workspace_id == workspace_id, HelpArticle.status == "published")
        .order_by(HelpArticle.id, HelpArticleVersion.locale)
    )
    return [Doc(external_id, v.locale, v.title, v.body, tuple(v.tags)) for external_id, v in rows]


# --- the index, kept on the disk and in memory ----------------------------------------------------

_cache: dict[int, tuple[str, KnowledgeIndex]] = {}
_cache_lock = threading.Lock()


def _stamp(session: Session, workspace_id: int) -> str:
    """Changes whenever a published article or one of its versions changes."""
    articles = session.execute(
        select(func.count(), func.max(HelpArticle.updated_at), func.sum(HelpArticle.id)).where(
            HelpArticle.workspace_id == workspace_id, HelpArticle.status == "published"
        )
    ).one()
    versions = session.execute(
        select(func.count(), func.max(HelpArticleVersion.updated_at)).where(
            HelpArticleVersion.workspace_id == workspace_id
        )
    ).one()
    return hashlib.sha256(repr((tuple(articles), tuple(versions))).encode()).hexdigest()[:20]


def index_folder(settings: Settings, workspace_id: int) -> Path:
    return settings.data_dir / "help" / str(workspace_id)


def saved_index(settings: Settings, workspace_id: int, stamp: str) -> Path:
    """Where the index of the articles as ``stamp`` says is saved. The analysis's version is in
    the name, so that an index saved by another version is built again beside it, not in its
    way, and the old one goes with the other stale ones."""
    return index_folder(settings, workspace_id) / f"{ANALYSIS}-{stamp}"


def _saved_meanings(folder: Path) -> dict[str, np.ndarray]:
    """The passage vectors of the workspace's earlier saved indexes, by their text."""
    known: dict[str, np.ndarray] = {}
    if folder.parent.is_dir():
        for old in folder.parent.iterdir():
            if old != folder and not old.name.startswith("."):
                known.update(KnowledgeIndex.saved_meanings(old))
    return known


_UNREADABLE = (OSError, ValueError, KeyError, EOFError)
_building: dict[int, threading.Lock] = {}


def knowledge_index(session: Session, settings: Settings, *, workspace_id: int) -> KnowledgeIndex:
    """The workspace's index of published articles: from memory, else from the disk, else built
    (and saved) from the articles. A process builds one workspace's index once at a time: while
    it does, other questions are answered from the index it held before (the articles as they
    were a moment ago), or wait for the build when it held none."""
    stamp = _stamp(session, workspace_id)
    with _cache_lock:
        held = _cache.get(workspace_id)
        if held is not None and held[0] == stamp:
            return held[1]
        building = _building.setdefault(workspace_id, threading.Lock())
    if held is not None and not building.acquire(blocking=False):
        return held[1]
    if held is None:
        building.acquire()
    try:
        with _cache_lock:
            current = _cache.get(workspace_id)
        if current is not None and current[0] == stamp:  # built while this one waited
            return current[1]
        index = _load_or_build(session, settings, workspace_id, stamp, held)
        with _cache_lock:
            _cache[workspace_id] = (stamp, index)
        return index
    finally:
        building.release()


def _load_or_build(
    session: Session,
    settings: Settings,
    workspace_id: int,
    stamp: str,
    held: tuple[str, KnowledgeIndex] | None,
) -> KnowledgeIndex:
    folder = saved_index(settings, workspace_id, stamp)
    try:
        return KnowledgeIndex.load(folder)
    except _UNREADABLE:
        pass
    known = held[1].meaning.by_text() if held is not None else _saved_meanings(folder)
    index = KnowledgeIndex(published_docs(session, workspace_id=workspace_id), known)
    scratch = folder.with_name(f".{stamp}.{uuid.uuid4().hex}")
    index.save(scratch)
    _put(scratch, folder)
    if _stamp(session, workspace_id) == stamp:  # not when a newer build may be saved already
        for old in folder.parent.iterdir():  # earlier stamps' and analyses' indexes
            if old != folder and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
    return index


def _put(scratch: Path, folder: Path) -> None:
    """Move a saved index into place. One already there that loads stays (another process
    saved the same articles first); one that does not load (damaged) is replaced."""
    try:
        scratch.rename(folder)
        return
    except OSError:
        pass
    try:
        KnowledgeIndex.load(folder)
    except _UNREADABLE:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            scratch.rename(folder)
            return
    shutil.rmtree(scratch, ignore_errors=True)
