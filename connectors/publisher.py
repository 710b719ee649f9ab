"""Durable publishing for every connector: an idempotent confluent-kafka producer.

A connector answers 2xx only after Kafka acknowledged both the raw payload and the
normalized contact (``acks=all``). If the cluster cannot acknowledge within
``publish_timeout`` the caller gets :class:`PublishUnavailable` and answers 503 with
Retry-After; the provider's retry carries the same provider message id, so it maps to
the same event id and collapses downstream.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable

from confluent_kafka import KafkaError, Message, Producer

from schemas import (DEADLETTER, RAW, Contact, ContactEvent, DeadLetter, DeadLetterEvent, Envelope, RawPayload,
                     RawPayloadEvent, stable_event_id)
from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS

from .settings import KAFKA_LINGER_MS


class PublishUnavailable(RuntimeError):
    """Kafka did not acknowledge in time: nothing may be acknowledged to the sender."""


def contact_event_id(contact: Contact) -> str:
    """The contact event's id: the same provider message on the same channel always gets the same one."""
    return stable_event_id(contact.channel, contact.provider_message_id)


class _Acks:
    """One ``_send`` call: a single future settled when every record of the call is acknowledged.

    ``on_delivery`` runs wherever the producer is polled: normally in the loop that awaits
    (see :class:`_LoopPoller`), so it settles the future directly; from any other thread it
    hands over with ``call_soon_threadsafe``.
    """

    __slots__ = ("fut", "left", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, records: int) -> None:
        self.loop, self.left = loop, records
        self.fut: asyncio.Future[None] = loop.create_future()

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.left -= 1
            if self.left:
                return
        if asyncio._get_running_loop() is self.loop:
            self._settle(err)
        else:
            try:
                self.loop.call_soon_threadsafe(self._settle, err)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass

    def _settle(self, err: KafkaError | None) -> None:
        if self.fut.done():
            return
        if err is None:
            self.fut.set_result(None)
        else:
            self.fut.set_exception(PublishUnavailable(str(err)))


