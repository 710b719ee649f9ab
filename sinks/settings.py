"""Sink and wallboard settings (env prefix ``INTAKE_SINK_``)."""
from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class PiiPolicy(StrEnum):
    """How personal identifiers (phone, email, handle, name, numbers) are stored."""

    MASK = "mask"    # readable shape, most characters hidden: +86138****5678, a***@example.com
    HASH = "hash"    # keyed HMAC-SHA256: joinable, not readable
    CLEAR = "clear"  # as received (only for stores with their own access control)


def default_dsn() -> str:
    """The embedded default: chdb on disk under the project's data folder, resolved at runtime."""
    return f"chdb://{Path('.data/clickhouse').resolve()}"


class SinkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_SINK_", env_file=".env", extra="ignore")

    dsn: str = Field(default_factory=default_dsn,
                     description="clickhouse-connect DSN: chdb:///abs/path (embedded) or http(s)://user:pw@host:port/db")
    database: str | None = Field(default=None, description="ClickHouse database of the sink's tables; default: the "
                                 "DSN's database (http(s)://host/<db>), or 'intake' for chdb")
    group_id: str = Field(default="intake-sink", description="Kafka consumer group of the sink")
    session_timeout_seconds: float = Field(default=10.0, ge=6, description="consumer group session timeout: how long a "
                                           "crashed sink holds its partitions before another (or its restart) takes over")
    batch_max_rows: int = Field(default=5000, ge=1, description="a topic-partition batch is cut at this many records")
    batch_max_seconds: float = Field(default=0.5, gt=0, description="... or when its first record is this old")
    backoff_max_seconds: float = Field(default=10.0, gt=0, description="cap of the retry back-off while ClickHouse is down")
    dedup_window: int = Field(default=10_000, ge=100,
                              description="blocks remembered per table for insert deduplication (crash replays)")
    wallboard_host: str = Field(default="127.0.0.1", description="wallboard HTTP bind address")
    wallboard_port: int = Field(default=8090, description="wallboard HTTP port")
    push_interval_seconds: float = Field(default=1.0, gt=0, description="how often the wallboard re-reads and pushes (SSE)")
    api_token: SecretStr | None = Field(default=None,
                                        description="bearer token for the JSON API beyond the public summary; unset = those endpoints answer 403")
    day_timezone: str = Field(default="UTC", description="IANA zone whose midnight starts the wallboard's 'today'")
    retention_days: int = Field(default=400, ge=1, description="TTL of event rows (days after the event time)")
    text_retention_days: int = Field(default=90, ge=1, description="TTL of raw contact text (subject, body)")
    pii_policy: PiiPolicy = Field(default=PiiPolicy.MASK, description="mask, hash or clear personal identifiers")
    pii_key: SecretStr = Field(default=SecretStr("intake-default-pii-key"),
                               description="HMAC key for hashed identifiers and customer keys; set per deployment")
    cluster: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$",
                                description="ClickHouse cluster name (a <remote_servers> entry of the server "
                                "config) for the cluster variant of the migrations: ON CLUSTER DDL, "
                                "Replicated*MergeTree tables '<table>_local' (Keeper path "
                                "/clickhouse/tables/{shard}/<db>/<table>, macros {shard} and {replica} "
                                "set on every node) and Distributed tables under the original names, which "
                                "the sink writes and the wallboard reads. None (default): one server or "
                                "chdb, plain MergeTree tables. Choose before the first migration")
    fault: str = Field(default="", description="TESTS ONLY: fault injection, e.g. 'crash_after_insert:2' or 'insert_fail:3'")
