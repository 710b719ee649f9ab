"""A whole pipeline (gateway, worker, sink + wallboard) as real processes on the session broker.

Each service runs as ``python -m intake.cli <service>`` with its own ports, a fresh topic
prefix, Faust app id, data folders and chdb directory, exactly as ``intake up`` runs them.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from schemas.settings import KafkaSettings
from tests.conftest import delete_topics_with_prefix

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.25, message: str = "condition"):  # noqa: ANN001
    """Poll until predicate() is truthy; return its value or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@dataclass
class Pipeline:
    kafka: KafkaSettings
    root: Path
    env: dict[str, str]
    gateway_url: str
    wallboard_url: str
    api_token: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen([sys.executable, "-m", "intake.cli", *(args or (name,))],
                                                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.processes.pop(name, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def wait_http(self, url: str, timeout: float = 90.0) -> None:
        def up() -> bool:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited early:\n{self.log(name)}")
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(up, timeout, 0.5, url)


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    from schemas.admin import ensure_topics

    root = tmp_path_factory.mktemp("pipeline")
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"e2e{uuid.uuid4().hex[:8]}")
    ensure_topics(kafka)
    gw_port, wb_port, worker_port = free_port(), free_port(), free_port()
    token = uuid.uuid4().hex
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "INTAKE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "INTAKE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
           "INTAKE_GATEWAY_PORT": str(gw_port), "INTAKE_GATEWAY_WEBFORM_RATE_PER_MINUTE": "1000000",
           "INTAKE_GATEWAY_WEBFORM_BURST": "100000",
           "INTAKE_STREAMS_APP_ID": f"{kafka.topic_prefix}-streams", "INTAKE_STREAMS_DATADIR": str(root / "streams"),
           "INTAKE_STREAMS_WEB_PORT": str(worker_port),
           "INTAKE_SINK_DSN": f"chdb://{root / 'clickhouse'}", "INTAKE_SINK_WALLBOARD_PORT": str(wb_port),
           "INTAKE_SINK_API_TOKEN": token, "INTAKE_SINK_GROUP_ID": f"{kafka.topic_prefix}-sink"}
    p = Pipeline(kafka, root, env, f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{wb_port}", token)
    try:
        p.start("sink")
        p.start("worker")
        p.start("gateway")
        p.wait_http(f"{p.wallboard_url}/healthz")
        p.wait_http(f"{p.gateway_url}/healthz")
        p.wait_http(f"http://127.0.0.1:{worker_port}/")
        yield p
    finally:
        for name in list(p.processes):
            p.stop(name)
        for name in ("gateway", "worker", "sink"):  # shown by pytest when a test failed
            print(f"----- {name} log (tail) -----\n{p.log(name)}")
        delete_topics_with_prefix(kafka_bootstrap, kafka.topic_prefix)
