"""The registry of cxloop's domains: what each one plugs into the others.

The app, the CLI and the worker install this one list, so every process runs the same bus
consumers, jobs and data-subject hooks; adding a domain is one entry here, never an import made
for its side effects. Entries name their objects as ``"module:attribute"`` (or a module, for
jobs) so that reading the list imports nothing: :func:`install` imports what it names.

What an entry may give:
- ``routers``: FastAPI routers of the REST and ingestion APIs;
- ``pages``: FastAPI routers of the domain's web UI pages (``cxloop.web.<domain>``), included by
  the web app in this order after its own sign-in pages;
- ``jobs``: modules whose Huey tasks (periodic ones included) the worker must know;
- ``consumers``: bus consumers (``events.bus``), each reading the log from its checkpoint;
- ``merge_hooks``, ``export_hooks``, ``erase_hooks``: what the domain does when profiles merge,
  or a customer's data is exported or erased (``profiles``);
- ``text_sources``: texts the domain gives the ``text`` library to analyse;
- ``invitation_mailers``: who mails a member invitation (``accounts`` sits below ``channels``);
- ``spike_listeners``: who tells people of a text category's spike (``text`` is a library).
- ``spools``: what handles the bodies a webhook accepted onto the disk (``core.spool``);
- ``preloads``: what a process running the jobs and the bus loads before it starts them (a
  model whose first load would hold the interpreter lock for a second, in the middle of the
  other requests of the process);
- ``cli``: the domain's ``cxloop`` command groups (Typer apps), added by the root command in
  this order; a group named like an earlier one (``import``) adds its commands to it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI reads the registry; its start must not wait for FastAPI and Huey
    from fastapi import APIRouter

    from cxloop.core.background import Background, Pump
    from cxloop.core.db import Database
    from cxloop.core.settings import Settings


@dataclass(frozen=True)
class Domain:
    name: str
    routers: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    merge_hooks: tuple[str, ...] = ()
    export_hooks: tuple[str, ...] = ()
    erase_hooks: tuple[str, ...] = ()
    text_sources: tuple[str, ...] = ()
    invitation_mailers: tuple[str, ...] = ()
    spike_listeners: tuple[str, ...] = ()
    spools: tuple[str, ...] = ()
    preloads: tuple[str, ...] = ()
    cli: tuple[str, ...] = ()


# In floor order (DESIGN.md): a domain's hooks run after those of the domains below it.
DOMAINS: tuple[Domain, ...] = (
    Domain(
        "accounts",
        routers=("cxloop.accounts.api:router",),
        pages=(
            "cxloop.web.accounts.account:router",  # the user's account; accepting an invitation
            "cxloop.web.accounts.admin:router",
            "cxloop.web.accounts.names:router",  # display names of the workspace's codes
        ),
        cli=(
            "cxloop.cli.accounts:workspace_app",
            "cxloop.cli.accounts:user_app",
            "cxloop.cli.accounts:key_app",
        ),
    ),
    Domain(
        "profiles",
        routers=("cxloop.profiles.api:router",),
        pages=("cxloop.web.profiles.customers:router",),
        jobs=("cxloop.profiles.tasks",),
        cli=("cxloop.cli.profiles:export_app", "cxloop.cli.profiles:erase_app"),
    ),
    Domain(
        "events",
        routers=("cxloop.events.api:router", "cxloop.events.api:rest_router"),
        jobs=("cxloop.events.tasks",),
        consumers=("cxloop.events.consumers:profile_activity",),
        merge_hooks=("cxloop.events.hooks:move_on_merge",),
        export_hooks=("cxloop.events.hooks:export_events_and_orders",),
        erase_hooks=("cxloop.events.hooks:scrub_events_and_orders",),
        cli=("cxloop.cli.events:import_app", "cxloop.cli.events:bus_app"),
    ),
    Domain(
        "channels",
        routers=("cxloop.channels.outbox_api:router", "cxloop.channels.hooks_api:router"),
        pages=("cxloop.web.channels.outbox:router",),  # settings: what was sent, retry and cancel
        jobs=("cxloop.channels.tasks",),
        erase_hooks=("cxloop.channels.hooks:scrub_outbox",),
        invitation_mailers=("cxloop.channels.invitation_mail:mail_invitation",),
        spools=(
            "cxloop.channels.provider_hooks:solapi_spool",
            "cxloop.channels.provider_hooks:nhn_alimtalk_spool",
        ),
        cli=("cxloop.cli.channels:outbox_app",),
    ),
    Domain(
        "text",
        routers=(
            "cxloop.text.api:router",
            "cxloop.text.store.api:router",
            "cxloop.text.taxonomy.api:router",
            "cxloop.text.registry.api:router",
            "cxloop.text.training.api:router",
            "cxloop.text.analytics.api:router",
        ),
        pages=(
            "cxloop.web.text.admin:router",  # tags' corrections, taxonomy, models
            "cxloop.web.text.analytics:router",  # text analytics: trends, themes, verbatims
        ),
        jobs=("cxloop.text.training.tasks", "cxloop.text.analytics.tasks"),
        merge_hooks=("cxloop.text.store.service:move_analyses_on_merge",),
        export_hooks=("cxloop.text.store.service:export_analyses",),
        erase_hooks=("cxloop.text.store.service:scrub_analyses",),
        preloads=("cxloop.text.pipeline:warm",),
        cli=("cxloop.cli.text:text_app",),
    ),
    Domain(
        "notifications",
        spike_listeners=("cxloop.notifications.service:tell_text_spike",),
    ),
    Domain(
        "feedback",
        routers=(
            "cxloop.feedback.surveys.api:router",
            "cxloop.feedback.responses.api:router",
            "cxloop.feedback.followups.api:router",
            "cxloop.feedback.distribution.api:router",
            "cxloop.feedback.improvements.api:router",
        ),
        pages=(
            "cxloop.web.feedback.loop:router",
            "cxloop.web.feedback.respond.pages:router",  # public: customers answering surveys
            "cxloop.web.feedback.surveys.listing:router",
            "cxloop.web.feedback.surveys.builder:router",
            "cxloop.web.feedback.surveys.distribution:router",
            "cxloop.web.feedback.surveys.responses:router",
            "cxloop.web.feedback.widget:router",  # public: the survey widget, by write key
        ),
        jobs=("cxloop.feedback.distribution.tasks", "cxloop.feedback.followups.tasks"),
        consumers=(
            "cxloop.feedback.distribution.triggers:survey_triggers",
            "cxloop.feedback.texts:survey_comment_analysis",
        ),
        merge_hooks=("cxloop.feedback.hooks:move_feedback_on_merge",),
        export_hooks=("cxloop.feedback.hooks:export_feedback",),
        erase_hooks=("cxloop.feedback.hooks:scrub_feedback",),
        text_sources=("cxloop.feedback.texts:survey_texts",),
        cli=("cxloop.cli.feedback:import_app",),
    ),
    Domain(
        "care",
        routers=(
            "cxloop.care.api:router",
            "cxloop.care.api:hooks",
            "cxloop.care.routing_api:router",  # automatic assignment; agents' presence
            "cxloop.care.replies_api:router",
            "cxloop.care.mailbox_api:router",
            "cxloop.care.hooks_api:router",  # TalkTalk and social webhooks, imports, calls
            "cxloop.care.metrics_api:router",  # metrics; each inbox's CSAT setting
            "cxloop.care.followers_api:router",  # who follows a conversation
        ),
        jobs=("cxloop.care.tasks", "cxloop.care.intake_tasks", "cxloop.care.attachment_tasks"),
        consumers=("cxloop.care.texts:conversation_message_analysis",),
        spools=("cxloop.care.inbound_mail:mail_spool",),
        merge_hooks=("cxloop.care.hooks:move_conversations_on_merge",),
        export_hooks=("cxloop.care.hooks:export_conversations",),
        erase_hooks=(
            "cxloop.care.hooks:scrub_conversations",
            "cxloop.care.webhooks:forget_channel_contacts",
        ),
        text_sources=("cxloop.care.texts:conversation_texts",),
        cli=("cxloop.cli.care:care_app", "cxloop.cli.care_metrics:metrics_app"),
        pages=(
            "cxloop.web.care.inbox:router",  # agents: the three-pane inbox
            "cxloop.web.care.inboxes:router",  # settings: inboxes and their webhooks
            "cxloop.web.care.routing:router",  # settings: automatic assignment
            "cxloop.web.care.routing:presence_router",  # agents: available or away
            "cxloop.web.care.sla_settings:router",  # settings: business hours and SLA targets
            "cxloop.web.care.metrics:router",  # team leads: care metrics
            "cxloop.web.care.calls:router",  # agents: a call logged on the customer's page
            "cxloop.web.care.mailbox:router",  # settings: an inbox's IMAP mailbox
            "cxloop.web.care.live:router",  # agents: live updates of the inbox (SSE)
            "cxloop.web.care.chat:router",  # visitors: the chat widget and its calls
            "cxloop.web.care.canned:router",  # settings: canned replies and macros
            "cxloop.web.care.composer:router",  # agents: canned replies, macros and files
            "cxloop.web.care.followers:router",  # agents: follow a conversation
        ),
    ),
    Domain(
        "help",
        routers=("cxloop.help.api:router", "cxloop.help.kakao:router"),
        jobs=("cxloop.help.tasks",),
        consumers=("cxloop.help.conversations:bot_answers",),  # the bot in the care inbox
        pages=(
            "cxloop.web.help.centre:router",  # public: the help centre, per workspace
            "cxloop.web.help.bot_settings:router",  # settings: the help bot and its test console
        ),
        cli=("cxloop.cli.help:kb_app", "cxloop.cli.help:bot_app"),
    ),
    Domain(
        "insights",
        routers=("cxloop.insights.api:router",),
        pages=(
            "cxloop.web.insights.segments:router",  # segments: list, builder, members, trend
            "cxloop.web.insights.reports:router",  # the RFM grid, clusters, the model registry
        ),
        jobs=("cxloop.insights.tasks",),
        consumers=("cxloop.insights.segments.freshness:segment_freshness",),
        merge_hooks=("cxloop.insights.segments.service:move_list_members_on_merge",),
        cli=("cxloop.cli.insights:insights_app",),
    ),
    Domain(
        "journeys",
        routers=("cxloop.journeys.map_api:router", "cxloop.journeys.api:router"),
        pages=(
            "cxloop.web.journeys.funnels:router",  # funnels, their persons, the compare test
            "cxloop.web.journeys.paths:router",  # paths and what funnel drop-offs did instead
            "cxloop.web.journeys.retention:router",
            "cxloop.web.journeys.map:router",  # the journey map (the journeys home) and exports
            "cxloop.web.journeys.map_drill:router",  # the persons and texts behind a map cell
            "cxloop.web.journeys.settings:router",  # stages and touchpoints
            "cxloop.web.journeys.saved:router",  # saved funnels, pinned to the dashboard
        ),
        cli=("cxloop.cli.journeys:journeys_app",),
    ),
    Domain(
        "loyalty",
        routers=("cxloop.loyalty.api:router", "cxloop.loyalty.rewards_api:router"),
        pages=(
            "cxloop.web.loyalty.widget:router",  # public: the member widget, by write key
            "cxloop.web.loyalty.dashboard:router",  # the program in figures
            "cxloop.web.loyalty.members:router",  # members by tier; points adjusted by hand
            "cxloop.web.loyalty.settings:router",  # settings: the program, tiers and rules
            "cxloop.web.loyalty.rewards_pages:router",  # settings: rewards, codes, archiving
            "cxloop.web.loyalty.goals_pages:router",  # settings: badges and challenges
        ),
        jobs=("cxloop.loyalty.tasks",),
        consumers=(
            "cxloop.loyalty.earning:loyalty_earning",  # points earned and taken back
            "cxloop.loyalty.goals:loyalty_goals",  # events counted towards badges, challenges
        ),
        merge_hooks=("cxloop.loyalty.hooks:move_loyalty_on_merge",),
        export_hooks=("cxloop.loyalty.hooks:export_loyalty",),
    ),
    Domain(
        "metrics",
        routers=("cxloop.metrics.api:router",),
        pages=("cxloop.web.metrics.dashboard:router",),
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
        from cxloop.core import spool
        from cxloop.events import bus
        from cxloop.profiles import identity
        from cxloop.profiles import service as profiles
        from cxloop.text import sources
        from cxloop.text.analytics import service as analytics

        plugs: list[tuple[str, list[Any]]] = [
            ("merge_hooks", identity.merge_hooks),
            ("export_hooks", profiles.export_hooks),
            ("erase_hooks", profiles.erase_hooks),
            ("invitation_mailers", invitations.invitation_mailers),
            ("spike_listeners", analytics.spike_listeners),
            ("spools", spool.handlers),
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


def preload() -> None:
    """Install the domains and load what their background work needs (``preloads``)."""
    install()
    for domain in DOMAINS:
        for reference in domain.preloads:
            resolve(reference)()


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
    from cxloop.core.background import Background

    return Background(
        database,
        settings,
        prepare=preload,
        start_bus=_start_bus,
        run_jobs=run_jobs,
        workers=workers,
    )


def routers() -> Iterator[APIRouter]:
    """Every domain's API routers, in floor order."""
    for domain in DOMAINS:
        for reference in domain.routers:
            yield resolve(reference)


def pages() -> Iterator[APIRouter]:
    """Every domain's web UI page routers, in floor order."""
    for domain in DOMAINS:
        for reference in domain.pages:
            yield resolve(reference)
