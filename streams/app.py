"""The Faust application every agent registers on.

Agents live in their own modules (one concern each) and are imported by
:mod:`streams.worker`; they meet the outside world only through the topics of the
catalog in :mod:`schemas.topics`. Values travel as raw bytes and are decoded with the
pydantic event models, so one schema definition serves Faust, connectors and sinks.
"""
from __future__ import annotations

import faust

from schemas.settings import KafkaSettings
from schemas.topics import TopicSpec

from .settings import StreamSettings

kafka = KafkaSettings()
settings = StreamSettings()

app = faust.App(
    settings.app_id,
    broker=kafka.faust_broker(),
    broker_credentials=kafka.faust_credentials(),
    store=settings.store,
    datadir=str(settings.datadir),
    web_enabled=settings.web_enabled,
    web_port=settings.web_port,
    web_host="127.0.0.1",
    topic_partitions=4,
    topic_allow_declare=True,
    topic_disable_leader=True,
    key_serializer="raw",
    value_serializer="raw",
    producer_acks=-1,
    producer_linger_ms=5,
    stream_wait_empty=False,
    table_standby_replicas=0,
)


def topic(spec: TopicSpec) -> faust.TopicT:
    """A Faust topic for a catalog entry, named with the configured prefix."""
    return app.topic(kafka.topic(spec), partitions=spec.partitions, key_type=bytes, value_type=bytes,
                     retention=spec.retention_ms / 1000.0)
