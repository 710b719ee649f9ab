"""``intake replay``: re-run a time range of history through chosen rules and SLA policy.

One mechanism, all on Kafka, with the stream worker's own code:

1. The range of the live CONTACTS and LIFECYCLE topics is read by assignment (no group, no
   commit: the live consumer groups never notice) and fed, in log order, into run-scoped
   topics under ``<live prefix>.replay.<run id>`` (same keys, values, timestamps and
   partitions; the source offset rides in a header).
2. A real worker (``streams.worker``) runs as a subprocess on the run prefix with its own
   app id / consumer group (``<live app id>-replay-<run id>``), data directory and web port,
   the chosen ``INTAKE_STREAMS_RULES_DIR`` / ``INTAKE_STREAMS_SLA_POLICY``, and
   ``INTAKE_STREAMS_CLOCK=event`` so SLA clocks run on event time (:mod:`streams.sla.clock`).
3. Order is kept where it matters: a lifecycle event is written only once every contact
   before it has reached the SLA command topic, so a desk action can never overtake the
   contact that opened its case (live, minutes separate them; in a replay, milliseconds).
   At the end a watermark at ``--to`` goes to every command partition, so clocks due
   before the end of the range fire as they did live.
4. Progress (events done / total, rate, ETA) is printed while it runs. Ctrl-C stops the
   feed and the worker cleanly; running the same ``--run-id`` again resumes: the feed goes
   on after the last copied offset, a fresh worker re-reads the run topics (resume_attempt).
5. Live and replayed results are compared (:mod:`intake.replay_compare`).
"""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer, TopicPartition

from schemas.admin import ensure_topics
from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS, DEADLETTER, LIFECYCLE
from streams.packing import unpack
from streams.settings import StreamSettings
from streams.sla.clock import LIFECYCLE_COMMAND, PARTITIONS, ROUTED_COMMAND, commands_topic, watermark

from . import kafka_range
from .kafka_range import Record

REPO = Path(__file__).resolve().parents[1]
SOURCE_HEADER = "x-replay-source-offset"
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class ReplayInterrupted(Exception):
    """Ctrl-C: the feed and the worker stopped cleanly; the same run id resumes."""


@dataclass(frozen=True)
class Plan:
    """Where a run reads, where it writes, and with which rules."""

    run_id: str
    range_from: datetime
    range_to: datetime
    live: KafkaSettings
    live_app_id: str
    rules_dir: Path | None = None
    sla_policy: Path | None = None
    workdir: Path = Path(".data/replay")
    attempt: int = 1  # a resumed run's worker starts afresh under a new identity (see resume_attempt)

    def __post_init__(self) -> None:
        if not RUN_ID.match(self.run_id):
            raise ValueError(f"run id {self.run_id!r}: use 1-40 letters, digits, '-' or '_'")
        if self.range_to <= self.range_from:
            raise ValueError("--to must be after --from")

    @property
    def run(self) -> KafkaSettings:
        return self.live.model_copy(update={"topic_prefix": f"{self.live.topic_prefix}.replay.{self.run_id}"})

    @property
    def app_id(self) -> str:
        suffix = f"-a{self.attempt}" if self.attempt > 1 else ""
        return f"{self.live_app_id}-replay-{self.run_id}{suffix}"

    @property
    def directory(self) -> Path:
        return self.workdir / self.run_id

    @property
    def worker_directory(self) -> Path:
        return self.directory / f"attempt-{self.attempt}"

    @property
    def from_ms(self) -> int:
        return int(self.range_from.timestamp() * 1000)

    @property
    def to_ms(self) -> int:
        return int(self.range_to.timestamp() * 1000)


