"""The registry of domains: every reference resolves, every module with jobs is listed, and
installing it plugs every hook in once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from cxloop import domains
from cxloop.accounts import invitations
from cxloop.events import bus
from cxloop.profiles import identity
from cxloop.profiles import service as profiles
from cxloop.text import sources
from cxloop.text.analytics import service as analytics

SRC = Path(domains.__file__).parent
REFERENCE_FIELDS = (
    "routers",
    "pages",
    "consumers",
    "merge_hooks",
    "export_hooks",
    "erase_hooks",
    "text_sources",
    "invitation_mailers",
    "spike_listeners",
    "preloads",
    "cli",
)


@pytest.mark.parametrize("domain", domains.DOMAINS, ids=lambda d: d.name)
def test_every_reference_resolves(domain: domains.Domain) -> None:
    for field in REFERENCE_FIELDS:
        for reference in getattr(domain, field):
            assert domains.resolve(reference) is not None, reference


def test_every_command_group_has_a_name() -> None:
    groups = [domains.resolve(r) for domain in domains.DOMAINS for r in domain.cli]
    assert groups and all(isinstance(g, typer.Typer) and g.info.name for g in groups)


def test_every_module_that_defines_jobs_is_listed() -> None:
    defining = {
        ".".join(("cxloop", *path.relative_to(SRC).with_suffix("").parts))
        for path in SRC.rglob("*.py")
        if re.search(r"@huey\.(periodic_)?task\(", path.read_text(encoding="utf-8"))
    }
    listed = {module for domain in domains.DOMAINS for module in domain.jobs}
    assert defining == listed


def test_every_page_router_is_listed_once() -> None:
    web = SRC / "web"
    defining = {
        ".".join(("cxloop", *path.relative_to(SRC).with_suffix("").parts)) + ":" + name
        for path in web.rglob("*.py")
        if path.name != "views.py"  # the web app's own sign-in pages, not a domain's
        for name in re.findall(r"^(\w+) = APIRouter\(", path.read_text(encoding="utf-8"), re.M)
    }
    listed = [page for domain in domains.DOMAINS for page in domain.pages]
    assert sorted(listed) == sorted(defining)


def test_installing_plugs_every_hook_in_once() -> None:
    domains.install()
    domains.install()
    plugged = {
        "consumers": list(bus.consumers.values()),
        "merge_hooks": identity.merge_hooks,
        "export_hooks": profiles.export_hooks,
        "erase_hooks": profiles.erase_hooks,
        "text_sources": list(sources.sources.values()),
        "invitation_mailers": invitations.invitation_mailers,
        "spike_listeners": analytics.spike_listeners,
    }
    for field, installed in plugged.items():
        wanted = [domains.resolve(r) for d in domains.DOMAINS for r in getattr(d, field)]
        assert all(installed.count(hook) == 1 for hook in wanted), field


def test_a_background_process_loads_the_text_models_before_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cxloop.text import pipeline, tokens

    # as in a process just started (what an earlier test loaded comes back afterwards)
    monkeypatch.setattr(pipeline, "_default", None)
    monkeypatch.setattr(tokens, "_kiwi", None)
    domains.preload()
    # The shipped model and Kiwi are loaded: the first message the bus analyses does not
    # stop the process for two seconds (the interpreter lock held while they load).
    assert pipeline._default is not None and tokens._kiwi is not None
