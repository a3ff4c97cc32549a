"""Rendering pages: the Jinja2 environment (autoescaped), per-request formatting in the user's
language and the workspace's time zone, links that keep the current filters, and the
security headers every page carries."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from cxloop.core import i18n
from cxloop.core.timeutil import KST
from cxloop.profiles.contact import display_phone
from cxloop.web.labels import page_names
from cxloop.web.session import CSRF_FIELD, WebContext, csrf_token, pop_flashes, request_locale

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    # gettext in templates: ``t('key', name=…)`` (or ``_``/``gettext``), ``{% trans count=n
    # %}key{% endtrans %}``; the callables come with each render, in the reader's language.
    extensions=["jinja2.ext.i18n"],
)
environment.newstyle_gettext = True  # type: ignore[attr-defined]  # {% trans %} passes names
environment.globals["language_name"] = i18n.language_name

# Pages hold personal data: never cached, never framed, scripts and styles only from here.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else KST
    except (ZoneInfoNotFoundError, ValueError):
        return KST


@dataclass(frozen=True)
class Formatter:
    """Numbers, money and times in one language and time zone (Babel underneath)."""

    locale: str
    tz: ZoneInfo

    def number(self, value: int | float | Decimal | None) -> str:
        return "" if value is None else i18n.format_number(value, self.locale)

    def money(self, amount: Decimal | int | float | None, currency: str | None = "KRW") -> str:
        if amount is None:
            return ""
        return i18n.format_money(amount, currency or "KRW", self.locale)

    def datetime(self, value: dt.datetime | None) -> str:
        return "" if value is None else i18n.format_datetime(value, self.locale, self.tz)

    def date(self, value: dt.datetime | dt.date | None) -> str:
        return "" if value is None else i18n.format_date(value, self.locale, self.tz)

    def iso(self, value: dt.datetime | None) -> str:
        return "" if value is None else i18n.in_zone(value, self.tz).isoformat(timespec="seconds")

    def phone(self, e164: str | None) -> str:
        return display_phone(e164)

    def json(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def here(request: Request, **changes: Any) -> str:
    """The current path with some query parameters changed (None or "" drops one)."""
    params: dict[str, str] = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return f"{request.url.path}?{query}" if query else request.url.path


def link(path: str, **params: Any) -> str:
    """``path`` with the non-empty ``params`` as its query string."""
    query = urlencode({k: str(v) for k, v in params.items() if v is not None and v != ""})
    return f"{path}?{query}" if query else path


def current_path(request: Request) -> str:
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def customer_label(customer: Any, t: Callable[..., str]) -> str:
    """What a person reads for a customer: their name, else their address or number, else
    "이름 없는 고객 #12"."""
    return (
        customer.display_name
        or customer.email
        or customer.phone
        or t("customer.unnamed", id=customer.id)
    )


def _escaped(value: Any) -> Any:
    return value if isinstance(value, int | float | Decimal) else escape(value)


def display_names(page: WebContext | None, locale: str) -> Callable[[str, object], str]:
    """``name_of(kind, code)`` for a page: the workspace's word for one of its codes in the
    reader's language (the workspace's names are read once a request, when first asked)."""

    def display_name(kind: str, key: object) -> str:
        return page_names(page).name(kind, "" if key is None else str(key), locale)

    return display_name


def render(
    request: Request,
    template: str,
    *,
    page: WebContext | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """Render ``template`` for this request, in the user's language and workspace time zone."""
    locale = page.locale if page is not None else request_locale(request)
    formatter = Formatter(locale, zone(page.workspace.timezone if page else None))

    t = i18n.translator(locale)

    def marked(key: str, **params: Any) -> Markup:
        # What {% trans %} prints as it is: the catalog's text, with the values escaped.
        return Markup(i18n.gettext(locale, key, **{k: _escaped(v) for k, v in params.items()}))  # noqa: S704

    def nmarked(key: str, _plural: str, num: int, **params: Any) -> Markup:
        return marked(key, **{"count": num, **params})

    html = environment.get_template(template).render(
        request=request,
        page=page,
        locale=locale,
        locales=i18n.LOCALES,
        t=t,
        gettext=marked,
        ngettext=nmarked,
        fmt=formatter,
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token(request),
        flashes=pop_flashes(request, locale),
        here=lambda **changes: here(request, **changes),
        link=link,
        customer_label=lambda customer: customer_label(customer, t),
        name_of=display_names(page, locale),
        current_path=current_path(request),
        **values,
    )
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def redirect(url: str) -> RedirectResponse:
    """See-other: after a form the browser GETs the next page (no resubmission on reload)."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
