"""The app starts and answers its health check and OpenAPI document."""

from fastapi.testclient import TestClient


def test_openapi_lists_ingestion_and_customers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/batch" in spec["paths"]
    assert "/api/v1/customers" in spec["paths"]


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
