"""Reading a time range of topics without joining or committing for any consumer group.

Replays must never disturb the live pipeline: every read here uses ``assign()`` with
auto-commit off (no group membership, no offsets written), so the live consumer groups
and their lag are untouched. Also: a consumer group's committed offsets, read through the
admin API, for progress and for proving that nothing moved.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from schemas.admin import committed_offsets
from schemas.settings import KafkaSettings


@dataclass(frozen=True, slots=True)
class Record:
    """One message, with what a copy must preserve (key, value, timestamp, headers)."""

    timestamp_ms: int
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def reader(kafka: KafkaSettings) -> Consumer:
    """A consumer that reads by assignment only: never joins a group, never commits."""
    return Consumer(kafka.confluent(**{"group.id": f"intake-range-reader-{uuid.uuid4().hex[:8]}",
                                       "enable.auto.commit": False, "enable.partition.eof": False,
                                       "auto.offset.reset": "earliest"}))


def partitions_of(consumer: Consumer, topic: str, timeout: float = 10.0) -> list[int]:
    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        return []
    return sorted(meta.partitions)


def watermarks(consumer: Consumer, topic: str, partition: int, timeout: float = 20.0) -> tuple[int, int]:
    """(low, high) of a partition; retried while a just-created topic has no leader yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def bounds(consumer: Consumer, topic: str, from_ms: int | None, to_ms: int | None) -> dict[int, tuple[int, int]]:
    """Per partition: [first offset at/after ``from_ms``, first offset at/after ``to_ms``)."""
    out: dict[int, tuple[int, int]] = {}
    for p in partitions_of(consumer, topic):
        low, high = watermarks(consumer, topic, p)

        def at(ms: int | None, default: int) -> int:
            if ms is None:
                return default
            [tp] = consumer.offsets_for_times([TopicPartition(topic, p, ms)], timeout=10)
            return high if tp.offset < 0 else max(tp.offset, low)

        start, end = at(from_ms, low), at(to_ms, high)
        if end > start:
            out[p] = (start, end)
    return out


def read(kafka: KafkaSettings, topic: str, from_ms: int | None = None, to_ms: int | None = None,
         starts: dict[int, int] | None = None) -> list[Record]:
    """Every record of ``topic`` whose offset lies in the time range (optionally from ``starts``)."""
    consumer = reader(kafka)
    try:
        ranges = bounds(consumer, topic, from_ms, to_ms)
        if starts:
            ranges = {p: (max(a, starts.get(p, a)), b) for p, (a, b) in ranges.items() if max(a, starts.get(p, a)) < b}
        return _drain(consumer, topic, ranges)
    finally:
        consumer.close()


def _drain(consumer: Consumer, topic: str, ranges: dict[int, tuple[int, int]]) -> list[Record]:
    out: list[Record] = []
    if not ranges:
        return out
    consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in ranges.items()])
    remaining = {p: end for p, (_, end) in ranges.items()}
    deadline = time.monotonic() + 60.0
    while remaining:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}: partitions {sorted(remaining)} did not deliver up to their end offsets")
        # consume() waits for its full count or the timeout: short timeouts, many rounds
        batch = consumer.consume(1000, 0.1)
        if batch:
            deadline = time.monotonic() + 60.0  # 60 s without a record: give up
        for msg in batch:
            if msg.error():
                raise KafkaException(msg.error())
            p = msg.partition()
            if p not in remaining or msg.offset() >= remaining[p]:
                continue
            out.append(Record(msg.timestamp()[1], topic, p, msg.offset(), msg.key(), msg.value(),
                              tuple(msg.headers() or ())))
            if msg.offset() + 1 >= remaining[p]:
                del remaining[p]
    return out


def last_records(kafka: KafkaSettings, topic: str) -> dict[int, Record]:
    """The last record of every non-empty partition (where a resumed copy goes on from)."""
    consumer = reader(kafka)
    try:
        ranges = {}
        for p in partitions_of(consumer, topic):
            low, high = watermarks(consumer, topic, p)
            if high > low:
                ranges[p] = (high - 1, high)
        return {r.partition: r for r in _drain(consumer, topic, ranges)}
    finally:
        consumer.close()


def end_offsets(kafka: KafkaSettings, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    consumer = reader(kafka)
    try:
        out = {}
        for topic in topics:
            for p in partitions_of(consumer, topic):
                out[(topic, p)] = watermarks(consumer, topic, p)[1]
        return out
    finally:
        consumer.close()


def group_offsets(kafka: KafkaSettings, group: str) -> dict[tuple[str, int], int]:
    """Committed offsets of a consumer group (read only: the group is not joined)."""
    try:
        return committed_offsets(AdminClient(kafka.confluent()), group)
    except KafkaException:
        return {}
