"""Short service e-mails to people who work in cxloop (an invitation, a notice from the bell):
a text and an HTML body rendered from the templates in ``mail/``, the HTML autoescaped as the
pages are, in one language or several one after the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

MAIL_TEMPLATES = Path(__file__).resolve().parent / "mail"


@dataclass(frozen=True)
class NoticePart:
    """The mail in one language: what happened, the button to open it, a small note."""

    lang: str
    body: str
    action: str
    url: str
    note: str


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(MAIL_TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render_notice_mail(subject: str, parts: Sequence[NoticePart]) -> tuple[str, str]:
    """The text and HTML bodies of a notice mail made of ``parts`` (at least one)."""
    if not parts:
        raise ValueError("a notice mail needs at least one part")
    environment = _environment()
    values = {"subject": subject, "parts": list(parts)}
    text = environment.get_template("notice.txt").render(values)
    html = environment.get_template("notice.html").render(values)
    return text, html
