"""Responses collected elsewhere, from a file: CSV (one column per question id) or JSON lines
(one object per line, the fields of the import API). Stored in batches through
``service.import_responses``; an external id seen before is skipped, so rerunning an import
stores nothing twice.

CSV columns: ``external_id`` (required), ``user_id``, ``email``, ``submitted_at`` (ISO 8601),
``locale``, ``channel``, ``completed`` (true/false), ``version``, ``hidden.<field>`` for hidden
fields, and one column per question id. Scores are numbers; a multiple-choice answer lists its
option ids separated by ``|``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select

from cxloop.core.db import Database
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.jsonutil import TooDeep, load_json
from cxloop.events.imports import read_csv
from cxloop.feedback.responses import service
from cxloop.feedback.responses.schemas import ImportRowIn
from cxloop.feedback.surveys import service as survey_service
from cxloop.feedback.surveys.definition import SurveyDefinition, load_definition, validate_answers
from cxloop.models import Survey

BATCH = 500
Progress = Callable[[int], None]
META_COLUMNS = frozenset(
    {"external_id", "user_id", "email", "submitted_at", "locale", "channel", "completed", "version"}
)
_TRUE = {"1", "true", "yes", "y", "t", "완료"}
_FALSE = {"0", "false", "no", "n", "f", "미완료"}


@dataclass
class ResponseImportReport:
    rows: int = 0
    created: int = 0
    duplicates: int = 0
    unlinked: int = 0
    errors: list[str] = field(default_factory=list)


def find_survey(database: Database, *, workspace_id: int, key: str) -> tuple[int, int]:
    """The id and current version of the workspace's survey with this key."""
    with database.session() as session:
        row = session.execute(
            select(Survey.id, Survey.current_version).where(
                Survey.workspace_id == workspace_id, Survey.key == key
            )
        ).first()
    if row is None:
        raise NotFound(f"No survey with key {key!r} in this workspace.")
    return int(row[0]), int(row[1])


def _csv_answer(definition: SurveyDefinition, question_id: str, value: str) -> Any:
    question = next((q for q in definition.questions if q.id == question_id), None)
    if question is None:
        return value  # an unknown question: validate_answers names it
    if question.scale() is not None:
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    if question.type == "multiple":
        return [part.strip() for part in value.split("|") if part.strip()]
    return value


def _from_csv(row: dict[str, str], definition: SurveyDefinition) -> dict[str, Any]:
    data: dict[str, Any] = {"answers": {}, "hidden": {}}
    for key, value in row.items():
        if value == "":
            continue
        if key in META_COLUMNS:
            if key == "completed":
                lowered = value.lower()
                data[key] = True if lowered in _TRUE else False if lowered in _FALSE else value
            else:
                data[key] = value
        elif key.startswith("hidden."):
            data["hidden"][key.removeprefix("hidden.")] = value
        else:
            data["answers"][key] = _csv_answer(definition, key, value)
    return data


def _records(path: Path, definition: SurveyDefinition) -> Iterator[tuple[int, Any]]:
    if path.suffix.lower() == ".csv":
        for number, row in read_csv(path):
            yield number, _from_csv(row, definition)
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, load_json(line)
                except TooDeep as exc:
                    yield number, exc
                except ValueError:
                    yield number, None


def read_rows(
    path: Path, definitions: Callable[[int | None], SurveyDefinition]
) -> Iterator[tuple[int, service.ImportRow | str]]:
    """Each data line of the file as an import row, or the reason it cannot be one."""
    current = definitions(None)
    for number, record in _records(path, current):
        if isinstance(record, TooDeep):
            yield number, str(record)
            continue
        if not isinstance(record, dict):
            yield number, "line: not a JSON object"
            continue
        try:
            row = ImportRowIn.model_validate(record)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "row"
            yield number, f"{where}: {first['msg']}"
            continue
        try:
            definition = definitions(row.version)
            validate_answers(definition, row.answers, partial=not row.completed)
        except ValidationFailed as exc:
            problem = exc.errors[0] if exc.errors else {"field": "row", "message": exc.detail}
            yield number, f"{problem['field']}: {problem['message']}"
            continue
        yield (
            number,
            service.ImportRow(
                external_id=row.external_id,
                answers=row.answers,
                submitted_at=row.submitted_at,
                completed=row.completed,
                locale=row.locale,
                channel=row.channel,
                hidden=row.hidden,
                user_id=row.user_id,
                email=row.email,
                version=row.version,
            ),
        )


def import_response_file(
    database: Database,
    *,
    workspace_id: int,
    survey_key: str,
    path: Path,
    source: str = "import",
    store: bool = True,
    progress: Progress | None = None,
) -> ResponseImportReport:
    """Check every row of ``path`` (``store=False``: check only) and store the valid ones in
    batches, each batch in its own transaction."""
    survey_id, current_version = find_survey(database, workspace_id=workspace_id, key=survey_key)
    cache: dict[int, SurveyDefinition] = {}

    def definitions(version: int | None) -> SurveyDefinition:
        number = current_version if version is None else version
        if number not in cache:
            if not 1 <= number <= current_version:
                raise ValidationFailed(
                    "no such version", errors=[{"field": "version", "message": "no such version"}]
                )
            with database.session() as session:
                survey = session.get(Survey, survey_id)
                assert survey is not None
                cache[number] = load_definition(
                    survey_service.get_version(session, survey=survey, number=number).definition
                )
        return cache[number]

    report = ResponseImportReport()
    batch: list[service.ImportRow] = []

    def flush() -> None:
        if batch and store:
            with database.session() as session:
                survey = session.get(Survey, survey_id)
                assert survey is not None
                result = service.import_responses(session, survey=survey, rows=batch, source=source)
                report.created += len(result.created)
                report.duplicates += len(result.duplicates)
                report.unlinked += result.unlinked
            if progress is not None:
                progress(len(batch))
        batch.clear()

    for number, row in read_rows(path, definitions):
        report.rows += 1
        if isinstance(row, str):
            report.errors.append(f"line {number}: {row}")
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    flush()
    return report
