"""The sink loop: Kafka topic-partitions -> batches -> idempotent ClickHouse inserts -> offset commit.

Exactly-once in ClickHouse on top of at-least-once Kafka delivery:

1. Records are batched **per topic-partition**; a batch is cut by size or age and named
   ``<topic>@<topic id>/<partition>/<first>-<last>``. The topic id (Kafka's, one per topic as
   created) tells a topic deleted and created again from the one before: its offsets start at 0
   again, and a name without it would match the plans and stored rows of the old topic's
   batches, so the new records would be verified away as stored (lost, silently).
2. Before inserting, the batch's offset range ``[first, last]`` is written to ``sink_progress``
   (the *plan*).
3. The batches ready at once are inserted together, one block per table, every row carrying
   its batch's name (:mod:`sinks.writer`).
4. Only then are offsets committed (``last + 1``, synchronously).

Plans and inserts run on one writer thread, one block in flight: while ClickHouse stores a
block (its engine works without the GIL), this thread consumes and builds the rows of the next
one. Each insert attempt writes its batches' plan first, and a rebalance waits for an attempt in
progress, so a partition's next owner never races an insert of its rows.

A crash anywhere after 2 leaves a plan whose range starts at or after the committed offset.
After a restart (or on the new owner after a rebalance) the first records seen for a
partition look up those plans and the batcher cuts **exactly the same ranges** again, so the
replayed batches carry the same names; they are verified before the insert, and each table
drops the rows of the batches it already holds. Age and size never decide a replayed cut, so
timing cannot change it. Crash before 2: nothing was inserted, any new cut is fine.

ClickHouse unreachable: the batches are kept in memory, assigned partitions are paused (the
consumer keeps polling so it stays in the group), inserts are retried with capped exponential
back-off (every retry verified, as a replay is), then consumption resumes. Nothing is skipped: offsets only
move past a batch once it is stored. A record that cannot be decoded or mapped becomes a
``dead_letters`` row (with the cause and payload) inside the same batch; the batch continues.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from schemas import KafkaSettings, stable_event_id, utcnow
from schemas.admin import TopicIds

from . import metrics
from .pii import Protector
from .rows import BUILDERS, Builder, Row, poison
from .settings import SinkSettings
from .writer import Writer

log = logging.getLogger(__name__)
TP = tuple[str, int]


@dataclass
class Batch:
    topic: str
    partition: int
    first: int
    opened: float
    replay_until: int | None = None  # last offset of a recorded plan: cut exactly there
    log: str = ""  # the topic as created (``topic@id``, :meth:`SinkLoop._log`); the topic name by default
    messages: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log = self.log or self.topic

    @property
    def last(self) -> int:
        return self.messages[-1].offset()

    @property
    def token(self) -> str:
        return f"{self.log}/{self.partition}/{self.first}-{self.last}"


class Batcher:
    """Per topic-partition batches whose boundaries are reproducible after a restart."""

    def __init__(self, max_rows: int, max_seconds: float, planned: Callable[[str, int, int], list[tuple[int, int]]],
                 log_of: Callable[[str], str] = str):
        """``planned(log, partition, offset)``: the recorded plans; ``log_of(topic)``: the topic as created."""
        self.max_rows, self.max_seconds, self._planned, self._log_of = max_rows, max_seconds, planned, log_of
        self.open: dict[TP, Batch] = {}
        self.ready: list[Batch] = []
        self.plans: dict[TP, deque[tuple[int, int]]] = {}

    def add(self, message: Message, now: float) -> None:
        tp, offset = (message.topic(), message.partition()), message.offset()
        if tp not in self.plans:  # first record since (re)assignment: it sits at the committed offset
            self.plans[tp] = deque(self._planned(self._log_of(tp[0]), tp[1], offset))
        batch = self.open.get(tp)
        if batch is None:
            plans, topic_log = self.plans[tp], self._log_of(tp[0])
            while plans and plans[0][1] < offset:
                plans.popleft()
            if plans and plans[0][0] <= offset:
                first, last = plans.popleft()
                log.info("replaying planned batch %s[%d] %d-%d (same cut, same name, verified)", *tp, first, last)
                batch = Batch(tp[0], tp[1], first, now, replay_until=last, log=topic_log)
            else:
                batch = Batch(tp[0], tp[1], offset, now, log=topic_log)
            self.open[tp] = batch
        batch.messages.append(message)
        done = offset >= batch.replay_until if batch.replay_until is not None else len(batch.messages) >= self.max_rows
        if done:
            self.ready.append(self.open.pop(tp))

    def take(self, now: float) -> list[Batch]:
        for tp, batch in list(self.open.items()):
            if batch.replay_until is None and now - batch.opened >= self.max_seconds:
                self.ready.append(self.open.pop(tp))
        ready, self.ready = self.ready, []
        return ready

    def forget(self, tps: set[TP]) -> None:
        """Revoked partitions: drop their uncommitted batches; the next owner replays the plans."""
        for tp in tps:
            self.open.pop(tp, None)
            self.plans.pop(tp, None)
        self.ready = [b for b in self.ready if (b.topic, b.partition) not in tps]


class _Held:
    """While the loop waits on ClickHouse: it stays in the group but takes no more records.

    ``serve`` pauses the assigned partitions on first use and polls (callbacks, heartbeats);
    leaving the block resumes them. Without a consumer (the writer thread) it only sleeps.
    """

    def __init__(self, loop: SinkLoop, consumer: Consumer | None) -> None:
        self.loop, self.consumer, self.paused = loop, consumer, False

    def __enter__(self) -> _Held:
        return self

    def serve(self, timeout: float = 0.1) -> None:
        if self.consumer is None:
            time.sleep(timeout)
            return
        if not self.paused:
            self.consumer.pause([TopicPartition(t, p) for t, p in self.loop.assigned])
            self.paused = True
        self.loop._consume(self.consumer, timeout=timeout)  # paused partitions yield nothing

    def __exit__(self, *exc: object) -> None:
        if self.paused:
            self.consumer.resume([TopicPartition(t, p) for t, p in self.loop.assigned])  # type: ignore[union-attr]


class SinkLoop:
    def __init__(self, settings: SinkSettings, kafka: KafkaSettings, writer: Writer) -> None:
        self.settings, self.kafka, self.writer = settings, kafka, writer
        self.protect = Protector(settings.pii_policy, settings.pii_key.get_secret_value())
        self.builders: dict[str, Builder] = {kafka.topic(spec): build for spec, build in BUILDERS.items()}
        self.batcher = Batcher(settings.batch_max_rows, settings.batch_max_seconds, self._planned, self._log)
        self._logs: dict[str, str] = {}  # topic -> topic@id, for the current assignment
        self._topic_id = TopicIds(kafka)
        self.assigned: set[TP] = set()
        self.committed: dict[TP, int] = {}
        self.running = False
        self.backend_ok = True  # the service builds the loop once its migrations went through
        metrics.BACKEND_UP.set(1)  # an idle sink must not read as a broken backend (alert SinkBackendDown)
        self._consumer: Consumer | None = None
        self._next_lag = 0.0
        self._attempt = threading.Lock()  # held by the writer thread for one insert attempt
        self._inserts: ThreadPoolExecutor | None = None
        self._in_flight: tuple[Future[list[Batch] | None], float] | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        consumer = self._consumer = Consumer(self.kafka.confluent(**{
            "group.id": self.settings.group_id, "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": False, "max.poll.interval.ms": 600_000,
            "session.timeout.ms": int(self.settings.session_timeout_seconds * 1000)}))
        consumer.subscribe(list(self.builders), on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_revoke)
        self._inserts = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-insert")
        self.running = True
        try:
            while not stop.is_set():
                self._consume(consumer, timeout=min(0.2, self.settings.batch_max_seconds))
                self._complete(consumer, stop, block=False)
                ready = self.batcher.take(time.monotonic())
                if ready:
                    self._flush(consumer, ready, stop)
                self._update_lag(consumer)
        finally:
            try:
                self._complete(consumer, stop, block=True)  # stored meanwhile: committed; still retrying: replayed
            finally:
                self._inserts.shutdown()
                self.running = False
                consumer.close()

    def _consume(self, consumer: Consumer, timeout: float) -> None:
        now = time.monotonic()
        for message in consumer.consume(num_messages=self.settings.batch_max_rows, timeout=timeout):
            error = message.error()
            if error is None:
                self.batcher.add(message, now)
            elif error.code() != KafkaError._PARTITION_EOF:
                metrics.ERRORS.labels("consume").inc()
                log.warning("consume error: %s", error)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned = self.assigned | {(p.topic, p.partition) for p in partitions}
        for p in partitions:  # a topic deleted and created again comes back in a new assignment
            self._logs.pop(p.topic, None)

    def _log(self, topic: str) -> str:
        """``topic@<topic id>``: what batch names and plans are keyed by (module docstring, step 1)."""
        found = self._logs.get(topic)
        if found is None:
            created = self._topic_id(topic)
            found = self._logs[topic] = f"{topic}@{created}" if created else topic
        return found

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(p.topic, p.partition) for p in partitions}
        with self._attempt:  # the insert attempt in progress ends first; the next one leaves these out
            self.assigned = self.assigned - gone
        self.batcher.forget(gone)
        for topic, partition in gone:  # its new owner reports it: a frozen figure here would add a phantom backlog
            try:
                metrics.LAG.remove(topic, str(partition))
            except KeyError:
                pass  # never reported (revoked before its first lag update)

    # -- writing -------------------------------------------------------------------------
    def _planned(self, topic_log: str, partition: int, offset: int) -> list[tuple[int, int]]:
        return self._retry(lambda: self.writer.planned(topic_log, partition, offset), "plan-read", None, None) or []

    def _flush(self, consumer: Consumer, batches: list[Batch], stop: threading.Event) -> None:
        """Build the rows (the block before is being inserted meanwhile), then hand the block over."""
        started = time.perf_counter()
        rows = {b.token: self._rows(b) for b in batches}
        if not self._complete(consumer, stop, block=True):  # one block in flight: memory stays bounded
            return
        assert self._inserts is not None
        self._in_flight = self._inserts.submit(self._insert, batches, rows, stop), started

    def _insert(self, batches: list[Batch], rows: dict[str, dict[str, list[Row]]],
                stop: threading.Event) -> list[Batch] | None:
        """On the writer thread: plan, then insert, until stored (or stopping); returns the batches written.

        The plan is written here, not on the loop thread: chdb runs one statement at a time, so a
        plan written there waited for the block in flight, and the loop thread with it.
        """
        maybe_stored = {b.token for b in batches if b.replay_until is not None}

        def attempt() -> list[Batch]:
            with self._attempt:
                # a partition revoked meanwhile (during an outage) is left out: its next owner replays the plan
                live = [b for b in batches if (b.topic, b.partition) in self.assigned]
                self.writer.plan([(b.log, b.partition, b.first, b.last) for b in live if b.replay_until is None])
                try:
                    self.writer.write([(b.token, rows[b.token]) for b in live], maybe_stored)
                finally:
                    maybe_stored.update(rows)  # a retry may find any of them stored by the attempt that failed
            return live

        return self._retry(attempt, "insert", None, stop)  # type: ignore[return-value]

    def _complete(self, consumer: Consumer, stop: threading.Event, block: bool) -> bool:
        """Commit the block in flight once stored; ``block`` waits for it, serving the group meanwhile.

        False when the block was not stored because the loop is stopping.
        """
        if self._in_flight is None:
            return True
        future, started = self._in_flight
        if not future.done():
            if not block:
                return True
            with _Held(self, consumer) as group:
                while True:
                    try:
                        future.result(timeout=0.2)
                        break
                    except TimeoutError:  # slow or retrying
                        group.serve()
        self._in_flight = None
        written = future.result()
        if written is None:
            return False
        self.writer.fault.after_inserts()
        self._commit(consumer, written)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        return True

    def _rows(self, batch: Batch) -> dict[str, list[Row]]:
        build = self.builders[batch.topic]
        tables: dict[str, list[Row]] = {}
        for message in batch.messages:
            try:
                pairs = list(build(message.value() or b"", self.protect))
            except Exception as exc:  # poison: keep it, with the cause, and go on
                metrics.DEAD_LETTERS.labels(batch.topic).inc()
                pairs = [("dead_letters", poison(
                    topic=batch.topic, partition=batch.partition, offset=message.offset(), key=message.key(),
                    value=message.value(), error=exc, at=utcnow(),
                    event_id=stable_event_id("sink", batch.log, str(batch.partition), str(message.offset()))))]
            for table, row in pairs:
                tables.setdefault(table, []).append(row)
        return tables

    def _commit(self, consumer: Consumer, batches: list[Batch]) -> None:
        live = [b for b in batches if (b.topic, b.partition) in self.assigned]
        if not live:
            return
        try:
            consumer.commit(offsets=[TopicPartition(b.topic, b.partition, b.last + 1) for b in live],
                            asynchronous=False)
        except KafkaException as exc:  # e.g. rebalance in progress: the plans make the replay exact
            metrics.ERRORS.labels("commit").inc()
            log.warning("offset commit failed (batches will be replayed idempotently): %s", exc)
            return
        for batch in live:
            self.committed[(batch.topic, batch.partition)] = batch.last + 1
            metrics.BATCHES.labels(batch.topic).inc()

    def _retry(self, action: Callable[[], object], kind: str, consumer: Consumer | None,
               stop: threading.Event | None) -> object | None:
        """Run ``action`` until it succeeds; None when stopping. Polls (paused) meanwhile."""
        delay = 0.1
        with _Held(self, consumer) as group:
            while True:
                try:
                    result = action()
                    self.backend_ok = True
                    metrics.BACKEND_UP.set(1)
                    return True if result is None else result
                except Exception as exc:
                    self.backend_ok = False
                    metrics.BACKEND_UP.set(0)
                    metrics.ERRORS.labels(kind).inc()
                    log.warning("ClickHouse %s failed, retrying in %.1fs: %s", kind, delay, exc)
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:
                    if stop is not None and stop.is_set():
                        return None
                    group.serve()
                delay = min(delay * 2, self.settings.backoff_max_seconds)

    # -- observability -------------------------------------------------------------------
    def _update_lag(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now < self._next_lag:
            return
        self._next_lag = now + 5.0
        for topic, partition in list(self.assigned):
            try:  # cached: the high watermark of the last fetch response, no broker round trip
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            except KafkaException:
                continue
            done = self.committed.get((topic, partition))
            if done is not None and high >= 0:
                metrics.LAG.labels(topic, str(partition)).set(max(0, high - done))

    def status(self) -> dict[str, object]:
        return {"running": self.running, "backend_ok": self.backend_ok, "assigned": len(self.assigned),
                "committed": {f"{t}[{p}]": o for (t, p), o in sorted(self.committed.items())}}
