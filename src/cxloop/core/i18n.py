"""Korean and English (and any language with a catalog): the messages, and the formatting of
numbers, money and times.

Messages are gettext catalogs, one per language, kept as translation tools expect them
(Poedit, Weblate: "monolingual gettext", English as the base language)::

    cxloop/locales/ko/LC_MESSAGES/cxloop.po   # msgid "customers.title"  msgstr "고객"
    cxloop/locales/en/LC_MESSAGES/cxloop.po   # msgid "customers.title"  msgstr "Customers"

A message id is a stable key (``area.name``); the text, with ``{name}`` placeholders, is the
translation. Plurals use ``msgid_plural`` and the language's ``Plural-Forms``. Babel compiles
each ``.po`` into the ``.mo`` beside it, which is what is read here (``pybabel compile -d
src/cxloop/locales -D cxloop``; a test fails when the two differ), and extracts the keys the
code and templates use (``pybabel extract -F babel.cfg``; see the README). A language is
offered as soon as its catalog is there: a third language is a new catalog, not a change to
the code. An unknown key renders as the key itself, an untranslated message in English.
"""

from __future__ import annotations

import gettext as stdlib_gettext
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import cache, partial
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import read_mo

from cxloop.core.timeutil import as_utc

DOMAIN = "cxloop"
DEFAULT_LOCALE = "ko"
BASE_LOCALE = "en"  # the language every message is written in first
CATALOG_DIR = Path(__file__).resolve().parent.parent / "locales"

# Date-time patterns (CLDR syntax) that read naturally in each language, without seconds;
# other languages take their own medium format.
_DATETIME = {"ko": "yyyy. M. d. a h:mm", "en": "MMM d, yyyy, h:mm a"}


def _discover_locales() -> tuple[str, ...]:
    found = sorted(
        path.parent.parent.name for path in CATALOG_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")
    )
    first = [lang for lang in (DEFAULT_LOCALE, BASE_LOCALE) if lang in found]
    return (*first, *(lang for lang in found if lang not in first))


# The languages with a catalog: Korean first (the default), then English, then the others.
LOCALES: tuple[str, ...] = _discover_locales()


class _Params(dict[str, Any]):
    """Format parameters that leave an unknown ``{placeholder}`` visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class _Language:
    """One language's compiled catalog: its messages and how it picks a plural form."""

    def __init__(self, locale: str) -> None:
        path = CATALOG_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        with path.open("rb") as handle:
            compiled = read_mo(handle)
        self.singular: dict[str, str] = {}
        self.plural: dict[str, tuple[str, ...]] = {}
        for message in compiled:
            key, text = message.id, message.string
            if not key:
                continue  # the header
            if isinstance(key, tuple | list):
                forms = text if isinstance(text, tuple | list) else (text or "",)
                self.plural[key[0]] = tuple(form for form in forms if form)
            elif isinstance(text, str) and text:
                self.singular[key] = text
        self.plural_index: Callable[[int], int] = stdlib_gettext.c2py(compiled.plural_expr)


@cache
def _language(locale: str) -> _Language | None:
    return _Language(locale) if locale in LOCALES else None


@cache
def catalog() -> dict[str, dict[str, str]]:
    """Every message: key → {language: text}, a plural one in its first form (for the
    catalogs' own checks)."""
    messages: dict[str, dict[str, str]] = {}
    for locale in LOCALES:
        language = _language(locale)
        assert language is not None
        for key, text in language.singular.items():
            messages.setdefault(key, {})[locale] = text
        for key, forms in language.plural.items():
            if forms:
                messages.setdefault(key, {})[locale] = forms[0]
    return messages


def lookup(locale: str, key: str) -> str | None:
    """The message ``key`` in ``locale``, else in English, else None (for names the catalogs
    may ship, such as a help category's)."""
    for lang in (locale, BASE_LOCALE):
        language = _language(lang)
        if language is not None and (text := language.singular.get(key)) is not None:
            return text
    return None


def has_message(key: str) -> bool:
    """Whether the base language's catalog holds ``key`` (singular or plural)."""
    language = _language(BASE_LOCALE)
    return language is not None and (key in language.singular or key in language.plural)


def reload() -> None:
    """Read the catalogs again (after they were compiled anew)."""
    global LOCALES
    _language.cache_clear()
    catalog.cache_clear()
    LOCALES = _discover_locales()


