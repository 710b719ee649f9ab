"""Connector gateway settings (env prefix ``INTAKE_GATEWAY_``). Secrets come from env or files only.

Provider secrets are declared with ``json_schema_extra={"provider_secret": True}``: in
production (``INTAKE_GATEWAY_PRODUCTION=true``) the gateway refuses to start while any of
them is unset, because an unset secret silently turns signature checks off.
"""
from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROVIDER_SECRET = {"provider_secret": True}


#: librdkafka linger.ms of the connectors' producer (the gateway's setting; the e-mail service's default)
KAFKA_LINGER_MS = 5.0

class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_GATEWAY_", env_file=".env", extra="ignore",
                                      secrets_dir=None)

    host: str = Field(default="127.0.0.1", description="listen address (0.0.0.0 in a container)")
    port: int = Field(default=8080, description="listen port")
    public_url: str | None = Field(default=None, description="external base URL providers call (Twilio signs it); defaults to the request URL")
    max_body_bytes: int = Field(default=256 * 1024, description="larger request bodies get 413")
    publish_timeout: float = Field(default=10.0, description="seconds to wait for Kafka's ack before answering 503")
    retry_after_seconds: int = Field(default=5, description="Retry-After sent with 503")
    production: bool = Field(default=False, description="refuse to start when a provider secret is missing")

    # serving and publishing performance (see bench/ingest.py for what they buy)
    kafka_linger_ms: float = Field(default=KAFKA_LINGER_MS, ge=0, description="librdkafka linger.ms: how long records wait to share a produce request with concurrent requests' records (adds at most this to each answer; under load fewer, larger produce requests save gateway CPU: 5 ms gave ~40% more req/s than 1 ms in bench/ingest)")
    delivery_poll_ms: float = Field(default=1.0, gt=0, le=100, description="while requests await Kafka's ack, the event loop serves delivery reports this often (ms); bounds the latency the polling adds")
    fast_paths: bool = Field(default=True, description="answer the hot endpoints (POST /webform, GET /healthz) without FastAPI's routing and dependency machinery; same handler, same answers")
    access_log: bool = Field(default=False, description="uvicorn access log line per request (costs CPU at high request rates)")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(default="warning", description="uvicorn log level")
    loop: Literal["auto", "uvloop", "asyncio"] = Field(default="auto", description="event loop implementation; auto picks uvloop when installed")
    http: Literal["auto", "httptools", "h11"] = Field(default="auto", description="HTTP/1.1 parser; auto picks httptools when installed")
    backlog: int = Field(default=2048, ge=1, description="listen socket backlog (pending connections)")

    # provider secrets
    twilio_auth_token: SecretStr | None = Field(default=None, json_schema_extra=PROVIDER_SECRET,
                                                description="Twilio auth token (or webhook SharedKey secret): verifies X-Twilio-Signature on /sms and /phone/twilio")
    chat_secret: SecretStr | None = Field(default=None, json_schema_extra=PROVIDER_SECRET,
                                          description="shared HMAC-SHA256 key of the chat server: verifies X-Intake-Signature-256 on /chat")
    phone_secret: SecretStr | None = Field(default=None, json_schema_extra=PROVIDER_SECRET,
                                           description="shared HMAC-SHA256 key for the generic telephony JSON format: verifies X-Intake-Signature-256 on /phone/events")
    wechat_token: SecretStr | None = Field(default=None, json_schema_extra=PROVIDER_SECRET,
                                           description="WeChat Official Account server-config Token: verifies the sha1 signature on /social/wechat")
    meta_app_secret: SecretStr | None = Field(default=None, json_schema_extra=PROVIDER_SECRET,
                                              description="Meta app secret: verifies X-Hub-Signature-256 on /social/meta (Messenger, Instagram, WhatsApp)")
    meta_verify_token: SecretStr | None = Field(default=None, json_schema_extra=PROVIDER_SECRET,
                                                description="the Verify Token typed into the Meta webhook setup: answers hub.challenge on GET /social/meta")
    wechat_max_age_seconds: int = Field(default=300, ge=1, description="WeChat pushes whose timestamp is further than this from now are refused (replay window)")
    webform_secret: SecretStr | None = Field(default=None,
                                             description="optional HMAC-SHA256 key when the site's backend relays forms (browsers cannot keep a secret, so not required in production)")

    # web form abuse controls
    webform_honeypot_field: str = Field(default="website", description="hidden form field humans leave empty; filled means a bot")
    webform_rate_per_minute: float = Field(default=30.0, gt=0, description="sustained web form submissions per client address per minute (generous: carrier NAT puts many people behind one address)")
    webform_burst: int = Field(default=20, ge=1, description="submissions a client address may send at once before the rate applies")
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(default_factory=list,
                                                             description="reverse proxies whose X-Forwarded-For is believed (CIDRs, JSON list)")
    webform_email_memory: int = Field(default=10_000, ge=0, description="validated web form e-mail addresses remembered so a returning address skips the (CPU-heavy) syntax/IDNA check again; 0 checks every time")
    webform_timezone: str = Field(default="Asia/Shanghai", description="zone for appointment times the browser sends without an offset")

    # phone call folding
    phone_max_calls: int = Field(default=50_000, ge=1, description="calls held in memory while they are in progress; the oldest is published early when full")
    phone_transcript_grace_seconds: float = Field(default=120.0, ge=0, description="after a recorded call ends, wait this long for its transcription before publishing")
    phone_idle_seconds: float = Field(default=4 * 3600.0, gt=0, description="a call with no event for this long is published as it stands")
    phone_callback_choices: list[str] = Field(default_factory=lambda: ["callback=1"],
                                              description="menu path entries (menu=choice) meaning the caller asked for a callback")

    def missing_secrets(self) -> list[str]:
        """Env var names of provider secrets that are not set."""
        return [f"INTAKE_GATEWAY_{name.upper()}" for name, field in type(self).model_fields.items()
                if (field.json_schema_extra or {}).get("provider_secret") and getattr(self, name) is None]

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Self:
        missing = self.missing_secrets() if self.production else []
        if missing:
            raise ValueError("production gateway refuses to start without provider secrets: " + ", ".join(missing))
        return self

    @staticmethod
    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None
