"""Reading request bodies the way providers send them; anything unreadable is a 4xx, not a dead letter."""
from __future__ import annotations

import json
from urllib.parse import parse_qsl

from fastapi import Request

from .errors import Rejected

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _text(channel: str, body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(channel, 400, "malformed_body", f"body is not UTF-8: {exc}") from exc


def parse_form(channel: str, body: bytes) -> dict[str, str]:
    """application/x-www-form-urlencoded fields (last value wins, blanks kept as '')."""
    try:
        pairs = parse_qsl(_text(channel, body), keep_blank_values=True, strict_parsing=bool(body))
    except ValueError as exc:
        raise Rejected(channel, 400, "malformed_body", f"not a form-encoded body: {exc}") from exc
    return dict(pairs)


def parse_json_object(channel: str, body: bytes) -> dict:
    try:
        value = json.loads(_text(channel, body))
    except json.JSONDecodeError as exc:
        raise Rejected(channel, 400, "malformed_body", f"invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Rejected(channel, 400, "malformed_body", f"expected a JSON object, got {type(value).__name__}")
    return value


def require_media_type(channel: str, request: Request, *allowed: str) -> str:
    kind = media_type(request)
    if kind not in allowed:
        raise Rejected(channel, 415, "unsupported_media_type",
                       f"content-type {kind or '(none)'} not accepted; send {' or '.join(allowed)}")
    return kind


def documented(model: type, *media_types: str) -> dict:
    """``openapi_extra`` declaring the request body of a route that reads the raw body itself.

    Routes read raw bytes (signatures cover them, and one route takes JSON or form fields),
    so FastAPI cannot infer the body; this keeps the OpenAPI spec truthful for clients and
    for schemathesis. Nested models are inlined: the schema sits inside the OpenAPI document.
    """
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: object) -> object:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    body = inline(schema)
    return {"requestBody": {"required": True, "content": {m: {"schema": body} for m in (media_types or (JSON,))}}}
