"""Connector gateway settings (env prefix ``INTAKE_GATEWAY_``). Secrets come from env or files only."""
from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_GATEWAY_", env_file=".env", extra="ignore",
                                      secrets_dir=None)

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = Field(default=None, description="external base URL providers call (Twilio signs it); defaults to the request URL")
    max_body_bytes: int = Field(default=256 * 1024, description="larger request bodies get 413")
    publish_timeout: float = Field(default=10.0, description="seconds to wait for Kafka's ack before answering 503")
    retry_after_seconds: int = Field(default=5, description="Retry-After sent with 503")
    production: bool = Field(default=False, description="refuse to start when a provider secret is missing")
