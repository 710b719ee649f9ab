"""Helpers shared by the benchmarks: processes, free ports, topic prefixes, message counts."""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from schemas.admin import ensure_topics
from schemas.settings import KafkaSettings

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: prefixes of the topics this process created (:func:`fresh_kafka`), until :func:`drop_fresh_topics`
_FRESH: list[KafkaSettings] = []


def fresh_kafka() -> KafkaSettings:
    """A KafkaSettings with a new topic prefix, topics created; ``python -m bench`` drops them after the benchmark."""
    subprocess.run([str(REPO / "deploy" / "kafka" / "kafka-local.sh"), "start"], check=True)
    settings = KafkaSettings(topic_prefix=f"bench{uuid.uuid4().hex[:8]}")
    ensure_topics(settings)
    _FRESH.append(settings)
    return settings


def drop_fresh_topics() -> int:
    """Delete the topics of every :func:`fresh_kafka` prefix: the catalog's and the workers' own (app ids start
    with the prefix). A broker that keeps every earlier run's topics and records grows and slows down run after
    run (239 topics and +350 MiB of broker RSS after a day's runs). Returns how many were deleted."""
    if not _FRESH:
        return 0
    prefixes = tuple(s.topic_prefix for s in _FRESH)
    admin = AdminClient(_FRESH[0].confluent())
    names = [t for t in admin.list_topics(timeout=30).topics if t.startswith(prefixes)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=60).values():
            future.result()
    _FRESH.clear()
    return len(names)


@contextmanager
def service(args: list[str], env: dict[str, str], ready_url: str | None = None, cpu: int | None = None,
            log: Path | None = None) -> Iterator[subprocess.Popen]:
    """Run ``intake <args>`` (optionally pinned to one CPU) until the block ends."""
    command = [sys.executable, "-m", "intake.cli", *args]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while ready_url and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(ready_url, timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"intake {args} exited with {proc.returncode}")
                time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def topic_message_count(settings: KafkaSettings, topic: str) -> int:
    """Messages in a topic (sum of high watermarks; the bench topics start empty)."""
    consumer = Consumer(settings.confluent(**{"group.id": "bench-count"}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        total = 0
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def _cpu_seconds(stat: Path) -> float:
    """User + system CPU seconds from a /proc ``stat`` file (a process's or one thread's)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process, all its threads (Linux /proc)."""
    return _cpu_seconds(Path(f"/proc/{pid}/stat"))


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds used so far by a process's live threads, summed by thread name (Linux /proc).

    Python threads carry the interpreter's name (``python``); librdkafka's are ``rdk:*``; chdb's
    engine names its own (``MergeMutate``, ``ThreadPool``, ...); the sink's insert thread shows as
    ``Unknown`` (chdb renames it: checked with py-spy against the thread ids)."""
    names: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name, seconds = (task / "comm").read_text().strip(), _cpu_seconds(task / "stat")
        except OSError:  # the thread ended meanwhile
            continue
        names[name] = names.get(name, 0.0) + seconds
    return names


def rss_mib(pid: int) -> float:
    """Resident set size of a process in MiB (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def wait_group(kafka: KafkaSettings, group: str, members: int, procs: list[subprocess.Popen],
               timeout: float = 120) -> float:
    """Wait until the consumer group is stable with ``members`` members; returns the seconds waited."""
    admin = AdminClient(kafka.confluent())
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"a worker exited with {p.returncode}")
        try:
            desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
            if desc.state.name == "STABLE" and len(desc.members) == members:
                return time.monotonic() - began
        except Exception:  # noqa: BLE001 - the group does not exist yet
            pass
        time.sleep(0.5)
    raise TimeoutError(f"consumer group {group} not stable with {members} members within {timeout:g} s")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0.5, 0.99, ...) of ``values``, at 0.1% resolution."""
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def sla_applied(metrics_url: str) -> int:
    """Routed contacts the SLA clock agent has applied, from a worker's /metrics (0 while it does not answer)."""
    return int(counter_total(metrics_url, "intake_sla_commands_total", 'kind="routed"'))


def counter_total(metrics_url: str, name: str, label: str = "") -> float:
    """The sum of counter ``name`` over its label sets (those containing ``label``) on a /metrics page,
    0 while it does not answer."""
    try:
        text = urllib.request.urlopen(metrics_url, timeout=2).read().decode()
    except OSError:
        return 0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((name + "{", name + " ")) and label in line)


def identity_hops_per_contact(metrics_url: str) -> float:
    """Messages on a worker's ``customers`` topic per contact it decided: each contact's first hop
    plus the identity walk's (``intake_routing_identity_hops_total``)."""
    decided = counter_total(metrics_url, "intake_routing_contacts_total")
    return (decided + counter_total(metrics_url, "intake_routing_identity_hops_total")) / max(decided, 1)


class CpuTicks(NamedTuple):
    """CPU ticks of the whole machine so far, all CPUs (Linux /proc/stat)."""

    steal: int  # the hypervisor's share
    busy: int  # everything but idle and iowait
    total: int


def cpu_ticks() -> CpuTicks:
    # user nice system idle iowait irq softirq steal (guest is inside user)
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(ticks[:8])
    return CpuTicks(steal=ticks[7], busy=total - ticks[3] - ticks[4], total=total)


def broker_pid() -> int | None:
    """The local broker's pid (``deploy/kafka/kafka-local.sh`` writes it), None if it has none."""
    home = Path(os.environ.get("KAFKA_HOME_DIR", REPO / ".data" / "kafka"))
    try:
        return int((home / "kafka.pid").read_text())
    except (OSError, ValueError):
        return None


def reference_us(rounds: int = 5, events: int = 1000) -> float:
    """How fast this box is right now: wall µs for one pydantic decode + encode of a routed contact
    (the pipeline's most common per-event work), best of ``rounds``. Figures from runs whose
    reference differs much were measured on a box of a different speed (neighbours, throttling)."""
    from schemas import RoutedContactEvent

    from ._sink_data import routed_events

    values = routed_events(events)
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        for value in values:
            RoutedContactEvent.decode(value).encode()
        best = min(best, time.perf_counter() - began)
    return best / events * 1e6
