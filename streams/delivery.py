"""How agents consume and produce in batches without losing or skipping anything.

Every agent reads with :func:`batches` and writes with an :class:`Outbox`: outputs of a batch
are acknowledged by Kafka before the agent writes its tables, and the batch's input events
are acked (hence committable) only after both. A crash anywhere re-runs the batch; the
deterministic event ids make the re-run harmless downstream.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import TP

from .app import app, settings
from .packing import PACK_BYTES, PACKED, PACKED_TOPICS, frame, unpack
from .tables import key_hash


class Outbox:
    """The outputs of one batch, produced with aiokafka's record-batch API.

    ``await topic.send()`` costs Faust and aiokafka a FutureMessage, sensor calls, a metadata
    wait, a size estimate and an ack future *per message* (10-20% of the worker's CPU in a
    py-spy profile when every agent sends per event). An outbox appends each message to one
    record batch per topic partition instead and gets one future per record batch. Partitions are chosen like
    the producer's default partitioner (murmur2 of the key, the function the key-partitioned
    tables use too; keyless messages go to a random available partition), so a message lands
    where ``topic.send`` would have put it, in the order it was added. Messages for a packed
    topic (:mod:`streams.packing`) are framed into one record per partition instead.

    ``await flush()`` hands every batch to the producer and waits for Kafka's acknowledgement
    of all of them (``acks=-1``): the agents write their tables only after it returned.

    Table writes go through an outbox too (:meth:`put`): Faust's ``table[key] = value`` queues
    each changelog record in its producer buffer as a FutureMessage, which the conductor then
    drains one task wake-up and one ``wait_for`` at a time (10% of a worker's CPU in a profile),
    and nothing waits for their acknowledgement before the input is committed.
    """

    __slots__ = ("_batches", "_futures", "_packs", "_producer", "_tables", "count")

    _partitions: dict[str, list[int]] = {}

    def __init__(self) -> None:
        self._producer: Any = None
        self._batches: dict[tuple[str, int], Any] = {}
        self._packs: dict[tuple[str, int], bytearray] = {}
        self._futures: list[tuple[tuple[str, int], int, asyncio.Future]] = []
        self._tables: dict[str, faust.Table] = {}
        self.count = 0

    async def _partitions_of(self, name: str) -> list[int]:
        known = Outbox._partitions.get(name)
        if known is None:
            await self._producer.client._wait_on_metadata(name)
            known = Outbox._partitions[name] = sorted(self._producer.client.cluster.partitions_for_topic(name))
        return known

    async def add(self, channel: faust.TopicT | str, key: bytes | None, value: bytes | None) -> None:
        """Queue one message (raw bytes; None is a tombstone) for ``channel`` (a topic or a topic name)."""
        if self._producer is None:
            self._producer = (await app.maybe_start_producer())._ensure_producer()
        name = channel if isinstance(channel, str) else channel.get_topic_name()
        partitions = await self._partitions_of(name)
        if key is None:
            partition = random.choice(list(self._producer.client.cluster.available_partitions_for_topic(name))
                                      or partitions)
        else:
            partition = partitions[key_hash(key) % len(partitions)]
        slot = (name, partition)
        self.count += 1
        if name in PACKED_TOPICS and value is not None:
            pack = self._packs.get(slot)
            if pack is None:
                pack = self._packs[slot] = bytearray(PACKED)
            pack += frame(value)
            if len(pack) >= PACK_BYTES:
                await self._append(slot, None, bytes(self._packs.pop(slot)))
            return
        await self._append(slot, key, value)

    async def _append(self, slot: tuple[str, int], key: bytes | None, value: bytes | None) -> None:
        batch = self._batches.get(slot)
        if batch is None:
            batch = self._batches[slot] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:
            await self._send(slot)  # full: send it, start the next one
            batch = self._batches[slot] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a message of {len(value or b'')} bytes does not fit a record batch for {slot[0]}")

    async def put(self, table: faust.Table, key: bytes, value: bytes | None) -> None:
        """``table[key] = value`` (None deletes the key): stored now, its changelog record sent with the outbox.

        The record lands on the partition the table places the key on (the same murmur2 hash,
        :mod:`streams.tables`), where Faust's recovery reads it back.
        """
        if value is None:
            table.data.pop(key, None)
        else:
            table.data[key] = value
        name = table.changelog_topic.get_topic_name()
        self._tables[name] = table
        await self.add(name, key, value)

    async def _send(self, slot: tuple[str, int]) -> None:
        batch = self._batches.pop(slot)
        count = batch.record_count()
        self._futures.append((slot, count, await self._producer.send_batch(batch, slot[0], partition=slot[1])))

    async def flush(self) -> None:
        """Send what is queued and wait until Kafka acknowledged every message added so far."""
        for slot, pack in list(self._packs.items()):
            await self._append(slot, None, bytes(pack))
        self._packs.clear()
        for slot in list(self._batches):
            await self._send(slot)
        sent, self._futures = self._futures, []
        if not sent:
            return
        await asyncio.gather(*(future for _slot, _count, future in sent))
        for (name, partition), count, future in sent:
            table = self._tables.get(name)
            if table is not None:  # what Faust's own changelog callback does: a rocksdb store records
                # the last offset it holds, so that its recovery reads only what came after
                table.data.set_persisted_offset(TP(name, partition), future.result().offset + count - 1)


async def batches(stream: faust.StreamT, *, events: bool = False, size: int | None = None,
                  within: float | None = None) -> AsyncIterator[list[Any]]:
    """Batches of ``stream`` (values, or Faust events with ``events=True``), acked only once processed.

    Packed records (:func:`streams.packing.packed`) come out as the messages they carry; ``events=True`` hands out
    records as they are, so it is for unpacked topics.

    Use this instead of ``stream.take()`` / ``stream.take_events()``: those ack a batch in a
    ``finally:``, so a batch whose agent body did not finish (cancelled by a SIGTERM or a rebalance
    while it waited in ``await outbox.flush()``, or raised) is acked all the same, and the consumer's
    next commit (the worker commits on stop) moves the consumer group past events whose outputs were
    never sent or whose table writes never happened: after a restart they are not read again, so
    contacts were lost (tests/streams/test_shutdown.py). Here the events are acked when the agent
    asks for the next batch, i.e. only after its body ran to the end (outputs acknowledged by Kafka,
    tables written); an unfinished batch stays unacked, is never committed, and is processed again
    after the restart (at-least-once; the deterministic event ids make the re-run harmless).
    """
    async for taken in stream.noack_take(size or settings.batch_size,
                                         within=settings.batch_within if within is None else within):
        yield list(taken) if events else [message for event in taken for message in unpack(event.value)]
        for event in taken:  # reached only when the body finished the batch
            await stream.ack(event)

