"""Password rules and argon2 hashing."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cxloop.core.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters.",
            errors=[{"field": "password", "message": "too short"}],
        )


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against this keeps a login for an unknown email as slow as one for a known email.
DUMMY_HASH = _hasher.hash("cxloop-timing-equaliser")
