"""What the Korean messaging providers' HTTP APIs share: numbers in the national form they
take, and their error answers sorted into "try again later" and "give up"."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import phonenumbers

from cxloop.channels.adapters import SendFailure


def carrier_number(number: str) -> tuple[str, str]:
    """A stored E.164 number as Korean messaging APIs take it: digits in national form
    (``01012345678``) and the country calling code (``82``)."""
    try:
        parsed = phonenumbers.parse(number, "KR")
    except phonenumbers.NumberParseException as exc:
        raise SendFailure(f"not a phone number: {number!r}", False) from exc
    national = str(parsed.national_number)
    if parsed.country_code == 82:
        national = "0" + national
    return national, str(parsed.country_code)


def digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _error_text(response: httpx.Response) -> str:
    """What a provider's error answer says (its code and message), short."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300]
    if isinstance(body, Mapping):
        parts = [str(body.get(k)) for k in ("errorCode", "errorMessage") if body.get(k)]
        if parts:
            return ": ".join(parts)[:300]
    return " ".join(response.text.split())[:300]


def http_failure(provider: str, response: httpx.Response) -> SendFailure:
    """A provider's non-2xx answer as a failure: 5xx, 401, 403 and 429 are worth another try."""
    status = response.status_code
    transient = status >= 500 or status in (401, 403, 408, 429)
    return SendFailure(f"{provider} answered {status}: {_error_text(response)}", transient)
