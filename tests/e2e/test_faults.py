"""Faults survived with nothing lost: workers and the sink SIGKILLed mid-stream, then `intake report`."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from .conftest import REPO, Pipeline, wait_for

pytestmark = pytest.mark.kafka


def _post_forms(pipeline: Pipeline, count: int, accepted: list[str], stop: threading.Event) -> None:
    with httpx.Client(base_url=pipeline.gateway_url, timeout=20) as client:
        for i in range(count):
            if stop.is_set():
                return
            form = {"submission_id": f"fault-{uuid.uuid4().hex}", "message": f"订单 A{i:05d} 还没到 where is it",
                    "order_number": f"A{i:05d}", "email": f"c{i % 40}@example.com"}
            response = client.post("/webform", json=form)
            if response.status_code == 202:
                accepted.append(response.json()["event_id"])
                if i % 7 == 0:  # a provider-style retry of the same submission
                    client.post("/webform", json=form)
            time.sleep(0.01)


def _stored_count(pipeline: Pipeline) -> int:
    try:
        status = httpx.get(f"{pipeline.wallboard_url}/api/status", timeout=5,
                           headers={"Authorization": f"Bearer {pipeline.api_token}"}).json()
        return int(status["rows"]["contacts"])
    except (httpx.HTTPError, KeyError, ValueError):
        return -1


def test_worker_and_sink_killed_mid_stream_lose_and_double_nothing(pipeline: Pipeline) -> None:
    accepted: list[str] = []
    stop = threading.Event()
    sender = threading.Thread(target=_post_forms, args=(pipeline, 400, accepted, stop))
    sender.start()
    try:
        wait_for(lambda: len(accepted) >= 100, timeout=60, message="the first 100 contacts")
        pipeline.stop("worker", signal.SIGKILL)
        pipeline.start("worker")
        wait_for(lambda: len(accepted) >= 200, timeout=60, message="200 contacts")
        pipeline.stop("sink", signal.SIGKILL)
        pipeline.start("sink")
        pipeline.wait_http(f"{pipeline.wallboard_url}/healthz")
        sender.join(120)
    finally:
        stop.set()
        sender.join(10)
    assert len(accepted) == 400
    wait_for(lambda: _stored_count(pipeline) == len(accepted), timeout=120,
             message=f"{len(accepted)} contacts stored (have {_stored_count(pipeline)})")

    pipeline.stop("sink")  # chdb: one process per directory; the report opens it next
    report = subprocess.run([sys.executable, "-m", "intake.cli", "report"], cwd=REPO, env=pipeline.env,
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr
    figures = dict(line.split() for line in report.stdout.strip().splitlines())
    assert figures["accepted"] == figures["stored"] == str(len(set(accepted)))
    assert figures["lost"] == "0" and figures["doubled"] == "0"
    assert int(figures["duplicates_suppressed"]) >= 0
    pipeline.start("sink")
