"""Readable names for the keys pages show: a touchpoint's key (``checkout_web``) as words."""

from __future__ import annotations

from cxloop.core.i18n import gettext

# Catalog entries are optional here: a touchpoint is any key a workspace sends, so only the
# well-known ones have an entry (``touchpoint.<key>`` in dashboard.toml); the rest read as words.
TOUCHPOINT_ENTRY = "touchpoint."


def touchpoint_label(key: str, locale: str) -> str:
    """The touchpoint's name in ``locale``: its catalog entry, else its key with spaces for
    underscores."""
    entry = TOUCHPOINT_ENTRY + key
    text = gettext(locale, entry)
    return key.replace("_", " ") if text == entry else text
