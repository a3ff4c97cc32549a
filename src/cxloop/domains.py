"""The registry of cxloop's domains: what each one plugs into the others.

The app, the CLI and the worker install this one list, so every process runs the same bus
consumers, jobs and data-subject hooks; adding a domain is one entry here, never an import made
for its side effects. Entries name their objects as ``"module:attribute"`` (or a module, for
jobs) so that reading the list imports nothing: :func:`install` imports what it names.

What an entry may give:
- ``routers``: FastAPI routers of the REST and ingestion APIs;
- ``jobs``: modules whose Huey tasks (periodic ones included) the worker must know;
- ``consumers``: bus consumers (``events.bus``), each reading the log from its checkpoint;
- ``merge_hooks``, ``export_hooks``, ``erase_hooks``: what the domain does when profiles merge,
  or a customer's data is exported or erased (``profiles``);
- ``text_sources``: texts the domain gives the ``text`` library to analyse;
- ``invitation_mailers``: who mails a member invitation (``accounts`` sits below ``channels``);
- ``spike_listeners``: who tells people of a text category's spike (``text`` is a library).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter

from cxloop.core.background import Background, Pump
from cxloop.core.db import Database
from cxloop.core.settings import Settings


@dataclass(frozen=True)
class Domain:
    name: str
    routers: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    merge_hooks: tuple[str, ...] = ()
    export_hooks: tuple[str, ...] = ()
    erase_hooks: tuple[str, ...] = ()
    text_sources: tuple[str, ...] = ()
    invitation_mailers: tuple[str, ...] = ()
    spike_listeners: tuple[str, ...] = ()


# In floor order (DESIGN.md): a domain's hooks run after those of the domains below it.
DOMAINS: tuple[Domain, ...] = (
    Domain(
        "accounts",
        routers=("cxloop.accounts.api:router",),
    ),
    Domain(
        "profiles",
        routers=("cxloop.profiles.api:router",),
        jobs=("cxloop.profiles.tasks",),
    ),
    Domain(
        "events",
        routers=("cxloop.events.api:router", "cxloop.events.api:rest_router"),
        jobs=("cxloop.events.tasks",),
        consumers=("cxloop.events.consumers:profile_activity",),
        merge_hooks=("cxloop.events.hooks:move_on_merge",),
        export_hooks=("cxloop.events.hooks:export_events_and_orders",),
        erase_hooks=("cxloop.events.hooks:scrub_events_and_orders",),
    ),
    Domain(
        "channels",
        routers=("cxloop.channels.outbox_api:router",),
        jobs=("cxloop.channels.tasks",),
        erase_hooks=("cxloop.channels.hooks:scrub_outbox",),
        invitation_mailers=("cxloop.channels.invitation_mail:mail_invitation",),
        spike_listeners=("cxloop.channels.notifications:tell_text_spike",),
    ),
    Domain(
        "text",
        routers=("cxloop.text.api:router", "cxloop.text.analytics_api:router"),
        jobs=("cxloop.text.tasks",),
        merge_hooks=("cxloop.text.service:move_analyses_on_merge",),
        export_hooks=("cxloop.text.service:export_analyses",),
        erase_hooks=("cxloop.text.service:scrub_analyses",),
    ),
    Domain(
        "feedback",
        routers=(
            "cxloop.feedback.api:router",
            "cxloop.feedback.followups_api:router",
            "cxloop.feedback.invitations_api:router",
            "cxloop.feedback.improvements_api:router",
        ),
        jobs=("cxloop.feedback.tasks", "cxloop.feedback.followup_tasks"),
        consumers=(
            "cxloop.feedback.triggers:survey_triggers",
            "cxloop.feedback.texts:survey_comment_analysis",
        ),
        merge_hooks=("cxloop.feedback.hooks:move_feedback_on_merge",),
        export_hooks=("cxloop.feedback.hooks:export_feedback",),
        erase_hooks=("cxloop.feedback.hooks:scrub_feedback",),
        text_sources=("cxloop.feedback.texts:survey_texts",),
    ),
    Domain(
        "metrics",
        routers=("cxloop.metrics.api:router",),
    ),
)


def resolve(reference: str) -> Any:
    """The object a ``"module:attribute"`` reference names."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


_lock = threading.Lock()
_installed = False


def install() -> None:
    """Plug every domain in: bus consumers, jobs, hooks, text sources. Safe to call again."""
    global _installed
    with _lock:
        if _installed:
            return
        from cxloop.accounts import invitations
        from cxloop.events import bus
        from cxloop.profiles import identity
        from cxloop.profiles import service as profiles
        from cxloop.text import analytics, sources

        plugs: list[tuple[str, list[Any]]] = [
            ("merge_hooks", identity.merge_hooks),
            ("export_hooks", profiles.export_hooks),
            ("erase_hooks", profiles.erase_hooks),
            ("invitation_mailers", invitations.invitation_mailers),
            ("spike_listeners", analytics.spike_listeners),
        ]
        for domain in DOMAINS:
            for module in domain.jobs:
                importlib.import_module(module)
            for reference in domain.consumers:
                bus.register(resolve(reference))
            for reference in domain.text_sources:
                sources.register(resolve(reference))
            for field_name, hooks in plugs:
                for reference in getattr(domain, field_name):
                    hook = resolve(reference)
                    if hook not in hooks:
                        hooks.append(hook)
        _installed = True


def _start_bus(database: Database, settings: Settings) -> Pump:
    from cxloop.events.bus import BusPump

    pump = BusPump(
        database, poll_seconds=settings.bus_poll_seconds, batch_size=settings.bus_batch_size
    )
    pump.start()
    return pump


def background(
    database: Database, settings: Settings, *, run_jobs: bool = True, workers: int = 2
) -> Background:
    """The job consumer and the bus pump of ``cxloop serve`` or ``cxloop worker``, with every
    domain's jobs and consumers."""
    return Background(
        database,
        settings,
        prepare=install,
        start_bus=_start_bus,
        run_jobs=run_jobs,
        workers=workers,
    )


def routers() -> Iterator[APIRouter]:
    """Every domain's API routers, in floor order."""
    for domain in DOMAINS:
        for reference in domain.routers:
            yield resolve(reference)
