"""Stream worker settings (env prefix ``INTAKE_STREAMS_``)."""
from __future__ import annotations

import hashlib
import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.contact import Channel


class StreamSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_STREAMS_", env_file=".env", extra="ignore")

    app_id: str = Field(default="intake-streams", description="Faust app id: consumer group and changelog topic prefix")
    datadir: Path = Field(default=Path(".data/streams"), description="Faust data directory (table stores)")
    store: str = Field(default="memory://", description=(
        "table store: memory:// (every start replays the changelogs, which compaction keeps to about the live "
        "keys: changelog_segment_*) or rocksdb:// (tables kept in datadir, one RocksDB per partition: a worker "
        "restarted on its datadir replays only what it had not stored yet; ~10-15% slower, and new here: "
        "opt-in for now)"))
    rocksdb_block_cache_mib: int = Field(default=16, ge=1, description=(
        "rocksdb:// read cache per table partition (MiB; Faust's default of 2 GiB is meant for a big box)"))
    rocksdb_write_buffer_mib: int = Field(default=8, ge=1, description=(
        "rocksdb:// write buffer per table partition (MiB, two of them; Faust's default: three of 64 MiB)"))
    web_port: int = Field(default=6066, description="Faust web port: /metrics and health")
    metadata_max_age_ms: int = Field(default=30_000, description=(
        "how often the consumer refreshes topic metadata (ms). Faust creates its internal topics at start-up "
        "and subscribes at once; one the broker does not list yet joins the assignment only at the next refresh "
        "(aiokafka's default: 5 min, during which the worker is 'ready' but owns none of its partitions)"))
    web_enabled: bool = Field(default=True, description="serve Faust's web endpoints (metrics, health) on web_port")
    session_timeout_seconds: float = Field(default=10.0, ge=6, description=(
        "consumer group session timeout: how long a worker that died without leaving (SIGKILL, lost host) holds "
        "its partitions before the group moves them (Faust's default: 60 s, a minute of stalled contacts)"))
    static_membership: bool = Field(default=True, description=(
        "join the consumer group as a static member (Kafka's group.instance.id) named after the host and the "
        "absolute datadir, so a worker restarted in place takes its partitions back at once instead of waiting "
        "for the dead member's session to expire. The flip side: a static member stopped on purpose also holds "
        "its partitions for session_timeout_seconds. Two workers on one host need distinct datadirs: a worker "
        "refuses to start on a datadir another running worker holds"))
    changelog_segment_ms: int = Field(default=60_000, ge=1_000, description=(
        "table changelogs roll a new segment at least this often (ms). Kafka compacts only closed segments, and a "
        "worker restarted without its local state replays the whole changelog: rolling bounds that replay to the "
        "live keys plus one segment (Kafka's default of 7 days lets it grow with every update ever made). "
        "Applies when the worker creates the changelog topic"))
    changelog_segment_bytes: int = Field(default=16 << 20, ge=1 << 20, description=(
        "table changelogs roll a new segment at this size (bytes), the same bound under heavy traffic"))
    batch_size: int = Field(default=2000, description="events per stream.take batch (every agent batches: one "
                                                      "produce round trip and one table write per key per batch)")
    batch_within: float = Field(default=0.02, description=(
        "seconds to wait to fill a batch; every hop inside the worker waits up to this long, so it sets the "
        "latency at live rates (a backlog fills batches at once). 1,000 contacts/s for 5 min: 0.02 gave accept -> "
        "routed p50 217 ms and 7-8% more worker CPU than 0.05 (p50 372-391 ms); docs/performance.md"))
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
    acknowledge_channels: list[Channel] = Field(
        default=[Channel.EMAIL, Channel.WEBFORM, Channel.SMS, Channel.SOCIAL], description=(
            "channels whose new cases get an acknowledgement request on outbound.v1 (JSON list, e.g. "
            "'[\"email\", \"sms\"]'; [] for none); chat and phone answer in the conversation itself"))
    survey_channels: list[Channel] = Field(
        default=list(Channel), description=(
            "channels whose closed cases get a satisfaction-survey request on outbound.v1, by the channel of the "
            "case's latest private contact (a call is surveyed by SMS); [] for none"))
    rules_dir: Path | None = Field(default=None, description="folder with routing/classification/upsell rules; None for the shipped rules")
    sla_policy: Path | None = Field(default=None, description="SLA policy file; None for the shipped presets")
    clock: Literal["wall", "event"] = Field(
        default="wall",
        description="what 'now' is for SLA clocks: wall (the live pipeline: a breach fires when the wall clock "
                    "passes the deadline) or event (replays: per partition, the latest event time seen, so history "
                    "re-run at any speed breaches exactly when the stream passes the deadline); streams/sla/clock.py")

    def group_instance_id(self) -> str | None:
        """This worker's static member id, stable across restarts of the same worker (None: dynamic member).

        Kafka allows at most 249 characters of ``[a-zA-Z0-9._-]``: the host name is cleaned up and the
        datadir enters as a digest."""
        if not self.static_membership:
            return None
        host = re.sub(r"[^a-zA-Z0-9._-]", "_", socket.gethostname())[:160]
        where = hashlib.blake2s(str(self.datadir.resolve()).encode(), digest_size=8).hexdigest()
        return f"{host}-{where}"

    def store_options(self) -> dict[str, int]:
        """Faust's RocksDB options for every table (ignored by the memory store)."""
        return {"block_cache_size": self.rocksdb_block_cache_mib << 20,
                "write_buffer_size": self.rocksdb_write_buffer_mib << 20, "max_write_buffer_number": 2}

    def changelog_topic_config(self) -> dict[str, str]:
        """Kafka topic configs for the changelog of every table (strings, as CreateTopics sends them)."""
        return {"segment.ms": str(self.changelog_segment_ms), "segment.bytes": str(self.changelog_segment_bytes)}
