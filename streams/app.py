"""The Faust application every agent registers on.

Agents live in their own modules (one concern each) and are imported by
:mod:`streams.worker`; they meet the outside world only through the topics of the
catalog in :mod:`schemas.topics`. Values travel as raw bytes and are decoded with the
pydantic event models, so one schema definition serves Faust, connectors and sinks.
"""
from __future__ import annotations

import logging

import faust
from faust import transport

from schemas.admin import TopicIds
from schemas.settings import KafkaSettings
from schemas.topics import TopicSpec

from . import consumer
from .settings import StreamSettings
from .tables import KeyPartitionedTable, key_partitioned_table

kafka = KafkaSettings()
settings = StreamSettings()


class Worker(faust.Worker):
    """Faust's worker without its terminal spinner.

    With ``-l warn`` (or any level from WARN up) Faust installs a spinner log handler and sets
    the *root logger to DEBUG* for good, so every ``log.debug`` in aiokafka and Faust (several
    per message produced or fetched) builds a LogRecord (caller lookup, formatting of the
    arguments) that the real handler then drops: ~10% of the worker's CPU in a py-spy profile.
    Without the spinner the root logger keeps the level asked for.
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)


class App(faust.App):
    """Faust's app on a consumer without four asyncio tasks per message (:mod:`streams.consumer`)."""

    def _new_transport(self) -> transport.base.Transport:
        return consumer.transport_for(transport.by_url(self.conf.broker_consumer[0]))(self.conf.broker_consumer, self)


app = App(
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
    producer_linger_ms=settings.producer_linger_ms,
    producer_max_batch_size=settings.producer_max_batch_size,
    producer_compression_type=settings.producer_compression,
    broker_max_poll_records=settings.max_poll_records,
    stream_buffer_maxsize=settings.stream_buffer_maxsize,
    consumer_metadata_max_age_ms=settings.metadata_max_age_ms,
    broker_session_timeout=settings.session_timeout_seconds,
    consumer_group_instance_id=settings.group_instance_id(),
    stream_wait_empty=False,
    table_standby_replicas=0,
    Worker=Worker,
)


def topic(spec: TopicSpec) -> faust.TopicT:
    """A Faust topic for a catalog entry, named with the configured prefix."""
    return app.topic(kafka.topic(spec), partitions=spec.partitions, key_type=bytes, value_type=bytes,
                     retention=spec.retention_ms / 1000.0)


def table(name: str, partitions: int, help: str) -> KeyPartitionedTable:  # noqa: A002
    """A bytes -> bytes table on the app: its changelog rolled (and so compacted), its store sized, as configured."""
    return key_partitioned_table(app, name, partitions, help, settings.changelog_topic_config(),
                                 settings.store_options(), changelog_ids)


#: the changelog topics' ids, which a rocksdb:// store keeps with its offsets (read once per table and assignment)
changelog_ids = TopicIds(kafka)
