"""The message catalog: every key the templates and the web code use exists in Korean and
English, placeholders agree between the languages, and formatting follows each language."""

from __future__ import annotations

import io
import re
import shutil
import string
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

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


# What a message key looks like (area.name …), to tell keys from other strings Babel finds.
KEY = re.compile(r"[a-z][a-z0-9_]*(?:\.[A-Za-z0-9_]+)+")


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


def test_every_entry_has_every_language_and_the_same_placeholders() -> None:
    problems = []
    for key, texts in i18n.catalog().items():
        if set(texts) != set(i18n.LOCALES) or not all(t.strip() for t in texts.values()):
            problems.append(f"{key}: languages {sorted(texts)}")
            continue
        for lang, text in texts.items():
            if placeholders(text) != placeholders(texts[i18n.BASE_LOCALE]):
                problems.append(
                    f"{key}: {lang} {placeholders(text)} en {placeholders(texts['en'])}"
                )
    assert problems == []


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_each_compiled_catalog_is_its_po_file_compiled(lang: str) -> None:
    """The .mo read at run time is what `pybabel compile` makes of the .po beside it."""
    folder = i18n.CATALOG_DIR / lang / "LC_MESSAGES"
    with (folder / "cxloop.po").open("rb") as handle:
        source = read_po(handle, locale=lang, domain="cxloop")
    compiled = io.BytesIO()
    write_mo(compiled, source)
    assert compiled.getvalue() == (folder / "cxloop.mo").read_bytes(), (
        f"{lang}: run `pybabel compile -d src/cxloop/locales -D cxloop`"
    )


def test_babel_extracts_the_keys_the_code_and_templates_use() -> None:
    """`pybabel extract -F babel.cfg -k t -k gettext:2` finds the literal keys, and each of
    them is in the catalogs."""
    root = Path(__file__).resolve().parents[2]
    with (root / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "t": None, "gettext": (2,)}
    found = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(root), method_map, options_map, keywords=keywords
        )
    }
    keys = {m for m in found if KEY.fullmatch(m)}
    assert {"customer.unnamed", "timeline.title", "customer.activity_total"} <= keys
    assert len(keys) > 1000
    assert sorted(k for k in keys if not (i18n.has_message(k) or two_keys(k))) == []


def two_keys(found: str) -> bool:
    """Babel joins the two strings of ``t("a.b" if c else "a.c")`` into one: both known."""
    return any(
        i18n.has_message(found[:cut]) and i18n.has_message(found[cut:])
        for cut in range(1, len(found))
    )


def test_plural_messages_take_the_form_for_their_count() -> None:
    assert [i18n.gettext("en", "timeline.items", count=n) for n in (1, 2)] == ["1 item", "2 items"]
    assert [i18n.gettext("ko", "timeline.items", count=n) for n in (1, 2)] == [
        "상품 1개",
        "상품 2개",
    ]
    assert i18n.ngettext("en", "display_names.saved", 1) == "1 name changed."


def test_a_new_catalog_is_a_new_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A third language needs its catalog only: copy the English one, translate, compile."""
    for lang in ("ko", "en"):
        shutil.copytree(i18n.CATALOG_DIR / lang, tmp_path / lang)
    with (i18n.CATALOG_DIR / "en" / "LC_MESSAGES" / "cxloop.po").open("rb") as handle:
        japanese = read_po(handle, locale="ja", domain="cxloop")
    japanese["customer.unnamed"].string = "名前のないお客様 #{id}"
    (tmp_path / "ja" / "LC_MESSAGES").mkdir(parents=True)
    with (tmp_path / "ja" / "LC_MESSAGES" / "cxloop.mo").open("wb") as handle:
        write_mo(handle, japanese)
    monkeypatch.setattr(i18n, "CATALOG_DIR", tmp_path)
    i18n.reload()
    try:
        assert i18n.LOCALES == ("ko", "en", "ja")
        assert i18n.gettext("ja", "customer.unnamed", id=7) == "名前のないお客様 #7"
        assert i18n.gettext("ja", "timeline.title") == "Timeline"  # not translated yet
        assert [i18n.language_name(lang) for lang in i18n.LOCALES] == [
            "한국어",
            "English",
            "日本語",
        ]
    finally:
        monkeypatch.undo()
        i18n.reload()
    assert i18n.LOCALES == ("ko", "en")


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
