"""Durable publishing for every connector: an idempotent confluent-kafka producer.

A connector answers 2xx only after Kafka acknowledged both the raw payload and the
normalized contact (``acks=all``). If the cluster cannot acknowledge within
``publish_timeout`` the caller gets :class:`PublishUnavailable` and answers 503 with
Retry-After; the provider's retry carries the same provider message id, so it maps to
the same event id and collapses downstream.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable

from confluent_kafka import KafkaError, Message, Producer

from schemas import (DEADLETTER, RAW, Contact, ContactEvent, DeadLetter, DeadLetterEvent, Envelope, RawPayload,
                     RawPayloadEvent, stable_event_id)
from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS


class PublishUnavailable(RuntimeError):
    """Kafka did not acknowledge in time: nothing may be acknowledged to the sender."""


def contact_event_id(contact: Contact) -> str:
    return stable_event_id(contact.channel, contact.provider_message_id)


class Publisher:
    """One producer per process, shared by every channel; safe to call from the event loop."""

    def __init__(self, kafka: KafkaSettings, publish_timeout: float = 10.0, linger_ms: int = 2) -> None:
        self._kafka = kafka
        self._timeout = publish_timeout
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
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def _send(self, items: Iterable[tuple[str, str | None, Envelope]]) -> None:
        loop = asyncio.get_running_loop()
        futures = []
        for topic, key, event in items:
            fut: asyncio.Future[None] = loop.create_future()

            def on_delivery(err: KafkaError | None, _msg: Message, fut: asyncio.Future[None] = fut) -> None:
                def settle() -> None:
                    if fut.done():
                        return
                    if err is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(PublishUnavailable(str(err)))
                loop.call_soon_threadsafe(settle)

            try:
                self._producer.produce(topic, value=event.encode(), key=key, on_delivery=on_delivery)
            except BufferError as exc:
                raise PublishUnavailable("producer queue full") from exc
            futures.append(fut)
        try:
            await asyncio.wait_for(asyncio.gather(*futures), timeout=self._timeout + 1.0)
        except asyncio.TimeoutError as exc:
            raise PublishUnavailable("Kafka did not acknowledge in time") from exc

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
        self._producer.flush(timeout)
        self._stop.set()
        self._poller.join(timeout=1.0)
