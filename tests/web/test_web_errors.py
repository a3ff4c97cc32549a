"""Service errors in the user's language: field-level problems by their code and parameters,
with the service's English message when the catalog does not know the code."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from cxloop.core.errors import ValidationFailed, value_error_code
from cxloop.feedback.surveys.definition import parse_definition
from cxloop.web import errors


def test_a_definition_problem_is_said_in_korean_and_in_english() -> None:
    definition = {
        "questions": [
            {"id": "nps", "type": "nps", "text": {"ko": "추천?", "en": "Recommend?"}},
            {
                "id": "why",
                "type": "multiple",
                "text": {"ko": "이유", "en": "Why"},
                "options": [{"id": "a", "label": {"ko": "가", "en": "A"}}],
                "show_if": {"question": "nps", "op": "==", "value": 12},
            },
        ]
    }
    with pytest.raises(ValidationFailed) as caught:
        parse_definition(definition, kind="nps")
    found = {e["code"]: e for e in caught.value.errors}
    assert set(found) == {"options_few", "value_outside"}
    outside = found["value_outside"]
    assert outside["field"] == "definition.questions.1.show_if.value"
    assert outside["params"] == {"value": "12", "low": 0, "high": 10, "id": "nps"}
    assert errors.field_message("ko", outside) == "12은(는) 'nps' 질문의 척도(0–10)를 벗어납니다."
    assert errors.field_message("en", outside) == "12 is outside the 0–10 scale of 'nps'."
    assert outside["message"] == "12 is outside the 0–10 scale of 'nps'"  # the API's text


def test_a_pydantic_problem_carries_its_type_and_context() -> None:
    class Form(BaseModel):
        name: str = Field(max_length=3)
        days: int = Field(ge=1)

    with pytest.raises(ValidationError) as caught:
        Form.model_validate({"name": "너무 긴 이름", "days": 0})
    coded = [e | value_error_code(e) for e in caught.value.errors()]

    assert [e["code"] for e in coded] == ["value.string_too_long", "value.greater_than_equal"]
    assert [errors.field_message("ko", e) for e in coded] == [
        "3자 이하로 입력하세요.",
        "1 이상이어야 합니다.",
    ]
    assert errors.field_message("en", coded[1]) == "Must be at least 1."


def test_an_unknown_code_or_none_shows_the_services_message() -> None:
    assert errors.field_message("ko", {"message": "must be odd", "code": "odd"}) == "must be odd"
    assert errors.field_message("ko", {"field": "x", "message": "too odd"}) == "too odd"
