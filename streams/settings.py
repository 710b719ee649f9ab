"""Stream worker settings (env prefix ``INTAKE_STREAMS_``)."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StreamSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_STREAMS_", env_file=".env", extra="ignore")

    app_id: str = Field(default="intake-streams", description="Faust app id: consumer group and changelog topic prefix")
    datadir: Path = Field(default=Path(".data/streams"), description="Faust data directory (table stores)")
    store: str = Field(default="memory://", description="table store: memory:// (recovers from changelogs) or rocksdb://")
    web_port: int = Field(default=6066, description="Faust web port: /metrics and health")
    web_enabled: bool = True
    batch_size: int = Field(default=500, description="events per stream.take batch")
    batch_within: float = Field(default=0.05, description="seconds to wait to fill a batch")
    rules_dir: Path | None = Field(default=None, description="folder with routing/classification/upsell rules; None for the shipped rules")
    sla_policy: Path | None = Field(default=None, description="SLA policy file; None for the shipped presets")
