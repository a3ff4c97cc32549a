"""Normalising and showing contact details: emails, phone numbers (E.164), identity values."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from cxloop.models.customer import IDENTITY_KINDS


def normalise_email(value: object) -> str | None:
    """A lower-cased valid email address, or None when ``value`` is not one."""
    if not isinstance(value, str) or "@" not in value:
        return None
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def normalise_phone(value: object, region: str = "KR") -> str | None:
    """The number in E.164 (``+821012345678``), or None when it is not a valid number."""
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str | None) -> str:
    """Korean numbers the Korean way (010-1234-5678), others in international form."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code == 82:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalise_identity(kind: str, value: object) -> str | None:
    """The canonical form of an identity value of ``kind``, or None if it is not usable."""
    if kind not in IDENTITY_KINDS:
        return None
    if kind == "email":
        return normalise_email(value)
    if kind == "phone":
        return normalise_phone(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text[:320] or None
