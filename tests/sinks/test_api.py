"""The wallboard app in-process: public summary, token-protected API, SSE push, health."""
from __future__ import annotations

import json

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient
from pydantic import SecretStr

from sinks.settings import SinkSettings
from sinks.wallboard.app import Board, create_app

from .factory import generate
from .test_wallboard_queries import write


@pytest.fixture
def client(ch: Client, sink_settings: SinkSettings) -> TestClient:
    settings = sink_settings.model_copy(update={"api_token": SecretStr("s3cret"), "push_interval_seconds": 0.1})
    write(ch, settings, generate(cases=20).events)
    return TestClient(create_app(Board(ch, settings), settings, status=lambda: {"running": True}, ready=lambda: True))


def test_public_summary_and_page(client: TestClient) -> None:
    summary = client.get("/api/summary").json()
    assert summary["total"]["received"] > 0 and set(summary["by_channel"]) <= {"email", "phone", "webform", "social", "sms", "chat"}
    assert client.get("/api/summary?channel=phone").json()["filters"] == {"queue": "", "channel": "phone"}
    assert "EventSource" in client.get("/").text
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def test_everything_else_needs_the_token(client: TestClient) -> None:
    for path in ("/api/audit", "/api/status", "/api/dead-letters", "/api/alerts", "/api/outbound", "/api/contacts/x"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401, path
    auth = {"Authorization": "Bearer s3cret"}
    assert client.get("/api/status", headers=auth).json()["rows"]["alerts"] == 1
    assert client.get("/api/dead-letters", headers=auth).json()[0]["cause"] == "bad signature"
    requests = client.get("/api/outbound?limit=3", headers=auth).json()
    assert len(requests) == 3 and all(r["kind"] == "acknowledgement" and "*" in r["recipient"] for r in requests)
    assert client.get("/api/contacts/missing", headers=auth).status_code == 404
    assert client.get("/api/summary?queue=" + "q" * 100).status_code == 422


def test_token_endpoints_closed_when_no_token_is_configured(ch: Client, sink_settings: SinkSettings) -> None:
    app = TestClient(create_app(Board(ch, sink_settings), sink_settings))
    response = app.get("/api/status", headers={"Authorization": "Bearer "})
    assert response.status_code == 403 and "INTAKE_SINK_API_TOKEN" in response.json()["detail"]


def test_sse_pushes_the_board(client: TestClient) -> None:
    with client.stream("GET", "/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        for line in lines:
            if line.startswith("data: "):
                board = json.loads(line[6:])
                break
    assert board["total"]["received"] == client.get("/api/summary").json()["total"]["received"]
