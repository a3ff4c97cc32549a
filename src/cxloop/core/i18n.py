"""Korean and English: the message catalog and the formatting of numbers, money and times.

Messages live in ``cxloop/locales/*.toml``, one file per area, each entry holding both
languages side by side so a missing translation is easy to see::

    [customers]
    title = { ko = "고객", en = "Customers" }

Placeholders use ``{name}``. An unknown key renders as the key itself (and a test checks that
every key the code and templates use exists in both languages).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers

from cxloop.core.timeutil import as_utc

LOCALES: tuple[str, ...] = ("ko", "en")
DEFAULT_LOCALE = "ko"
CATALOG_DIR = Path(__file__).resolve().parent.parent / "locales"

# Date-time patterns (CLDR syntax) that read naturally in each language, without seconds.
_DATETIME = {"ko": "yyyy. M. d. a h:mm", "en": "MMM d, yyyy, h:mm a"}


class _Params(dict[str, Any]):
    """Format parameters that leave an unknown ``{placeholder}`` visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _flatten(prefix: str, table: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, str]]]:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if not isinstance(value, Mapping):
            raise ValueError(f"catalog entry {name} must be a table of languages")
        if value and all(isinstance(v, str) for v in value.values()):
            yield name, dict(value)
        else:
            yield from _flatten(name, value)


@cache
def catalog() -> dict[str, dict[str, str]]:
    """Every message: key → {language: text}, read once from the catalog files."""
    messages: dict[str, dict[str, str]] = {}
    for path in sorted(CATALOG_DIR.glob("*.toml")):
        with path.open("rb") as handle:
            for key, texts in _flatten("", tomllib.load(handle)):
                if key in messages:
                    raise ValueError(f"catalog key {key} is defined twice ({path.name})")
                messages[key] = texts
    return messages


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


def gettext(locale: str, key: str, **params: Any) -> str:
    """The message ``key`` in ``locale`` (English, then the key, when missing)."""
    texts = catalog().get(key)
    if texts is None:
        return key
    text = texts.get(locale) or texts.get("en") or key
    return text.format_map(_Params(params)) if params else text


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
    pattern = _DATETIME.get(locale, _DATETIME["en"])
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
