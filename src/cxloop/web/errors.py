"""Service errors in the user's language: the services speak English; the pages translate the
messages they know and show any other one as it is."""

from __future__ import annotations

import re

from cxloop.core.errors import CxloopError
from cxloop.core.i18n import gettext

# (pattern of a service message, catalog key); named groups become the key's parameters.
_KNOWN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Wrong email or password\.$"), "err.login_failed"),
    (
        re.compile(r"^Too many failed logins; try again in (?P<minutes>\d+) minutes\.$"),
        "err.locked",
    ),
    (re.compile(r"^Password must be at least (?P<n>\d+) characters\.$"), "err.password_short"),
    (re.compile(r"^A workspace needs at least one owner"), "err.last_owner"),
    (re.compile(r"^A user with email (?P<email>\S+) already exists\.$"), "err.user_exists"),
    (re.compile(r"^Not a valid email address"), "err.email_invalid"),
    (re.compile(r"^That user is not a member of this workspace\.$"), "err.not_member"),
    (re.compile(r"^No customer with id (?P<id>\d+)\.$"), "err.no_customer"),
    (re.compile(r"^No key with id (?P<id>\d+) in this workspace\.$"), "err.no_key"),
    (re.compile(r"^The cursor is not one this server handed out\.$"), "err.bad_cursor"),
    (re.compile(r"^Your role \((?P<role>\w+)\) does not allow "), "err.forbidden"),
    (re.compile(r"^The form has expired"), "err.csrf"),
    (re.compile(r"^A profile cannot be merged into itself\.$"), "err.merge_self"),
    (re.compile(r"^One of these profiles was already merged"), "err.merge_done"),
    (re.compile(r"^A consent change needs its source"), "err.consent_source"),
    (re.compile(r"^Only an owner can"), "err.owner_only"),
    (re.compile(r"^The change conflicts with data saved at the same moment"), "err.conflict"),
]

_TITLES = {
    400: "error.400",
    401: "error.401",
    403: "error.403",
    404: "error.404",
    405: "error.405",
    409: "error.409",
    422: "error.422",
    429: "error.429",
}


def message(locale: str, detail: str) -> str:
    """The user's-language version of a service message (the message itself if unknown)."""
    for pattern, key in _KNOWN:
        match = pattern.search(detail)
        if match:
            params = {k: v for k, v in match.groupdict().items() if v is not None}
            if key == "err.forbidden":
                params["role"] = gettext(locale, f"role.{params.get('role', '')}")
            return gettext(locale, key, **params)
    return detail


def describe(locale: str, exc: CxloopError) -> str:
    return message(locale, exc.detail)


def title(locale: str, status: int) -> str:
    return gettext(locale, _TITLES.get(status, "error.other"))