def normalise_locale(value: str | None) -> str:
    """``ko-KR``, ``en_US`` … → one of LOCALES (Korean when unknown)."""
    if value:
        base = value.replace("_", "-").split("-", 1)[0].strip().lower()
        if base in LOCALES:
            return base
    return DEFAULT_LOCALE


def negotiate_locale(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The best of LOCALES for an Accept-Language header (quality values respected)."""
    best, best_q = default, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().replace("_", "-").split("-", 1)[0].lower()
        if base not in LOCALES:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = base, q
    return best


def translator(locale: str) -> Callable[..., str]:
    """``gettext`` for one locale: what pages call ``t(key, **params)``."""
    return partial(gettext, locale)


def gettext(locale: str, key: str, **params: Any) -> str:
    """The message ``key`` in ``locale`` (English, then the key, when missing). A plural
    message given an integer ``count`` takes the form the language uses for it."""
    count = params.get("count")
    if isinstance(count, int) and not isinstance(count, bool):
        for lang in (locale, BASE_LOCALE):
            language = _language(lang)
            forms = language.plural.get(key) if language is not None else None
            if language is not None and forms:
                form = forms[min(language.plural_index(abs(count)), len(forms) - 1)]
                return form.format_map(_Params(params))
    text = lookup(locale, key)
    if text is None:
        others = _plural_forms(locale, key)
        if not others:
            return key
        text = others[-1]
    return text.format_map(_Params(params)) if params else text


def ngettext(locale: str, key: str, count: int, **params: Any) -> str:
    """The plural message ``key`` for ``count`` (``{count}`` filled in)."""
    return gettext(locale, key, count=count, **params)


def _plural_forms(locale: str, key: str) -> tuple[str, ...]:
    for lang in (locale, BASE_LOCALE):
        language = _language(lang)
        if language is not None and language.plural.get(key):
            return language.plural[key]
    return ()


def language_name(locale: str) -> str:
    """A language's own name for itself (한국어, English, 日本語 …)."""
    try:
        language = Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        return locale
    return language.get_display_name(language) or locale


@cache
def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse({"ko": "ko_KR", "en": "en_US"}.get(locale, locale))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("ko_KR")


# What a formatter raises for a value Babel cannot shape (a NaN amount, a date past the
# calendar's end in the reader's zone): the value is then shown plainly instead.
_UNSHAPEABLE = (ArithmeticError, ValueError, TypeError)


def format_number(value: int | float | Decimal, locale: str) -> str:
    try:
        return babel_numbers.format_decimal(value, locale=_babel_locale(locale))
    except _UNSHAPEABLE:
        return str(value)


def format_money(amount: int | float | Decimal, currency: str, locale: str) -> str:
    """Money with the currency's own minor unit (KRW has none: ₩12,900)."""
    try:
        return babel_numbers.format_currency(amount, currency.upper(), locale=_babel_locale(locale))
    except _UNSHAPEABLE:
        return f"{amount} {currency}".strip()


def in_zone(value: datetime, tz: tzinfo | None) -> datetime:
    """``value`` (naive: UTC) in ``tz``; in UTC when ``tz`` would take it past the calendar."""
    moment = as_utc(value)
    if tz is None:
        return moment
    try:
        return moment.astimezone(tz)
    except _UNSHAPEABLE:
        return moment


def format_datetime(value: datetime, locale: str, tz: tzinfo) -> str:
    """A stored time in the reader's language and zone; never fails on any stored value
    (year 1 or 9999, naive or aware)."""
    pattern = _DATETIME.get(locale, "medium")
    local = in_zone(value, tz)
    try:
        return babel_dates.format_datetime(
            local, pattern, tzinfo=local.tzinfo, locale=_babel_locale(locale)
        )
    except _UNSHAPEABLE:
        return local.isoformat(sep=" ", timespec="minutes")


def format_date(value: datetime | date, locale: str, tz: tzinfo | None = None) -> str:
    if isinstance(value, datetime):
        value = in_zone(value, tz).date()
    try:
        return babel_dates.format_date(value, "medium", locale=_babel_locale(locale))
    except _UNSHAPEABLE:
        return value.isoformat()


def format_month(value: date, locale: str) -> str:
    try:
        return babel_dates.format_date(value, "MMM", locale=_babel_locale(locale))
    except _UNSHAPEABLE:
        return f"{value.month}"
