"""Service errors in the user's language: the services speak English; the pages translate the
messages they know and show any other one as it is."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cxloop.core.errors import CxloopError
from cxloop.core.i18n import gettext

# (pattern of a service message, catalog key); named groups become the key's parameters.
_KNOWN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Wrong email or password\.$"), "err.login_failed"),
    (
        re.compile(r"^Too many failed sign-ins; try again in (?P<seconds>\d+) seconds\.$"),
        "err.locked",
    ),
    (re.compile(r"^Password must be at least (?P<n>\d+) characters\.$"), "err.password_short"),
    (re.compile(r"^Password must be at most (?P<n>\d+) characters\.$"), "err.password_long"),
    (re.compile(r"^Password is too easy to guess"), "err.password_weak"),
    (re.compile(r"^The current password is not right\.$"), "err.current_password"),
    (re.compile(r"^This invitation link is not valid"), "err.invite_invalid"),
    (re.compile(r"^This invitation was sent to another e-mail address"), "err.invite_other_email"),
    (re.compile(r"^An account with this e-mail address exists"), "err.invite_sign_in"),
    (re.compile(r"^An invitation to (?P<email>\S+) is already waiting"), "err.invite_pending"),
    (re.compile(r"^This invitation was (accepted|revoked); it cannot"), "err.invite_closed"),
    (re.compile(r"^(?P<email>\S+) is already a member of this workspace\.$"), "err.already_member"),
    (re.compile(r"^This workspace sent (?P<n>\d+) invitations in the last"), "err.invite_daily"),
    (re.compile(r"^This invitation was sent (?P<n>\d+) times"), "err.invite_sends"),
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

# Codes of field-level problems (the ``code`` of a ValidationFailed error) and their keys.
_FIELD_CODES: dict[str, str] = {
    **{
        code: f"fielderr.{code}"
        for code in (
            "rating_scale",
            "rating_order",
            "rating_size",
            "scale_not_rating",
            "options_few",
            "option_twice",
            "no_options",
            "length_not_text",
            "show_if_unknown",
            "show_if_later",
            "in_list",
            "one_value",
            "value_number",
            "value_finite",
            "value_number_only",
            "value_outside",
            "op_numbers",
            "value_not_option",
            "value_text",
            "question_twice",
            "hidden_twice",
            "kind_question",
            "nul",
            "out_of_range",
            "date",
            "improvement_title",
            "improvement_body",
            "no_survey",
            "range_metric",
            "score_range",
            "range_order",
            "words_list",
            "word_long",
            "until_after",
            "filter_empty",
            "filter_many",
        )
    },
    "value.missing": "fielderr.missing",
    "value.string_too_short": "fielderr.text_short",
    "value.string_too_long": "fielderr.text_long",
    "value.too_short": "fielderr.items_few",
    "value.too_long": "fielderr.items_many",
    "value.greater_than_equal": "fielderr.ge",
    "value.less_than_equal": "fielderr.le",
    "value.greater_than": "fielderr.gt",
    "value.less_than": "fielderr.lt",
    "value.int_parsing": "fielderr.int",
    "value.int_type": "fielderr.int",
    "value.int_from_float": "fielderr.int",
    "value.float_parsing": "fielderr.number",
    "value.float_type": "fielderr.number",
    "value.finite_number": "fielderr.value_finite",
    "value.literal_error": "fielderr.literal",
    "value.string_pattern_mismatch": "fielderr.pattern",
    "value.bool_parsing": "fielderr.bool",
    "value.bool_type": "fielderr.bool",
    "value.extra_forbidden": "fielderr.extra",
    "value.string_type": "fielderr.string",
}

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


def field_message(locale: str, error: Mapping[str, Any]) -> str:
    """One field-level problem of a ValidationFailed in the user's language: by its ``code``
    and ``params`` when the catalog knows the code, else its message as the service gave it."""
    key = _FIELD_CODES.get(str(error.get("code", "")))
    if key is None:
        return str(error.get("message", ""))
    params = error.get("params")
    return gettext(locale, key, **(dict(params) if isinstance(params, Mapping) else {}))
