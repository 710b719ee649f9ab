"""Kafka admin operations every part needs: topics created idempotently, offsets read without
joining a group. Here so that connectors, streams, sinks and the CLI share one implementation."""
from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import ConsumerGroupTopicPartitions, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from tenacity import retry, stop_after_attempt, wait_exponential

from .settings import KafkaSettings
from .topics import CATALOG, TopicSpec

Partition = tuple[str, int]


def create_topics(admin: AdminClient, topics: list[NewTopic], timeout: float = 30.0) -> list[str]:
    """Create the topics the broker does not list yet; returns the names created."""
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [t for t in topics if t.topic not in existing]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result()
            created.append(name)
        except Exception as exc:  # a concurrent creator won the race: fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return created


def ensure_topics(settings: KafkaSettings, specs: tuple[TopicSpec, ...] = CATALOG,
                  replication_factor: int = 1, timeout: float = 30.0) -> list[str]:
    """Create missing catalog topics; returns the names created. Existing topics are left as they are."""
    return create_topics(AdminClient(settings.confluent()),
                         [NewTopic(settings.topic(s), num_partitions=s.partitions, replication_factor=replication_factor,
                                   config=s.config()) for s in specs], timeout)


def committed_offsets(admin: AdminClient, group: str, partitions: Iterable[Partition] | None = None,
                      timeout: float = 10.0) -> dict[Partition, int]:
    """A consumer group's committed offsets (all its partitions, or those given); read only, the
    group is not joined. Partitions the group never committed are left out."""
    tps = None if partitions is None else [TopicPartition(t, p) for t, p in partitions]
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)],
                                               request_timeout=timeout)[group].result()
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.offset >= 0}


def log_offsets(admin: AdminClient, partitions: Iterable[Partition], spec: OffsetSpec,
                timeout: float = 10.0) -> dict[Partition, int]:
    """Each partition's earliest (``OffsetSpec.earliest()``) or end (``OffsetSpec.latest()``) offset."""
    request = {TopicPartition(t, p): spec for t, p in partitions}
    if not request:
        return {}
    return {(tp.topic, tp.partition): f.result().offset
            for tp, f in admin.list_offsets(request, request_timeout=timeout).items()}


def topic_id(admin: AdminClient, topic: str, timeout: float = 10.0) -> str:
    """Kafka's id of ``topic`` as created: a topic deleted and created again under the same name gets
    a new one (offsets start at 0 again). "" when the broker keeps none (all zeros, before Kafka 2.8)."""
    found = str(admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=timeout).topic_id or "")
    return found if found.strip("A") else ""


class TopicIds:
    """``topic -> topic id`` from the broker, retried through a broker hiccup; the admin client is made
    on first use. For what keys state by a topic as created (the sink's batches, a worker's RocksDB
    offsets); each caller caches the answers for as long as its assignment lasts."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._admin: AdminClient | None = None

    @retry(stop=stop_after_attempt(6), wait=wait_exponential(multiplier=0.2, max=5), reraise=True)
    def __call__(self, topic: str) -> str:
        if self._admin is None:
            self._admin = AdminClient(self._settings.confluent())
        return topic_id(self._admin, topic)
