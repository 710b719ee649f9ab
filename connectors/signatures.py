"""Webhook signature checks: Twilio's own validator, and HMAC-SHA256 for our first-party senders.

The HMAC scheme (``X-Intake-Signature-256: sha256=<hex of HMAC-SHA256(secret, raw body)>``)
is the one GitHub and Meta use, so any platform or relay can produce it with a few lines.
"""
from __future__ import annotations

import hashlib
import hmac

from fastapi import Request
from twilio.request_validator import (SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, RequestValidator,
                                      get_signature_algorithm)

from .errors import Rejected
from .settings import GatewaySettings

HMAC_HEADER = "X-Intake-Signature-256"


def hmac_signature(secret: str, body: bytes) -> str:
    """The header value a sender puts in X-Intake-Signature-256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hmac(channel: str, request: Request, body: bytes, secret: str | None) -> None:
    """403 unless the body carries a valid signature; no-op when no secret is configured."""
    if secret is None:
        return
    given = request.headers.get(HMAC_HEADER)
    if not given:
        raise Rejected(channel, 403, "signature", f"missing {HMAC_HEADER}")
    if not hmac.compare_digest(given.strip(), hmac_signature(secret, body)):
        raise Rejected(channel, 403, "signature", f"{HMAC_HEADER} does not match the body")


def signed_url(request: Request, settings: GatewaySettings) -> str:
    """The URL the provider called, as it saw it: behind a proxy that is public_url + path + query."""
    if not settings.public_url:
        return str(request.url)
    query = request.url.query
    return settings.public_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


def verify_twilio(channel: str, request: Request, params: dict[str, str], settings: GatewaySettings) -> None:
    """Checks X-Twilio-Signature with the official validator (auth token or SharedKey, SHA1 or SHA256)."""
    token = settings.secret(settings.twilio_auth_token)
    if token is None:
        return
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise Rejected(channel, 403, "signature", f"missing {SIGNATURE_HEADER}")
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not RequestValidator(token).validate(signed_url(request, settings), params, signature, algorithm):
        raise Rejected(channel, 403, "signature", f"{SIGNATURE_HEADER} does not match this URL and body")
