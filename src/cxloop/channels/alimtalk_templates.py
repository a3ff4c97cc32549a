"""KakaoTalk Alimtalk templates: the approved template text with its ``#{변수}`` variables, and
the text a customer without KakaoTalk gets instead (the template filled in, sent as SMS/LMS).

Kakao checks every Alimtalk against its approved template, so cxloop sends the template code and
the variables and lets the provider fill them in; the outbox keeps the template text itself as
the message's body, and fills it in here only for the fallback text message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cxloop.core.errors import ValidationFailed

VARIABLE = re.compile(r"#\{([^{}\n]{1,50})\}")
# NHN Cloud and Kakao take template codes of at most 20 characters.
TEMPLATE_CODE_LENGTH = 20


def template_variables(template: str) -> list[str]:
    """The variable names ``#{name}`` of ``template``, each once, in order."""
    return list(dict.fromkeys(VARIABLE.findall(template)))


def missing_variables(template: str, variables: Mapping[str, Any]) -> list[str]:
    """The variables ``template`` uses that ``variables`` does not give."""
    return [name for name in template_variables(template) if name not in variables]


def render(template: str, variables: Mapping[str, Any]) -> str:
    """``template`` with every ``#{name}`` replaced by its variable; ValidationFailed naming the
    variables that are missing."""
    missing = missing_variables(template, variables)
    if missing:
        names = ", ".join(f"#{{{name}}}" for name in missing)
        raise ValidationFailed(
            f"The template needs variables that were not given: {names}.",
            errors=[
                {"field": "details.variables", "message": f"missing {names}", "missing": missing}
            ],
        )
    return VARIABLE.sub(lambda match: str(variables[match.group(1)]), template)


def _is_value(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def template_details(details: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The template code and the variables (as text) of an Alimtalk's details; ValidationFailed
    when the code is missing or the variables are not a mapping of names to values."""
    code = details.get("template_code")
    if not isinstance(code, str) or not code.strip() or len(code.strip()) > TEMPLATE_CODE_LENGTH:
        raise ValidationFailed(
            f"An Alimtalk needs its approved template code (1 to {TEMPLATE_CODE_LENGTH} "
            "characters) in details.template_code.",
            errors=[{"field": "details.template_code", "message": "required, up to 20 characters"}],
        )
    raw = details.get("variables") or {}
    if not isinstance(raw, Mapping) or not all(
        isinstance(name, str)
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
        for name, value in raw.items()
    ):
        raise ValidationFailed(
            "details.variables must map each template variable's name to its text.",
            errors=[{"field": "details.variables", "message": "names to text values"}],
        )
    return code.strip(), {name: str(value) for name, value in raw.items()}
