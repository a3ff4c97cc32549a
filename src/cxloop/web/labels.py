"""Readable names for the codes pages show: the workspace's display names, read once per
request, and a touchpoint's code (``checkout_web``) as words when nobody named it."""

from __future__ import annotations

from cxloop.accounts.display_names import Names, names_of
from cxloop.web.session import WebContext


def page_names(page: WebContext | None) -> Names:
    """The display names of the page's workspace, read at the first use in a request."""
    if page is None:
        return Names({})
    names = getattr(page.request.state, "display_names", None)
    if not isinstance(names, Names):
        names = names_of(page.db, workspace_id=page.workspace.id)
        page.request.state.display_names = names
    return names


def touchpoint_label(page: WebContext, key: str) -> str:
    """The touchpoint's name for the page's reader (see :func:`touchpoint_words`)."""
    return touchpoint_words(page_names(page), key, page.locale)


def touchpoint_words(names: Names, key: str, locale: str) -> str:
    """A touchpoint's name in ``locale``: the workspace's, else the one cxloop ships for a
    well-known touchpoint, else its code with spaces for underscores."""
    name = names.name("touchpoint", key, locale)
    return key.replace("_", " ") if name == key else name
