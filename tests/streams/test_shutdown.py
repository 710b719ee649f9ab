"""A worker stopped (SIGTERM) while a batch is in the middle of being processed must not commit that
batch: after a restart with the same app id (same consumer group) the batch is processed again.

Faust's ``stream.take()`` acks a batch in a ``finally:``, so a batch whose agent was cancelled by the
shutdown (here: held in ``Outbox.flush`` by :mod:`tests.streams.slow_outbox`) used to be acked, and the
consumer's final commit on stop then moved the group past contacts that were never routed.
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from schemas.admin import ensure_topics
from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS

from .builders import contact
from .conftest import LiveWorker, Outputs, drop_topics

pytestmark = pytest.mark.kafka


def committed_total(kafka: KafkaSettings, group: str, topic: str) -> int:
    """Sum over the topic's partitions of the group's committed offsets (what it will not read again)."""
    consumer = Consumer(kafka.confluent(**{"group.id": group, "enable.auto.commit": False}))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return sum(max(tp.offset, 0) for tp in committed)
    finally:
        consumer.close()

HOLD = 6.0  # seconds each batch's outputs are held before they are produced (first worker only)


def test_sigterm_while_a_batch_is_in_flight_loses_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"sd{uuid.uuid4().hex[:8]}")
    ensure_topics(kafka)
    worker = LiveWorker(kafka, tmp_path / "worker")
    worker.command = "import tests.streams.slow_outbox; from streams.worker import main; main()"
    worker.env["INTAKE_TEST_FLUSH_DELAY"] = str(HOLD)
    out = Outputs(kafka)
    try:
        worker.start()
        out.wait_owned(worker)
        event = contact("webform", "shutdown-1", "Where is my parcel? order A00001", email="sd@example.com")
        out.send(event)
        time.sleep(HOLD / 3)  # route_ingress has taken the contact and holds its output to the customers topic
        assert not out.routed(event.id)
        worker.stop()  # SIGTERM: agents are cancelled mid-batch, then the consumer commits what was acked
        assert worker.proc is not None and worker.proc.returncode == 0, worker.log()
        # the contact was taken but its output never sent: the group must still have it to read
        assert committed_total(kafka, worker.env["INTAKE_STREAMS_APP_ID"], kafka.topic(CONTACTS)) == 0, \
            "the stopped worker committed the offset of a contact it never routed"

        del worker.env["INTAKE_TEST_FLUSH_DELAY"]
        worker.start()  # same app id: continues from the group's committed offsets
        out.routed_once(event, 60, worker)
    finally:
        worker.stop()
        out.close()
        print(f"----- worker log (tail) -----\n{worker.log()}")
        drop_topics(kafka, (kafka.topic_prefix + ".", worker.env["INTAKE_STREAMS_APP_ID"] + "-"))
