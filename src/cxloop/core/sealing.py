"""Secrets cxloop must give back to a server later (a mailbox password), sealed at rest with a
key derived from the secret key: Fernet (AES-128-CBC with an HMAC-SHA256, from
``cryptography``). A secret sealed under a key listed in ``CXLOOP_PREVIOUS_SECRET_KEYS`` still
opens, so the secret key can be changed without entering every password again."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cxloop.core.settings import Settings


class CannotUnseal(Exception):
    """The sealed value opens with none of the secret keys (changed without listing the old
    one), or it was tampered with."""


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"cxloop sealed secrets"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _keys(settings: Settings) -> MultiFernet:
    return MultiFernet([_fernet(key) for key in settings.secret_keys()])


def seal(secret: str, *, settings: Settings) -> str:
    """``secret`` encrypted and authenticated under the current secret key."""
    return _keys(settings).encrypt(secret.encode()).decode("ascii")


def unseal(sealed: str, *, settings: Settings) -> str:
    """The secret ``seal`` sealed, under the current or a previous secret key."""
    try:
        return _keys(settings).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise CannotUnseal(
            "The stored password cannot be read with the secret key (was CXLOOP_SECRET_KEY "
            "changed without listing the old one in CXLOOP_PREVIOUS_SECRET_KEYS?); enter it again."
        ) from exc
