"""``intake report``: did every accepted inquiry end up stored exactly once?

Compares the log with the store: contacts on the contacts topic (each was acknowledged by
Kafka before the sender got its 2xx), routed contacts, dead letters, and rows in
ClickHouse. ``lost`` are accepted contacts neither stored nor dead-lettered; ``doubled``
are extra rows for one contact. Both must be 0. With the embedded chdb store, run it while
the sink is stopped (chdb allows one process per directory).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import orjson
from confluent_kafka import Consumer, TopicPartition

from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS, DEADLETTER, ROUTED


@dataclass
class Report:
    deliveries: int          # messages on the contacts topic, re-deliveries included
    accepted: int            # distinct contacts acknowledged by Kafka
    duplicates_suppressed: int
    routed: int              # distinct contacts the agents decided on
    dead_lettered: int       # dead letters from every stage
    stored: int              # distinct contacts in ClickHouse
    doubled: int             # rows beyond one per contact in ClickHouse
    lost: int                # accepted, not stored and not dead-lettered

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.doubled == 0

    def table(self) -> str:
        return "\n".join(f"{k:<22} {v}" for k, v in asdict(self).items())


def read_topic(kafka: KafkaSettings, topic: str) -> Iterator[bytes]:
    """Every value currently in a topic, without joining any consumer group."""
    consumer = Consumer(kafka.confluent(**{"group.id": "intake-report", "enable.auto.commit": False}))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        assignment = []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
                assignment.append(TopicPartition(topic, p, low))
        consumer.assign(assignment)
        while ends:
            for msg in consumer.consume(1000, 5.0):
                if msg.error():
                    continue
                if msg.value() is not None:
                    yield msg.value()
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
    finally:
        consumer.close()


def build_report(kafka: KafkaSettings, stored_ids: list[str]) -> Report:
    contact_ids = [orjson.loads(v)["id"] for v in read_topic(kafka, kafka.topic(CONTACTS))]
    routed_ids = {orjson.loads(v)["data"]["contact_id"] for v in read_topic(kafka, kafka.topic(ROUTED))}
    letters = [orjson.loads(v) for v in read_topic(kafka, kafka.topic(DEADLETTER))]
    accepted = set(contact_ids)
    dead_contact_ids = {d.get("subject") or "" for d in letters} & accepted
    stored = set(stored_ids)
    return Report(deliveries=len(contact_ids), accepted=len(accepted),
                  duplicates_suppressed=len(contact_ids) - len(accepted), routed=len(routed_ids & accepted),
                  dead_lettered=len(letters), stored=len(stored & accepted), doubled=len(stored_ids) - len(stored),
                  lost=len(accepted - stored - dead_contact_ids))
