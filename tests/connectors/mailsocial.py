"""Helpers for the email and social connector tests: read a whole topic as it stands now.

Connectors acknowledge only after Kafka did, so once a call returns its events are below
the high watermark: reading up to the watermark is exact, with no sleeping or guessing.
"""
from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition

from schemas import ContactEvent, DeadLetterEvent, RawPayloadEvent
from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS, DEADLETTER, RAW, TopicSpec


def read_topic(settings: KafkaSettings, spec: TopicSpec, timeout: float = 20.0) -> list[bytes]:
    topic = settings.topic(spec)
    consumer = Consumer(settings.confluent(**{"group.id": f"test-{uuid.uuid4().hex}", "enable.auto.commit": False}))
    try:
        partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        pending = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in pending])
        values: list[bytes] = []
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(msg.error())
            values.append(msg.value())
            if msg.offset() + 1 >= ends[msg.partition()]:
                pending.discard(msg.partition())
        assert not pending, f"could not read {topic} to its end within {timeout}s"
        return values
    finally:
        consumer.close()


def contacts(settings: KafkaSettings) -> list[ContactEvent]:
    return [ContactEvent.decode(v) for v in read_topic(settings, CONTACTS)]


def dead_letters(settings: KafkaSettings) -> list[DeadLetterEvent]:
    return [DeadLetterEvent.decode(v) for v in read_topic(settings, DEADLETTER)]


def raws(settings: KafkaSettings) -> list[RawPayloadEvent]:
    return [RawPayloadEvent.decode(v) for v in read_topic(settings, RAW)]
