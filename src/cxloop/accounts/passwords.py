"""Password rules and argon2 hashing.

The rules follow OWASP ASVS 2.1: at least 12 characters, long passphrases welcome (up to 1,000,
spaces and any script allowed), no composition rules, and nothing easy to guess: zxcvbn, a
well-kept strength estimator that ships its dictionaries (common passwords, names, words, keyboard
patterns, repeats and sequences), must rate the password at least MIN_STRENGTH of 4, with the
user's own e-mail and name counted as known words.
"""

from __future__ import annotations

from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from cxloop.core.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1000
# zxcvbn's score: 3 is "safely unguessable: moderate protection from offline slow-hash attacks"
# (about 10^8 guesses and more).
MIN_STRENGTH = 3
# zxcvbn's work grows with the length; past this many characters the rest only adds strength.
_ESTIMATED_LENGTH = 72
_hasher = PasswordHasher()


def check_password_rules(password: str, *, user_inputs: Iterable[str] = ()) -> None:
    """Refuse a password that is too short, too long or easy to guess (a common password, a
    repeat, a sequence, or made of the user's e-mail or name)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters.",
            errors=[{"field": "password", "message": "too short", "code": "password_short"}],
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"Password must be at most {MAX_PASSWORD_LENGTH} characters.",
            errors=[{"field": "password", "message": "too long", "code": "password_long"}],
        )
    words: list[str] = []
    for item in user_inputs:
        text = item.strip().lower()
        if text:
            # An address counts whole and in parts (minji.kim@shop.kr: minji, kim, shop).
            words.append(text)
            words.extend(w for w in _parts(text) if len(w) >= 3)
    if not password.strip() or zxcvbn(password[:_ESTIMATED_LENGTH], words)["score"] < MIN_STRENGTH:
        raise ValidationFailed(
            "Password is too easy to guess; use a longer phrase of unrelated words.",
            errors=[{"field": "password", "message": "too easy to guess", "code": "password_weak"}],
        )


def _parts(text: str) -> list[str]:
    for separator in "@.-_+ ":
        text = text.replace(separator, " ")
    return text.split()


def hash_password(password: str, *, user_inputs: Iterable[str] = ()) -> str:
    """Check the rules, then hash."""
    check_password_rules(password, user_inputs=user_inputs)
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against this keeps a login for an unknown email as slow as one for a known email.
DUMMY_HASH = _hasher.hash("cxloop-timing-equaliser")
