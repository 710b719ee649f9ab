"""One way to refuse a request: raise :class:`Rejected`; the gateway answers it and counts it.

Every refusal is a 4xx with a JSON ``{"error": reason, "detail": ...}`` body, counted in
``intake_connector_rejected_total{channel, reason}``, and nothing is published.
"""
from __future__ import annotations


class Rejected(Exception):
    def __init__(self, channel: str, status: int, reason: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{channel}: {status} {reason}: {detail}")
        self.channel, self.status, self.reason, self.detail = channel, status, reason, detail
        self.headers = headers or {}
