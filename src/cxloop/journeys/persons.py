"""The workspace's events joined to the profiles that did them, the ground of the journey
queries that count persons (a merged profile counts as its survivor: ``survivor_id``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from cxloop.journeys.attempts import STREAM_TYPES
from cxloop.models import Customer, Event


def person_events(workspace_id: int, *, stream_only: bool = False) -> Select[Any]:
    """A select of no columns yet over the workspace's events and their customers; with
    ``stream_only``, only what persons did (track, page and screen events)."""
    scope = [Event.workspace_id == workspace_id]
    if stream_only:
        scope.append(Event.type.in_(STREAM_TYPES))
    return (
        select().select_from(Event).join(Customer, Customer.id == Event.customer_id).where(*scope)
    )
