"""Stream worker settings (env prefix ``INTAKE_STREAMS_``)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StreamSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_STREAMS_", env_file=".env", extra="ignore")

    app_id: str = Field(default="intake-streams", description="Faust app id: consumer group and changelog topic prefix")
    datadir: Path = Field(default=Path(".data/streams"), description="Faust data directory (table stores)")
    store: str = Field(default="memory://", description="table store: memory:// (recovers from changelogs) or rocksdb://")
    web_port: int = Field(default=6066, description="Faust web port: /metrics and health")
    metadata_max_age_ms: int = Field(default=30_000, description=(
        "how often the consumer refreshes topic metadata (ms). Faust creates its internal topics at start-up "
        "and subscribes at once; one the broker does not list yet joins the assignment only at the next refresh "
        "(aiokafka's default: 5 min, during which the worker is 'ready' but owns none of its partitions)"))
    web_enabled: bool = Field(default=True, description="serve Faust's web endpoints (metrics, health) on web_port")
    session_timeout_seconds: float = Field(default=10.0, ge=6, description=(
        "consumer group session timeout: how long a worker that died without leaving (SIGKILL, lost host) holds "
        "its partitions before the group moves them (Faust's default: 60 s, a minute of stalled contacts)"))
    batch_size: int = Field(default=2000, description="events per stream.take batch (every agent batches: one "
                                                      "produce round trip and one table write per key per batch)")
    batch_within: float = Field(default=0.05, description="seconds to wait to fill a batch")
    producer_linger_ms: int = Field(default=5, description="producer linger: how long a record batch may wait for "
                                                          "more records before it is sent")
    producer_max_batch_size: int = Field(default=262144, description="bytes per producer record batch (per "
                                                                     "partition); Faust's default of 16 KiB splits a "
                                                                     "batch of contacts into dozens of requests")
    producer_compression: str | None = Field(default=None, description="producer compression (lz4, zstd, gzip, "
                                                                       "snappy; the codec's Python package must be "
                                                                       "installed) or None for none")
    max_poll_records: int | None = Field(default=None, description="records per consumer fetch handed to Faust "
                                                                   "(None: whatever the fetch returned)")
    stream_buffer_maxsize: int = Field(default=8192, description="events buffered per topic partition before Faust "
                                                                 "pauses fetching it (Faust's default: 4096)")
    stall_seconds: float = Field(default=120.0, description=(
        "a worker that owns source partitions with events left and commits none of them for this long (or whose "
        "table recovery stops advancing for this long) is stalled: /healthz answers 503 and stall_action applies; "
        "0 turns the watchdog off (streams/watchdog.py)"))
    stall_check_seconds: float = Field(default=10.0, description="how often the watchdog reads the group's committed "
                                                                 "and end offsets from the broker")
    stall_action: Literal["exit", "report"] = Field(default="exit", description=(
        "on a stall: exit (status 75, for the supervisor to restart the worker: nothing is lost, uncommitted "
        "events are processed again) or report (only /healthz and the intake_worker_stalled gauge)"))
    rules_dir: Path | None = Field(default=None, description="folder with routing/classification/upsell rules; None for the shipped rules")
    sla_policy: Path | None = Field(default=None, description="SLA policy file; None for the shipped presets")
    clock: Literal["wall", "event"] = Field(
        default="wall",
        description="what 'now' is for SLA clocks: wall (the live pipeline: a breach fires when the wall clock "
                    "passes the deadline) or event (replays: per partition, the latest event time seen, so history "
                    "re-run at any speed breaches exactly when the stream passes the deadline); streams/sla/clock.py")
