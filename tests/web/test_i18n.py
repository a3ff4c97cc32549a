"""The message catalog: every key the templates and the web code use exists in Korean and
English, placeholders agree between the languages, and formatting follows each language."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cxloop.accounts.display_names import KINDS as DISPLAY_KINDS
from cxloop.accounts.service import KEY_KINDS
from cxloop.care import canned as care_canned
from cxloop.care import phone as care_phone
from cxloop.care import views as care_views
from cxloop.care.service import SLA_FILTERS
from cxloop.channels.outbox import PURPOSES as OUTBOX_PURPOSES
from cxloop.core import i18n
from cxloop.core.timeutil import KST
from cxloop.feedback.distribution.service import SKIP_REASONS
from cxloop.help import conversations as bot_conversations
from cxloop.help.settings import TONES
from cxloop.models.care import INBOX_CHANNELS, LISTED_STATUSES, PRIORITIES
from cxloop.models.care_replies import CANNED_LANGUAGES, MACRO_ASSIGN_MODES
from cxloop.models.channels import MESSAGE_CHANNELS, MESSAGE_STATUSES
from cxloop.models.customer import (
    CONSENT_CHANNELS,
    CONSENT_PURPOSES,
    IDENTITY_KINDS,
    LIFECYCLE_STAGES,
)
from cxloop.models.event import EVENT_TYPES
from cxloop.models.feedback import INVITATION_STATUSES
from cxloop.models.insights import MODEL_KINDS, RUN_STATUSES, RUN_TRIGGERS
from cxloop.models.loyalty import TIER_CHANGES
from cxloop.models.workspace import ROLES
from cxloop.profiles.service import SORTS
from cxloop.web import errors
from cxloop.web.accounts import admin
from cxloop.web.care import channel_inboxes
from cxloop.web.care import chat as chat_widget
from cxloop.web.care import inbox as care_inbox
from cxloop.web.insights import predictions as insights_predictions
from cxloop.web.insights import rule_form as segment_rule_form
from cxloop.web.loyalty import catalogue_form as loyalty_catalogue
from cxloop.web.loyalty import goals_pages as loyalty_goals
from cxloop.web.loyalty import members as loyalty_members
from cxloop.web.loyalty import program_form as loyalty_form
from cxloop.web.loyalty import rewards_pages as loyalty_rewards
from cxloop.web.profiles import customers
from cxloop.web.rendering import TEMPLATES

WEB = Path(errors.__file__).parent
SRC = WEB.parent


def audit_targets() -> tuple[str, ...]:
    """Every target_type an audit entry is written with (the audit page labels them)."""
    found = set()
    for path in SRC.rglob("*.py"):
        found |= set(re.findall(r"""target_type=["'](\w+)["']""", path.read_text("utf-8")))
    return tuple(sorted(found))


# The values a dynamic key (prefix ~ value [~ suffix]) can take in templates and code.
DYNAMIC: dict[str, tuple[str, ...]] = {
    "role.": ROLES,
    "role_help.": ROLES,
    "stage.": LIFECYCLE_STAGES,
    "purpose.": CONSENT_PURPOSES,
    "channel.": CONSENT_CHANNELS,
    "identity.": IDENTITY_KINDS,
    "identity_keys.": admin.IDENTITY_KEY_CHOICES,
    "event_type.": EVENT_TYPES,
    "sort.": SORTS,
    "consent.sources.": customers.CONSENT_SOURCES,
    "keys.kind_": KEY_KINDS,
    "settings.section.": tuple(name for name, _ in admin.SECTIONS),
    "display_names.kind.": DISPLAY_KINDS,
    "display_names.help.": DISPLAY_KINDS,
    "display_names.none.": DISPLAY_KINDS,
    "audit_target.": audit_targets(),
    "outbox.status.": MESSAGE_STATUSES,
    "outbox.channel.": MESSAGE_CHANNELS,
    "outbox.purpose.": OUTBOX_PURPOSES,
    "survey_invitations.status.": INVITATION_STATUSES,
    "survey_invitations.reason.": SKIP_REASONS,
    "follow_up_reason.": ("nps", "csat", "ces"),
    "inbox.view.": care_views.VIEW_NAMES,
    "canned.var.": care_canned.VARIABLES,
    "canned.lang.": CANNED_LANGUAGES,
    "macros.assign.": MACRO_ASSIGN_MODES[1:],
    "inbox.status.": LISTED_STATUSES,
    "inbox.set_status.": care_inbox.STATUS_ACTIONS,
    "inbox.priority.": PRIORITIES,
    "care_phone.outcome.": care_phone.OUTCOMES,
    "care_phone.summary_": care_phone.DIRECTIONS,
    "care_phone.direction_": care_phone.DIRECTIONS,
    "care_metrics.channels.": INBOX_CHANNELS,
    "inbox.filter.sla_": SLA_FILTERS,
    "chat.widget.": chat_widget.LABELS,
    "care_inbox_channel.": channel_inboxes.INBOX_CHOICES,
    "help_bot.reason.": bot_conversations.REASONS,
    "help_bot.say.": bot_conversations.LINES,
    "bot_settings.tone_": TONES,
    "insights.run_status.": RUN_STATUSES,
    "insights.run_trigger.": RUN_TRIGGERS,
    "insights.model.": MODEL_KINDS,
    "insights.why.": insights_predictions.REASON_KINDS,
    "insights.rule_err.": segment_rule_form.RULE_CODES,
    "insights.op.": segment_rule_form.VALUE_OPS,
    "loyalty_pages.kind.": loyalty_members.LEDGER_KINDS,
    "loyalty_pages.measure.": loyalty_form.MEASURES,
    "loyalty_pages.tier_change.": TIER_CHANGES,
    "loyalty_pages.kind_of_rule.": loyalty_form.KINDS,
    "loyalty_pages.field.": loyalty_form.FIELDS,
    "loyalty_pages.err.": loyalty_form.ERROR_TYPES,
    "loyalty_pages.rule_err.": tuple(key for _, key in loyalty_form.RULE_ERRORS),
    "loyalty_rewards_pages.field.": loyalty_catalogue.FIELDS,
    "loyalty_rewards_pages.err.": tuple(key for _, key in loyalty_catalogue.OWN_ERRORS),
    "loyalty_rewards_pages.kind.": loyalty_rewards.REWARD_KINDS,
    "loyalty_rewards_pages.code_source.": loyalty_rewards.CODE_SOURCES,
    "loyalty_rewards_pages.goal_kind.": loyalty_goals.GOAL_KINDS,
}

# t('key'), t('prefix.' ~ value) and t('prefix.' ~ value ~ 'suffix') in templates.
TEMPLATE_CALL = re.compile(
    r"""\bt\(\s*(['"])(?P<key>[^'"]+)\1"""
    r"""(?P<dynamic>\s*~\s*[\w.]+(?:\s*~\s*(['"])(?P<suffix>[^'"]*)\4)?)?"""
)
# Literal keys handed to the catalog in Python: page.t / page.flash / flash(request, kind, …) /
# gettext(locale, …); an f-string's text up to its first {field} is a dynamic prefix.
PYTHON_CALLS = [
    re.compile(r"""\.t\(\s*(f?)(["'])([^"']+)\2"""),
    re.compile(r"""\.flash\(\s*["']\w+["'],\s*(f?)(["'])([^"']+)\2"""),
    re.compile(r"""\bflash\(\s*\w+,\s*["']\w+["'],\s*(f?)(["'])([^"']+)\2"""),
    re.compile(r"""\bgettext\(\s*[\w.]+,\s*(f?)(["'])([^"']+)\2"""),
]


def used_keys() -> list[tuple[str, str]]:
    """(where, key) for every literal key; dynamic prefixes expand to all their values."""
    found: list[tuple[str, str]] = []

    def add(where: str, key: str, dynamic: bool, suffix: str = "") -> None:
        if not dynamic:
            found.append((where, key))
            return
        assert key in DYNAMIC, f"{where}: dynamic key prefix {key!r} has no known values"
        found.extend((where, key + value + suffix) for value in DYNAMIC[key])

    for path in sorted(TEMPLATES.rglob("*.html")):
        for match in TEMPLATE_CALL.finditer(path.read_text(encoding="utf-8")):
            add(path.name, match["key"], bool(match["dynamic"]), match["suffix"] or "")
    for path in sorted(WEB.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for pattern in PYTHON_CALLS:
            for match in pattern.finditer(source):
                is_f, key = bool(match.group(1)), match.group(3)
                if is_f and "{" in key:
                    add(path.name, key.split("{", 1)[0], True)
                else:
                    add(path.name, key, False)
    for pattern, key in errors._KNOWN:
        found.append((f"errors.py {pattern.pattern[:30]}", key))
    for code, key in errors._FIELD_CODES.items():
        found.append((f"errors.py field code {code}", key))
    for key in [*errors._TITLES.values(), "error.other"]:
        found.append(("errors.py titles", key))
    return found


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_key_scan_finds_the_pages_keys() -> None:
    # guards the scanner itself: a broken pattern would make the next test pass vacuously
    keys = {key for _, key in used_keys()}
    assert {
        "customer.unnamed",
        "consent.recorded",
        "erase.mismatch",
        "merge.done",
        "login.expired",
        "ws.switched",
        "timeline.title",
        "role.viewer",
        "identity.kakao",
        "consent.sources.paper_form",
        "err.no_customer",
        "error.404",
    } <= keys
    assert len(keys) > 150


def test_every_used_key_exists_in_korean_and_english() -> None:
    catalog = i18n.catalog()
    missing = sorted(
        {
            f"{where}: {key} ({lang})"
            for where, key in used_keys()
            for lang in i18n.LOCALES
            if not catalog.get(key, {}).get(lang)
        }
    )
    assert missing == []


def test_every_entry_has_both_languages_and_the_same_placeholders() -> None:
    problems = []
    for key, texts in i18n.catalog().items():
        if set(texts) != set(i18n.LOCALES) or not all(t.strip() for t in texts.values()):
            problems.append(f"{key}: languages {sorted(texts)}")
            continue
        if placeholders(texts["ko"]) != placeholders(texts["en"]):
            problems.append(f"{key}: ko {placeholders(texts['ko'])} en {placeholders(texts['en'])}")
    assert problems == []


def test_a_key_defined_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.toml").write_text('[x]\ny = { ko = "가", en = "a" }\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('[x]\ny = { ko = "나", en = "b" }\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "CATALOG_DIR", tmp_path)
    i18n.catalog.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"catalog key x\.y is defined twice \(b\.toml\)"):
            i18n.catalog()
    finally:
        monkeypatch.undo()
        i18n.catalog.cache_clear()
    assert i18n.catalog()["customer.name"] == {"ko": "이름", "en": "Name"}


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("ko", "이름 없는 고객 #7"),
        ("en", "Unnamed customer #7"),
        ("fr", "Unnamed customer #7"),
    ],
)
def test_messages_fill_their_placeholders(locale: str, expected: str) -> None:
    assert i18n.gettext(locale, "customer.unnamed", id=7) == expected


def test_an_unknown_key_shows_itself_and_a_missing_parameter_stays_visible() -> None:
    assert i18n.gettext("ko", "no.such.key") == "no.such.key"
    assert i18n.gettext("en", "customer.unnamed", other=1) == "Unnamed customer #{id}"


@pytest.mark.parametrize(
    ("locale", "money", "when"),
    [
        ("ko", "₩39,000", "2024. 3. 9. 오후 6:30"),
        ("en", "₩39,000", "Mar 9, 2024, 6:30 PM"),
    ],
)
def test_formatting_follows_the_language(locale: str, money: str, when: str) -> None:
    assert i18n.format_money(Decimal("39000.00"), "KRW", locale) == money
    moment = datetime(2024, 3, 9, 9, 30, tzinfo=UTC)  # 18:30 in Seoul
    assert i18n.format_datetime(moment, locale, KST).replace("\u202f", " ") == when
