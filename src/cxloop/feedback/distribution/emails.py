"""The invitation (and reminder) email: its subject, text and HTML in the customer's language,
rendered from the templates in ``mail/``."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from cxloop.core.i18n import format_datetime, gettext
from cxloop.core.timeutil import KST

MAIL_TEMPLATES = Path(__file__).resolve().parent / "mail"


@cache
def _mail_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(MAIL_TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=True,
    )


def render_invitation_email(
    *,
    lang: str,
    workspace_name: str,
    survey_name: str,
    customer_name: str | None,
    link: str,
    expires_at: datetime,
    reminder: bool = False,
) -> tuple[str, str, str]:
    """Subject, text and HTML of an invitation (or reminder) email in ``lang``."""
    names = {"workspace": workspace_name, "survey": survey_name}
    subject_key = (
        "distribution.mail.reminder_subject" if reminder else "distribution.mail.invite_subject"
    )
    values = {
        "lang": lang,
        "subject": gettext(lang, subject_key, **names),
        "greeting": (
            gettext(lang, "distribution.mail.greeting_named", name=customer_name)
            if customer_name
            else gettext(lang, "distribution.mail.greeting")
        ),
        "intro": gettext(
            lang,
            "distribution.mail.reminder_intro" if reminder else "distribution.mail.intro",
            **names,
        ),
        "button": gettext(lang, "distribution.mail.button"),
        "expires": gettext(
            lang, "distribution.mail.expires", date=format_datetime(expires_at, lang, KST)
        ),
        "footer": gettext(lang, "distribution.mail.footer", **names),
        "link": link,
    }
    environment = _mail_environment()
    text = environment.get_template("invitation.txt").render(values)
    html = environment.get_template("invitation.html").render(values)
    return values["subject"], text, html
