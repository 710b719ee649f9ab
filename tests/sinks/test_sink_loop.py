"""The sink loop's writer thread against a rebalance: no Kafka needed, the real Writer on chdb."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone

from clickhouse_connect.driver.client import Client
from confluent_kafka import TopicPartition
from prometheus_client import REGISTRY

from schemas import KafkaSettings
from schemas.lifecycle import LifecycleAction
from schemas.topics import LIFECYCLE
from sinks import metrics
from sinks.consumer import Batch, SinkLoop
from sinks.settings import SinkSettings
from sinks.writer import InjectedFault, Writer

from .factory import lifecycle


class Record:
    """What the loop reads of a consumed record."""

    def __init__(self, offset: int, value: bytes) -> None:
        self._offset, self._value = offset, value

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes | None:
        return None


def test_a_revoke_waits_for_the_insert_attempt_in_progress_and_the_retry_leaves_its_partition_out(
        ch: Client, sink_settings: SinkSettings) -> None:
    kafka = KafkaSettings(topic_prefix=f"t{uuid.uuid4().hex[:8]}")
    topic = kafka.topic(LIFECYCLE)
    writer = Writer(ch, sink_settings.group_id)
    loop = SinkLoop(sink_settings, kafka, writer)
    loop.assigned = {(topic, 0), (topic, 1)}
    at = datetime.now(timezone.utc)
    batches = []
    for partition in (0, 1):
        batch = Batch(topic, partition, first=0, opened=0.0)
        batch.messages = [Record(n, lifecycle(f"case-{partition}-{n}", LifecycleAction.ASSIGNED, at).encode())
                          for n in range(3)]
        batches.append(batch)
    rows = {b.token: loop._rows(b) for b in batches}
    assert all(len(r["lifecycle"]) == 3 for r in rows.values())

    inside, release, calls = threading.Event(), threading.Event(), []
    real_write = writer.write

    def write(blocks, verify=()):  # noqa: ANN001, ANN202 - the first attempt hangs, then fails
        calls.append(([name for name, _ in blocks], set(verify)))
        if len(calls) == 1:
            inside.set()
            release.wait(10)
            raise InjectedFault("backend went away mid-insert")
        return real_write(blocks, verify)

    writer.write = write  # type: ignore[method-assign]
    result: list = []
    inserting = threading.Thread(target=lambda: result.append(loop._insert(batches, rows, threading.Event())))
    inserting.start()
    assert inside.wait(10)

    revoking = threading.Thread(target=loop._on_revoke, args=(None, [TopicPartition(topic, 1)]))
    revoking.start()
    revoking.join(0.5)
    assert revoking.is_alive(), "the revoke must wait for the insert attempt in progress"
    assert (topic, 1) in loop.assigned

    release.set()
    revoking.join(10)
    inserting.join(30)
    assert not revoking.is_alive() and not inserting.is_alive()
    assert loop.assigned == {(topic, 0)}

    p0, p1 = (b.token for b in batches)
    assert calls[0][0] == [p0, p1]
    assert calls[1] == ([p0], {p0, p1}), "the retry leaves the revoked partition out and verifies what the failed attempt may have stored"
    assert result == [[batches[0]]]
    stored = dict(ch.query("SELECT sink_batch, count() FROM lifecycle GROUP BY sink_batch").result_rows)
    assert stored == {p0: 3}


class Watermarks:
    """What the loop's lag update asks a consumer: the cached high watermark of a partition."""

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False) -> tuple[int, int]:
        return 0, 100


def test_the_backend_reads_up_from_the_start_and_a_revoked_partition_drops_its_lag(
        ch: Client, sink_settings: SinkSettings) -> None:
    # alerts SinkBackendDown and SinkFallingBehind (deploy/prometheus/rules): an idle sink is not a broken
    # backend, and a partition that moved to another replica must not leave a frozen backlog behind here
    kafka = KafkaSettings(topic_prefix=f"t{uuid.uuid4().hex[:8]}")
    topic = kafka.topic(LIFECYCLE)
    metrics.BACKEND_UP.set(0)
    loop = SinkLoop(sink_settings, kafka, Writer(ch, sink_settings.group_id))
    assert REGISTRY.get_sample_value("intake_sink_backend_up") == 1

    def lag(partition: int) -> float | None:
        return REGISTRY.get_sample_value("intake_sink_lag_records", {"topic": topic, "partition": str(partition)})

    loop.assigned = {(topic, 0), (topic, 1)}
    loop.committed = {(topic, 0): 93, (topic, 1): 91}
    loop._update_lag(Watermarks())  # type: ignore[arg-type]
    assert (lag(0), lag(1)) == (7, 9)
    loop._on_revoke(None, [TopicPartition(topic, 1), TopicPartition(topic, 2)])  # 2: never reported
    assert (lag(0), lag(1)) == (7, None)
