"""The connector gateway: one HTTP server hosting every webhook channel.

Each channel is a router in its own module; they share the :class:`Publisher` (one
idempotent producer) and the error handling here, so every channel refuses bad input the
same way: a 4xx with a JSON ``{"error": ..., "detail": ...}`` body, and nothing published.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from schemas.runtime import tune_gc
from schemas.settings import KafkaSettings

from . import chat, phone, sms, webform
from .social import meta, wechat
from .accept import recent_in
from .errors import Rejected
from .metrics import REJECTED
from .publisher import Publisher, PublishUnavailable
from .settings import GatewaySettings

ROUTERS = (webform.router, chat.router, sms.router, phone.router, wechat.router, meta.router)


class BodyLimit:
    """413 for bodies over the limit, checked on Content-Length and while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _too_large(scope, receive, send, self.limit)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(scope, receive, send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    REJECTED.labels("any", "too_large").inc()
    response = JSONResponse({"error": "payload_too_large", "detail": f"body exceeds {limit} bytes"}, status_code=413)
    await response(scope, receive, send)


def _channel(request: Request) -> str:
    return request.scope["path"].strip("/").split("/")[0] or "any"


def invalid_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming the invalid fields, or 400 when the body is not even JSON."""
    errors = exc.errors()
    malformed = any(e.get("type") == "json_invalid" for e in errors)
    REJECTED.labels(_channel(request), "malformed" if malformed else "invalid").inc()
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors]
    return JSONResponse({"error": "malformed_body" if malformed else "invalid_fields", "detail": detail},
                        status_code=400 if malformed else 422)


def rejected_response(exc: Rejected) -> JSONResponse:
    REJECTED.labels(exc.channel, exc.reason).inc()
    return JSONResponse({"error": exc.reason, "detail": exc.detail}, status_code=exc.status, headers=exc.headers)


def unavailable_response(request: Request, gateway: GatewaySettings) -> JSONResponse:
    """503 + Retry-After: Kafka did not acknowledge, so nothing is acknowledged to the sender."""
    REJECTED.labels(request.scope["path"].strip("/").split("/")[0], "unavailable").inc()
    return JSONResponse({"error": "unavailable", "detail": "the event log cannot acknowledge now; retry"},
                        status_code=503, headers={"Retry-After": str(gateway.retry_after_seconds)})


_HEALTHY = b'{"status":"ok"}'


async def _healthz(request: Request) -> Response:
    return Response(_HEALTHY, media_type="application/json")


class FastPaths:
    """The hot endpoints go straight to their handler: ``POST /webform`` (and ``GET /healthz``).

    FastAPI's per-request machinery (its middlewares, including telemetry that reads the
    environment per request, route matching through every router, dependency solving, query
    parsing) cost ~150 us of CPU per request on the bench machine (GET /healthz: ~260 us
    through FastAPI, ~100 us here; bench/ingest.py). The handler and the answers are the
    same as through the router (tests/connectors/test_fast_paths.py): the routes stay registered
    (OpenAPI, other methods, apps mounted elsewhere), the body limit applies, and the three
    refusals are answered by the same functions as the app's exception handlers.
    """

    def __init__(self, app: FastAPI, gateway: GatewaySettings) -> None:
        self.app, self.gateway = app, gateway
        self.routes = {("POST", "/webform"): webform.handle, ("GET", "/healthz"): _healthz}
        self.limited = BodyLimit(self._answer, gateway.max_body_bytes)

    def handles(self, scope: Scope) -> bool:
        return (scope.get("method"), scope.get("path")) in self.routes and scope["type"] == "http"

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self.app
        request = Request(scope, receive)
        try:
            response: Response = await self.routes[scope["method"], scope["path"]](request)
        except Rejected as exc:
            response = rejected_response(exc)
        except RequestValidationError as exc:
            response = invalid_response(request, exc)
        except PublishUnavailable:
            response = unavailable_response(request, self.gateway)
        await response(scope, receive, send)


class GatewayApp(FastAPI):
    """FastAPI, with :class:`FastPaths` in front of its middleware stack (when ``fast_paths`` is on)."""

    fast: FastPaths | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast
        if fast is not None and fast.handles(scope):
            return await fast.limited(scope, receive, send)
        await super().__call__(scope, receive, send)


def create_app(gateway: GatewaySettings | None = None, kafka: KafkaSettings | None = None,
               publisher: Publisher | None = None) -> FastAPI:
    gateway = gateway or GatewaySettings()
    kafka = kafka or KafkaSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.publisher = publisher or Publisher(kafka, publish_timeout=gateway.publish_timeout,
                                                     linger_ms=gateway.kafka_linger_ms,
                                                     poll_interval=gateway.delivery_poll_ms / 1000.0)
        app.state.calls = phone.CallStore(app.state.publisher, recent_in(app), gateway)
        app.state.calls.start()
        yield
        await app.state.calls.close()
        app.state.publisher.close()

    webform.set_email_memory(gateway.webform_email_memory)
    app = GatewayApp(title="Inquiry intake gateway", version="1", lifespan=lifespan)
    app.state.settings = gateway
    app.state.kafka = kafka

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_response(request, exc)

    @app.exception_handler(Rejected)
    async def rejected(request: Request, exc: Rejected) -> JSONResponse:
        return rejected_response(exc)

    @app.exception_handler(PublishUnavailable)
    async def unavailable(request: Request, exc: PublishUnavailable) -> JSONResponse:
        return unavailable_response(request, gateway)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        ok = request.app.state.publisher.ready()
        return JSONResponse({"kafka": "ok" if ok else "unreachable"}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyLimit, limit=gateway.max_body_bytes)
    if gateway.fast_paths:
        app.fast = FastPaths(app, gateway)
    return app


def server(gateway: GatewaySettings | None = None, kafka: KafkaSettings | None = None) -> uvicorn.Server:
    """The uvicorn server for the gateway.

    uvicorn's own X-Forwarded-For handling is off: which proxies to believe is decided once,
    by ``trusted_proxies`` (see connectors/ratelimit.py), not also by FORWARDED_ALLOW_IPS.
    """
    gateway = gateway or GatewaySettings()
    return uvicorn.Server(uvicorn.Config(create_app(gateway, kafka), host=gateway.host, port=gateway.port,
                                         loop=gateway.loop, http=gateway.http, log_level=gateway.log_level,
                                         access_log=gateway.access_log, proxy_headers=False,
                                         backlog=gateway.backlog))


def serve(gateway: GatewaySettings | None = None, kafka: KafkaSettings | None = None) -> None:
    """Run the gateway as this process's only job (``intake gateway``)."""
    gateway_server = server(gateway, kafka)
    tune_gc()
    gateway_server.run()
