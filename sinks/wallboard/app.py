"""The wallboard HTTP app: the page, its SSE feed, the JSON API, health and metrics.

Public: ``/`` (the page), ``/events`` (SSE board pushes), ``/api/summary`` (the board as JSON),
``/api/replays`` (what-if runs: aggregates only).
Token (``Authorization: Bearer <INTAKE_SINK_API_TOKEN>``): ``/api/audit`` (brute-force board),
``/api/status``, ``/api/contacts/{id}``, ``/api/dead-letters``, ``/api/alerts``, ``/api/outbound``.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from clickhouse_connect.driver.client import Client
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from ..settings import SinkSettings
from . import audit, queries
from .kpis import Window
from .replays import replay_runs

QueueQ = Annotated[str, Query(max_length=64, description="only this queue")]
ChannelQ = Annotated[str, Query(max_length=32, description="only this channel")]
PAGE = Path(__file__).parent / "static" / "index.html"
TABLES = ("contacts", "contact_text", "lifecycle", "sla_events", "escalations", "upsell_leads", "upsell_outcomes",
          "outbound", "alerts", "dead_letters")


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def dumps(payload: Any) -> str:
    return json.dumps(payload, default=_json_default, ensure_ascii=False)


class Board:
    """Serialises queries on one client and caches each filter's board for a moment, so many
    screens cost one query set per push interval."""

    def __init__(self, client: Client, settings: SinkSettings) -> None:
        self.client, self.settings = client, settings
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, dict]] = {}

    def run(self, fn: Callable[[Client], Any]) -> Any:
        with self._lock:
            return fn(self.client)

    def summary(self, queue: str, channel: str) -> dict:
        key, now = (queue, channel), time.monotonic()
        hit = self._cache.get(key)
        if hit and now - hit[0] < self.settings.push_interval_seconds / 2:
            return hit[1]
        window = Window.at(zone=self.settings.day_timezone)
        result = self.run(lambda c: queries.board(c, window, queue, channel))
        self._cache[key] = (now, result)
        return result

    def audit(self, queue: str, channel: str) -> dict:
        window = Window.at(zone=self.settings.day_timezone)
        return self.run(lambda c: audit.board(c, window, queue, channel))


def create_app(board: Board, settings: SinkSettings, status: Callable[[], dict] | None = None,
               ready: Callable[[], bool] | None = None) -> FastAPI:
    app = FastAPI(title="intake wallboard", version="1")
    token = settings.api_token.get_secret_value() if settings.api_token else None

    def require_token(request: Request) -> None:
        if token is None:
            raise HTTPException(403, "API token not configured (set INTAKE_SINK_API_TOKEN)")
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    protected = [Depends(require_token)]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text())

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ok = ready() if ready else True
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/summary")
    async def summary(queue: QueueQ = "", channel: ChannelQ = "") -> Response:
        """The public wallboard figures: totals, per queue, per channel."""
        result = await run_in_threadpool(board.summary, queue, channel)
        return Response(dumps(result), media_type="application/json")

    @app.get("/events")
    async def events(request: Request, queue: QueueQ = "", channel: ChannelQ = "") -> StreamingResponse:
        """Server-sent events: one ``board`` event per push interval."""
        async def stream() -> AsyncIterator[str]:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    result = await run_in_threadpool(board.summary, queue, channel)
                    yield f"event: board\ndata: {dumps(result)}\n\n"
                except Exception as exc:  # backend hiccup: tell the page, keep the stream
                    yield f"event: failure\ndata: {dumps({'error': str(exc)[:500]})}\n\n"
                await asyncio.sleep(settings.push_interval_seconds)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/api/replays")
    async def replays(limit: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
        """Latest what-if runs (``intake replay``): live vs replayed SLA figures, in total and per queue."""
        result = await run_in_threadpool(board.run, lambda c: replay_runs(c, limit))
        return Response(dumps(result), media_type="application/json")

    @app.get("/api/audit", dependencies=protected)
    async def audit_endpoint(queue: QueueQ = "", channel: ChannelQ = "") -> Response:
        """The same figures recomputed from the raw event tables (slow; for checks)."""
        result = await run_in_threadpool(board.audit, queue, channel)
        return Response(dumps(result), media_type="application/json")

    @app.get("/api/status", dependencies=protected)
    async def status_endpoint() -> Response:
        def counts(c: Client) -> dict:
            return {t: c.query(f"SELECT count() FROM {t}").result_rows[0][0] for t in TABLES}
        result = {"sink": status() if status else None, "rows": await run_in_threadpool(board.run, counts)}
        return Response(dumps(result), media_type="application/json")

    @app.get("/api/contacts/{event_id}", dependencies=protected)
    async def contact(event_id: str) -> Response:
        """One contact as stored (identifiers per the PII policy; text is not exposed here)."""
        rows = await run_in_threadpool(board.run, lambda c: list(c.query(
            "SELECT * FROM contacts WHERE event_id = {id:String} LIMIT 1", parameters={"id": event_id}).named_results()))
        if not rows:
            raise HTTPException(404, f"no contact {event_id}")
        return Response(dumps(rows[0]), media_type="application/json")

    def recent(table: str) -> Callable:
        async def handler(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
            rows = await run_in_threadpool(board.run, lambda c: list(c.query(
                f"SELECT * FROM {table} ORDER BY at DESC LIMIT {{n:UInt32}}", parameters={"n": limit}).named_results()))
            return Response(dumps(rows), media_type="application/json")
        return handler

    app.get("/api/dead-letters", summary="Latest dead letters", dependencies=protected)(recent("dead_letters"))
    app.get("/api/alerts", summary="Latest alerts", dependencies=protected)(recent("alerts"))
    app.get("/api/outbound", summary="Latest outbound requests (acknowledgements, surveys, recall notices), "
            "addresses per the PII policy", dependencies=protected)(recent("outbound"))
    return app
