"""The stall watchdog: progress judged from the group's committed offsets, reported on /healthz,
and a stalled worker exits for its supervisor to restart it, losing nothing."""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest

from schemas.admin import ensure_topics
from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS
from streams.watchdog import EX_TEMPFAIL, RECOVERY, Progress

from .builders import contact
from .conftest import LiveWorker, Outputs

P0, P1 = ("contacts", 0), ("contacts", 1)


def test_caught_up_or_moving_partitions_never_stall() -> None:
    progress = Progress(limit=10)
    for t in range(0, 100, 5):
        assert progress.observe(t, {P0: (7, 7), P1: (t, 1000)}) == {}


def test_a_partition_standing_still_behind_its_end_stalls_after_the_limit() -> None:
    progress = Progress(limit=10)
    assert progress.observe(0, {P0: (3, 9), P1: (5, 5)}) == {}
    assert progress.observe(9, {P0: (3, 12), P1: (5, 6)}) == {}
    assert progress.observe(10, {P0: (3, 12), P1: (5, 6)}) == {P0: 9}
    assert progress.observe(12, {P0: (4, 12), P1: (5, 6)}) == {}, "one commit is progress: the clock restarts"
    assert progress.observe(19, {P0: (4, 12), P1: (5, 6)}) == {P1: 1}


def test_a_partition_that_leaves_and_comes_back_starts_a_new_clock() -> None:
    progress = Progress(limit=10)
    progress.observe(0, {P0: (3, 9)})
    progress.observe(5, {})  # rebalance: not ours for a while
    assert progress.observe(11, {P0: (3, 9)}) == {}
    assert progress.observe(21, {P0: (3, 9)}) == {P0: 6}


def test_recovery_that_stops_advancing_stalls_like_a_partition() -> None:
    progress = Progress(limit=10)
    assert progress.observe(0, {RECOVERY: (-500, 0)}) == {}
    assert progress.observe(8, {RECOVERY: (-200, 0)}) == {}
    assert progress.observe(18, {RECOVERY: (-200, 0)}) == {RECOVERY: 200}
    assert progress.observe(30, {RECOVERY: (0, 0)}) == {}


def healthz(worker: LiveWorker) -> tuple[int, dict]:
    try:
        r = httpx.get(f"http://127.0.0.1:{worker.port}/healthz", timeout=5)
    except httpx.HTTPError:
        return 0, {}
    return r.status_code, r.json()


@pytest.mark.kafka
def test_a_stalled_worker_reports_exits_and_its_restart_loses_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"wd{uuid.uuid4().hex[:8]}")
    ensure_topics(kafka)
    out = Outputs(kafka)
    event = contact("webform", "stall-1", "Where is my parcel? order A00002", email="wd@example.com")

    def worker(name: str, hold: bool, action: str) -> LiveWorker:
        w = LiveWorker(kafka, tmp_path / name)
        w.env.update({"INTAKE_STREAMS_STALL_SECONDS": "4", "INTAKE_STREAMS_STALL_CHECK_SECONDS": "1",
                      "INTAKE_STREAMS_STALL_ACTION": action})
        if hold:  # every batch's outputs held for an hour: the agent takes events and never finishes them
            w.command = "import tests.streams.slow_outbox; from streams.worker import main; main()"
            w.env["INTAKE_TEST_FLUSH_DELAY"] = "3600"
        return w

    reporting = worker("report", hold=True, action="report")
    try:
        reporting.start()
        out.wait_owned(reporting)
        assert healthz(reporting) == (200, {"status": "ok", "stalled": {}})
        out.send(event)
        status, body = out.wait(lambda: (h := healthz(reporting))[0] == 503 and h, 60, "/healthz to report the stall",
                                reporting)
        assert body["status"] == "stalled"
        assert any(name.startswith(kafka.topic(CONTACTS)) and lag == 1 for name, lag in body["stalled"].items()), body
        assert reporting.metric("intake_worker_stalled") == 1
        assert reporting.alive(), "report mode only reports"
    finally:
        reporting.stop()

    exiting = worker("exit", hold=True, action="exit")
    try:
        exiting.start()
        out.wait(lambda: exiting.proc.poll() is not None, 120, "the stalled worker to exit")
        assert exiting.proc.returncode == EX_TEMPFAIL, exiting.log()
        log = (exiting.root / "worker.log").read_text(errors="replace")
        assert "watchdog: no progress" in log
        # the diagnosis tells a held batch (delivered to the agent, never committed) from a fetch that never came
        diagnosis = json.loads(re.search(r"watchdog: diagnosis (\{.*\})", log).group(1))
        contacts = kafka.topic(CONTACTS)
        read = [o for tp, o in diagnosis["faust"]["read_offset"].items() if tp.startswith(contacts) and o is not None]
        assert read == [0], diagnosis
        assert not any(tp.startswith(contacts) for tp in diagnosis["faust"]["committed_offset"]), diagnosis
        assert all(not state["paused"] for state in diagnosis["aiokafka"].values()), diagnosis
        assert any("_slow_flush" in chain for chains in diagnosis["agents"].values() for chain in chains), diagnosis
    finally:
        exiting.stop()

    healthy = worker("restart", hold=False, action="exit")
    try:
        healthy.start()
        out.routed_once(event, 120, healthy)  # the contact the stalled workers held was never committed
        assert healthz(healthy)[0] == 200
    finally:
        healthy.stop()