class _LoopPoller:
    """Serves the producer's delivery reports from inside one event loop while it awaits acks.

    With a poll thread, every report's callback must take the GIL from the busy loop thread
    (CPython hands it over at the switch interval, 5 ms by default) and then wake the loop
    through its self-pipe (``call_soon_threadsafe``), two records per request. Instead, while
    any request of this loop awaits an ack, the loop calls ``poll(0)`` every ``interval``
    seconds: the reports' callbacks run in the loop thread and resolve their futures
    directly, with no thread hand-off. The same tick enforces the deadline of each wait
    (librdkafka's ``message.timeout.ms`` normally reports the failure first), replacing a
    ``wait_for`` task and timer per request.
    """

    __slots__ = ("producer", "loop", "interval", "waiting", "armed")

    def __init__(self, producer: Producer, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.producer, self.loop, self.interval = producer, loop, interval
        self.waiting: deque[tuple[float, asyncio.Future[None]]] = deque()
        self.armed = False

    def watch(self, deadline: float, fut: asyncio.Future[None]) -> None:
        self.waiting.append((deadline, fut))
        if not self.armed:
            self.armed = True
            self.loop.call_later(self.interval, self.tick)

    def tick(self) -> None:
        waiting = self.waiting
        try:
            self.producer.poll(0)
            now = time.monotonic()
            while waiting and (waiting[0][1].done() or waiting[0][0] <= now):
                _, fut = waiting.popleft()
                if not fut.done():
                    fut.set_exception(PublishUnavailable("Kafka did not acknowledge in time"))
        finally:
            if waiting:
                self.loop.call_later(self.interval, self.tick)
            else:
                self.armed = False


class Publisher:
    """One producer per process, shared by every channel; safe to call from any event loop.

    ``linger_ms`` lets librdkafka gather concurrent requests' records into one produce
    request; ``poll_interval`` is how often a loop with requests awaiting acks serves the
    delivery reports (it bounds the extra latency the polling adds).
    """

    def __init__(self, kafka: KafkaSettings, publish_timeout: float = 10.0, linger_ms: float = KAFKA_LINGER_MS,
                 poll_interval: float = 0.001) -> None:
        self._timeout = publish_timeout
        self._poll_interval = poll_interval
        self._producer = Producer(kafka.confluent(**{
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
            "compression.type": "lz4",
            "message.timeout.ms": int(publish_timeout * 1000),
            "queue.buffering.max.messages": 200_000,
        }))
        self._raw_topic = kafka.topic(RAW)
        self._contacts_topic = kafka.topic(CONTACTS)
        self._dlq_topic = kafka.topic(DEADLETTER)
        self._pollers: dict[asyncio.AbstractEventLoop, _LoopPoller] = {}

    def _poller(self, loop: asyncio.AbstractEventLoop) -> _LoopPoller:
        poller = self._pollers.get(loop)
        if poller is None:
            for old in [lp for lp in list(self._pollers) if lp.is_closed()]:
                self._pollers.pop(old, None)
            poller = self._pollers[loop] = _LoopPoller(self._producer, loop, self._poll_interval)
        return poller

    async def _send(self, items: Iterable[tuple[str, str | None, Envelope]]) -> None:
        """Produce the records and return once Kafka acknowledged every one (acks=all)."""
        records = [(topic, event.encode(), key) for topic, key, event in items]
        loop = asyncio.get_running_loop()
        acks = _Acks(loop, len(records))
        produce = self._producer.produce
        for topic, value, key in records:
            try:
                produce(topic, value=value, key=key, on_delivery=acks.on_delivery)
            except BufferError as exc:
                acks.fut.cancel()  # records already queued still land; nobody waits for them
                raise PublishUnavailable("producer queue full") from exc
        self._poller(loop).watch(time.monotonic() + self._timeout + 1.0, acks.fut)
        await acks.fut

    async def publish_contact(self, contact: Contact, raw: RawPayload, source: str) -> ContactEvent:
        """Publish the raw payload and the contact; returns the event once both are durable."""
        event_id = contact_event_id(contact)
        contact.raw_ref = contact.raw_ref or f"kafka:{self._raw_topic}/{event_id}"
        event = ContactEvent(id=event_id, source=source, time=contact.received_at, data=contact)
        raw_event = RawPayloadEvent(id=event_id, source=source, time=raw.received_at, data=raw)
        await self._send([(self._raw_topic, event_id, raw_event), (self._contacts_topic, event.dedup_key, event)])
        return event

    async def publish_raw(self, raw: RawPayload, source: str, event_id: str, key: str | None = None) -> None:
        """Keep a payload that does not (yet) make a contact, e.g. a phone call's intermediate events.

        ``key`` defaults to ``event_id``; a phone call's events use the call's contact event id
        as key, so they sit in one partition, in order, under the contact's ``raw_ref``.
        """
        event = RawPayloadEvent(id=event_id, source=source, time=raw.received_at, data=raw)
        await self._send([(self._raw_topic, key or event_id, event)])

    async def dead_letter(self, letter: DeadLetter, source: str) -> str:
        event = DeadLetterEvent(source=source, data=letter)
        await self._send([(self._dlq_topic, None, event)])
        return event.id

    def ready(self, timeout: float = 2.0) -> bool:
        """True when the cluster answers a metadata request (readiness probe)."""
        try:
            self._producer.list_topics(self._contacts_topic, timeout=timeout)
            return True
        except Exception:
            return False

    def close(self, timeout: float = 10.0) -> None:
        """Wait for every queued record's acknowledgement (serving the reports here), up to ``timeout``,
        then let go of the brokers: an unclosed producer keeps reconnecting until it is garbage-collected."""
        self._producer.flush(timeout)
        self._producer.purge()  # what is still queued fails now, not at message.timeout.ms
        self._producer.poll(0)  # and its delivery reports are served
        self._producer.close()