def contact_id(value: bytes | None) -> str | None:
    try:
        return str(orjson.loads(value or b"")["id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


# ---- the input: live range, minus what a previous attempt already copied ------------------
@dataclass
class Input:
    todo: list[Record]          # records still to copy, in log order
    contact_ids: set[str]       # distinct contact ids of the whole range
    lifecycle: int              # lifecycle records of the whole range
    copied: set[str]            # contact ids a previous attempt already copied
    copied_records: int = 0     # records a previous attempt already copied

    @property
    def total(self) -> int:
        return len(self.contact_ids) + self.lifecycle


def pending_input(plan: Plan) -> Input:
    """The range of the live topics, and what is left to copy after the last source offset copied."""
    todo: list[Record] = []
    ids: set[str] = set()
    copied: set[str] = set()
    lifecycle = done = 0
    for spec in (CONTACTS, LIFECYCLE):
        last = kafka_range.last_records(plan.run, plan.run.topic(spec))
        starts = {p: int(dict(r.headers)[SOURCE_HEADER]) + 1 for p, r in last.items() if SOURCE_HEADER in dict(r.headers)}
        records = kafka_range.read(plan.live, plan.live.topic(spec), plan.from_ms, plan.to_ms)
        left = [r for r in records if r.offset >= starts.get(r.partition, 0)]
        todo.extend(left)
        done += len(records) - len(left)
        if spec is CONTACTS:
            for r in records:
                if (cid := contact_id(r.value)) is not None:
                    ids.add(cid)
                    if r.offset < starts.get(r.partition, 0):
                        copied.add(cid)
        else:
            lifecycle = len(records)
    # log order across both topics: time, then contacts before lifecycle, then partition and offset
    contacts_topic = plan.live.topic(CONTACTS)
    todo.sort(key=lambda r: (r.timestamp_ms, r.topic != contacts_topic, r.partition, r.offset))
    return Input(todo, ids, lifecycle, copied, done)


# ---- what the run's worker has taken in ----------------------------------------------------
@dataclass
class Seen:
    contacts: set[str] = field(default_factory=set)   # contact ids on the command topic or dead-lettered
    lifecycle: int = 0                                  # lifecycle commands (or their dead letters)


class Observer(threading.Thread):
    """Reads the run's SLA command topic and dead letters: which inputs the worker has taken in."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(daemon=True, name=f"replay-observer-{plan.run_id}")
        self.plan, self.seen, self.lock = plan, Seen(), threading.Lock()
        self.stopping = threading.Event()

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return len(self.seen.contacts), self.seen.lifecycle

    def done(self) -> int:
        contacts, lifecycle = self.snapshot()
        return contacts + lifecycle

    def has(self, ids: set[str]) -> bool:
        with self.lock:
            return ids <= self.seen.contacts

    def run(self) -> None:
        consumer = kafka_range.reader(self.plan.run)
        topics = [commands_topic(self.plan.app_id), self.plan.run.topic(DEADLETTER)]
        try:
            while not self.stopping.is_set() and not kafka_range.partitions_of(consumer, topics[0], 2.0):
                time.sleep(0.2)  # the worker creates its command topic when it starts
            consumer.assign([TopicPartition(t, p, 0) for t in topics for p in kafka_range.partitions_of(consumer, t)])
            while not self.stopping.is_set():
                for msg in consumer.consume(500, 0.2):
                    if not msg.error() and msg.value():
                        for value in unpack(msg.value()):  # the worker packs its commands (streams/packing.py)
                            self._take(msg.topic() == topics[0], value)
        finally:
            consumer.close()

    def _take(self, command: bool, value: bytes) -> None:
        with self.lock:
            if command and value[:1] == ROUTED_COMMAND:
                cid = orjson.loads(value[1:])["data"]["contact_id"]
                self.seen.contacts.add(cid)
            elif command and value[:1] == LIFECYCLE_COMMAND:
                self.seen.lifecycle += 1
            elif not command:
                letter = orjson.loads(value)["data"]
                stage = letter.get("stage", "")
                if stage == "agent:sla_rekey_lifecycle":
                    self.seen.lifecycle += 1
                elif stage in ("agent:route_ingress", "agent:route_cases"):
                    cid = contact_id(letter.get("payload", "").encode())
                    if cid:
                        self.seen.contacts.add(cid)


# ---- progress ---------------------------------------------------------------------------------
class Progress:
    """events done / total, rate and ETA, on one line (rewritten on a terminal)."""

    def __init__(self, run_id: str, total: int, out: Callable[[str], None] | None = None) -> None:
        self.run_id, self.total, self.started = run_id, total, time.monotonic()
        self.samples: list[tuple[float, int]] = []
        self.tty = sys.stderr.isatty()
        self.out = out or self._write
        self.last_print = 0.0
        self.fed = 0  # records copied into the run topics (this attempt and earlier ones)

    def _write(self, line: str) -> None:
        sys.stderr.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        sys.stderr.flush()

    def line(self, done: int, stage: str) -> str:
        done, now = min(done, self.total), time.monotonic()
        self.samples = [(t, d) for t, d in self.samples if now - t <= 10.0] + [(now, done)]
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        rate = (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0
        left = max(self.total - done, 0)
        eta = f"{left / rate:.0f}s" if rate > 0 else ("0s" if not left else "?")
        share = 100.0 * done / self.total if self.total else 100.0
        return (f"replay {self.run_id}: {done}/{self.total} events ({share:.0f}%), {rate:.1f}/s, ETA {eta}, "
                f"{now - self.started:.0f}s elapsed, {self.fed} fed [{stage}]")

    def show(self, done: int, stage: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_print >= (0.25 if self.tty else 1.0):
            self.last_print = now
            self.out(self.line(done, stage))


# ---- the worker ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReplayWorker:
    """``streams.worker`` on the run prefix, event-time clocks, its own group / data dir / port."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.log_path = plan.worker_directory / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               "INTAKE_KAFKA_TOPIC_PREFIX": self.plan.run.topic_prefix,
               "INTAKE_KAFKA_BOOTSTRAP_SERVERS": self.plan.live.bootstrap_servers,
               "INTAKE_STREAMS_APP_ID": self.plan.app_id, "INTAKE_STREAMS_CLOCK": "event",
               "INTAKE_STREAMS_DATADIR": str((self.plan.worker_directory / "streams").resolve()),
               "INTAKE_STREAMS_WEB_PORT": str(free_port())}
        if self.plan.rules_dir is not None:
            env["INTAKE_STREAMS_RULES_DIR"] = str(self.plan.rules_dir.resolve())
        if self.plan.sla_policy is not None:
            env["INTAKE_STREAMS_SLA_POLICY"] = str(self.plan.sla_policy.resolve())
        return env

    def start(self) -> None:
        self.plan.worker_directory.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # own session: a terminal's Ctrl-C reaches the driver, which stops the worker cleanly
        self.proc = subprocess.Popen([sys.executable, "-c", "from streams.worker import main; main()"], cwd=REPO,
                                     env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"replay worker exited with {self.proc.returncode}; log {self.log_path}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM: Faust commits its offsets and flushes its tables, so the run can resume."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# ---- the run ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    contacts: int
    lifecycle: int
    contact_ids: set[str]
    seconds: float


class CtrlC:
    """Ctrl-C as a request the run honours between steps, where it can stop cleanly.

    Python's own handler raises KeyboardInterrupt wherever the main thread is, C extensions
    included: raised inside confluent-kafka's ``produce`` (while it converts the header keys)
    it came out as a TypeError, and the run ended with a traceback instead of a clean stop.
    A second Ctrl-C interrupts at once.
    """

    def __init__(self) -> None:
        self.pressed = False
        self._installed = False
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        self._installed = threading.current_thread() is threading.main_thread()  # signals reach the main thread only
        if self._installed:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:  # None: a handler not set from Python, which the default stands for
            signal.signal(signal.SIGINT, signal.default_int_handler if self._previous is None else self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def check(self) -> None:
        if self.pressed:
            raise KeyboardInterrupt


@dataclass
class _Run:
    """What the feed and the waits share."""

    plan: Plan
    worker: ReplayWorker
    observer: Observer
    progress: Progress
    ctrl_c: CtrlC

    def step(self, stage: str) -> None:
        """Between two steps: a Ctrl-C or a dead worker ends the run here; the progress line moves."""
        self.ctrl_c.check()
        self.worker.check()
        self.progress.show(self.observer.done(), stage)


def _feed(run: _Run, producer: Producer, todo: list[Record], written: set[str], rate: float,
          barrier_timeout: float) -> None:
    contacts_topic = run.plan.live.topic(CONTACTS)
    started = time.monotonic()
    for sent, record in enumerate(todo, 1):
        if record.topic != contacts_topic:  # a desk action: the contacts before it must be in first
            _wait(run, lambda: run.observer.has(written), barrier_timeout, "ordering")
        spec = CONTACTS if record.topic == contacts_topic else LIFECYCLE
        producer.produce(run.plan.run.topic(spec), key=record.key, value=record.value, partition=record.partition,
                         timestamp=record.timestamp_ms,
                         headers=[*(h for h in record.headers if h[0] != SOURCE_HEADER),
                                  (SOURCE_HEADER, str(record.offset).encode())])
        if spec is CONTACTS and (cid := contact_id(record.value)):
            written.add(cid)
        run.progress.fed += 1
        producer.poll(0)
        if spec is LIFECYCLE:
            producer.flush(30)
        if rate > 0:
            time.sleep(max(0.0, started + sent / rate - time.monotonic()))
        run.step("feeding")
    if producer.flush(30):
        raise RuntimeError("could not write every replayed record to Kafka")


def _wait(run: _Run, condition: Callable[[], bool], timeout: float, stage: str) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        run.step(stage)
        if time.monotonic() > deadline:
            run.progress.out(f"replay {run.progress.run_id}: gave up waiting ({stage}) after {timeout:.0f}s; going on")
            return False
        time.sleep(0.02)
    return True


def _quiet(run: _Run, timeout: float) -> None:
    """Until the worker's group has committed everything on every topic it reads, twice in a row."""
    plan = run.plan
    prefixes = (plan.run.topic_prefix + ".", plan.app_id + "-")
    deadline, calm = time.monotonic() + timeout, 0
    while calm < 2:
        run.step("settling")
        committed = kafka_range.group_offsets(plan.run, plan.app_id)
        topics = {t for t, _ in committed if t.startswith(prefixes)}
        ends = kafka_range.end_offsets(plan.run, topics)
        settled = bool(committed) and all(committed.get(tp, 0) >= end for tp, end in ends.items())
        calm = calm + 1 if settled else 0
        if time.monotonic() > deadline:
            raise TimeoutError(f"replay worker did not settle within {timeout:.0f}s (see {run.worker.log_path})")
        time.sleep(0.5)


def resume_attempt(plan: Plan) -> Plan:
    """The plan for this attempt: the first, or one more than the attempts already on the broker.

    A resumed run copies on from where the feed stopped, but its worker starts afresh (new group,
    tables and internal topics) and re-reads the run topics from the start. Resuming a Faust
    worker's group after a stop in the middle of a batch was seen to skip input (at-least-once
    across take() batches and a SIGTERM); re-reading costs little next to the copy, and event
    ids are deterministic, so the re-emitted verdicts carry the ids of the first attempt and the
    comparison (which deduplicates by id) is unaffected.
    """
    from confluent_kafka.admin import AdminClient

    pattern = re.compile(rf"^{re.escape(plan.live_app_id)}-replay-{re.escape(plan.run_id)}(-a\d+)?-sla-commands$")
    names = AdminClient(plan.live.confluent()).list_topics(timeout=10).topics
    return dataclasses.replace(plan, attempt=1 + sum(1 for t in names if pattern.match(t)))


def run_replay(plan: Plan, rate: float = 0.0, barrier_timeout: float = 60.0, settle_timeout: float = 180.0,
               progress_out: Callable[[str], None] | None = None) -> Outcome:
    """Feed the range through a replay worker until every verdict is in. Ctrl-C raises
    ReplayInterrupted after stopping the feed and the worker cleanly: the same run id resumes."""
    begun = time.monotonic()
    ensure_topics(plan.run)
    plan = resume_attempt(plan)
    data = pending_input(plan)
    written = set(data.copied)
    progress = Progress(plan.run_id, data.total, progress_out)
    progress.fed = data.copied_records
    worker, observer = ReplayWorker(plan), Observer(plan)
    producer = Producer(plan.run.confluent(**{"enable.idempotence": True, "acks": "all", "linger.ms": 5}))
    with CtrlC() as ctrl_c:
        run = _Run(plan, worker, observer, progress, ctrl_c)
        worker.start()
        observer.start()
        try:
            _feed(run, producer, data.todo, written, rate, barrier_timeout)
            _wait(run, lambda: observer.has(written) and observer.snapshot()[1] >= data.lifecycle, barrier_timeout,
                  "draining")
            _end_of_range(plan, producer)
            progress.show(observer.done(), "settling", force=True)
            _quiet(run, settle_timeout)
            progress.show(observer.done(), "done", force=True)
        except KeyboardInterrupt:
            producer.flush(30)
            progress.show(observer.done(), "interrupted", force=True)
            raise ReplayInterrupted(f"replay {plan.run_id} interrupted; run it again with --run-id {plan.run_id} "
                                    "to resume") from None
        finally:
            observer.stopping.set()
            worker.stop()
            observer.join(10)
    return Outcome(len(data.contact_ids), data.lifecycle, data.contact_ids, time.monotonic() - begun)


def _end_of_range(plan: Plan, producer: Producer) -> None:
    """A watermark at ``--to`` on every command partition: clocks due in the range fire."""
    at = plan.range_to.timestamp()
    for p in range(PARTITIONS):
        producer.produce(commands_topic(plan.app_id), key=None, value=watermark(at, p), partition=p)
    if producer.flush(30):
        raise RuntimeError("could not write the end-of-range watermarks")


def drop_run(live: KafkaSettings, live_app_id: str, run_id: str) -> list[str]:
    """Delete a run's topics (the catalog copy and the replay worker's internal ones)."""
    from confluent_kafka.admin import AdminClient

    prefixes = (f"{live.topic_prefix}.replay.{run_id}.", f"{live_app_id}-replay-{run_id}-")
    admin = AdminClient(live.confluent())
    doomed = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefixes)]
    for future in admin.delete_topics(doomed, operation_timeout=30).values() if doomed else ():
        future.result()
    return doomed


def default_live_app_id() -> str:
    return StreamSettings().app_id
