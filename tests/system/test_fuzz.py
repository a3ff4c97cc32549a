"""Property-based fuzzing of every operation in the published OpenAPI document (schemathesis):
whatever the input, the API answers with a documented client error or success, never a 500,
and its errors are problem+json."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.models import APIOperation

from tests.factories import Tenant, held_jobs

EXAMPLES_PER_OPERATION = 30


@schemathesis.serializer("message/rfc822")
@schemathesis.serializer("application/x-ndjson")
class RawBody:
    """Generated bodies of the raw routes (inbound mail, delivery reports, JSON-lines imports)
    sent as bytes."""

    def as_requests(self, context: object, value: object) -> dict[str, object]:
        return {"data": value if isinstance(value, bytes) else str(value).encode()}

    def as_werkzeug(self, context: object, value: object) -> dict[str, object]:
        return self.as_requests(context, value)


def _headers(operation: APIOperation, tenant: Tenant) -> dict[str, str]:
    return tenant.write if operation.path.startswith("/v1/") else tenant.api


def _operations(schema: schemathesis.BaseSchema) -> list[APIOperation]:
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deleting keys last: a revoked key would turn every later request into a 401.
    return sorted(operations, key=lambda op: (op.method.upper() == "DELETE", op.path))


def test_the_schema_covers_ingestion_and_the_rest_api(app) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.from_asgi("/openapi.json", app, force_schema_version="30")
    paths = {operation.path for operation in _operations(schema)}
    assert {"/v1/track", "/v1/batch", "/api/v1/customers", "/api/v1/keys"} <= paths


@pytest.mark.timeout(600)
def test_no_input_makes_the_api_fail(app, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.from_asgi("/openapi.json", app, force_schema_version="30")
    failures: list[str] = []
    # Jobs wait in the queue: a retraining started at commit would otherwise run against the
    # process database (on SQLite waiting for the write lock this test's transaction holds).
    with held_jobs():
        for operation in _operations(schema):
            _fuzz(operation, _headers(operation, tenant), failures)
    assert not failures, "\n".join(sorted(set(failures))[:20])


def _fuzz(operation: APIOperation, headers: dict[str, str], failures: list[str]) -> None:
    """Try generated inputs on ``operation``; what went wrong is appended to ``failures``."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        response = case.call_asgi(headers=headers)
        where = f"{case.method} {case.formatted_path} -> {response.status_code}"
        if response.status_code >= 500:
            failures.append(f"{where}: {response.text[:300]}")
        elif response.status_code >= 400:
            kind = response.headers.get("content-type", "")
            if not kind.startswith("application/problem+json"):
                failures.append(f"{where}: error is {kind}, not problem+json")

    check()
