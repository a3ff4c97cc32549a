"""Where customer texts come from: a registry of text sources, one per domain that holds texts.

``text`` does not know the tables of other domains (feedback uses text, not the other way
round), so each domain registers a provider at import, as bus consumers do: it lists its texts
in id order for reanalysis, fetches texts by id for the bus consumers and for training, and may
offer weak sentiment labels (a survey score says how the customer felt).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Select
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.text.lang import Language


@dataclass(frozen=True)
class SourceText:
    """One text of a source: what the customer wrote, who and when."""

    source_id: int
    text: str
    occurred_at: datetime
    customer_id: int | None = None
    lang: Language | None = None  # a hint (the respondent's locale); detected when None


@dataclass(frozen=True)
class WeakLabel:
    """A sentiment guessed from something other than the text (a low NPS: negative)."""

    source_id: int
    text: str
    label: str  # positive / negative
    lang: Language | None = None


class TextSource(Protocol):
    """A domain's texts, as the text service reads them."""

    name: str

    def count(self, session: Session, *, workspace_id: int, since: datetime | None) -> int:
        """How many texts :meth:`batch` would list from the start."""

    def batch(
        self,
        session: Session,
        *,
        workspace_id: int,
        after_id: int,
        limit: int,
        since: datetime | None,
    ) -> list[SourceText]:
        """Up to ``limit`` texts with an id above ``after_id``, in id order (no empty ones)."""

    def fetch(self, session: Session, *, workspace_id: int, ids: Sequence[int]) -> list[SourceText]:
        """The texts of these ids that exist in the workspace and are not empty."""


@runtime_checkable
class WeakLabelSource(Protocol):
    """A source that can also guess labels for training (optional)."""

    def weak_labels(self, session: Session, *, workspace_id: int, limit: int) -> list[WeakLabel]:
        """Up to ``limit`` texts with a guessed sentiment, newest first."""


@runtime_checkable
class TouchpointSource(Protocol):
    """A source that knows where in the journey each text was written (optional): the emotion
    curve reads it per touchpoint."""

    def touchpoints(self, *, workspace_id: int) -> Select[Any]:
        """The workspace's texts that have a touchpoint, as rows (``source_id``,
        ``touchpoint``): a statement the emotion curve joins and groups in the database."""


sources: dict[str, TextSource] = {}


def register(source: TextSource) -> TextSource:
    """Make a source known (idempotent: the same name replaces the earlier one)."""
    sources[source.name] = source
    return source


def get_source(name: str) -> TextSource:
    """The registered source of that name, or a 422 naming the known ones."""
    source = sources.get(name)
    if source is None:
        known = ", ".join(sorted(sources)) or "none"
        raise ValidationFailed(
            f"Unknown text source {name!r} (known: {known}).",
            errors=[{"field": "source_type", "message": f"unknown source; known: {known}"}],
        )
    return source
