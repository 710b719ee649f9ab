"""The local broker script: idempotent start, a broker that answers real clients, a clean stop.

Runs its own broker on other ports and in its own folder so the session broker is untouched;
the downloaded jars are shared (a second start must not download again).
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from tests.conftest import KAFKA_SCRIPT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def script_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "KAFKA_HOME_DIR": str(tmp_path / "kafka"), "KAFKA_PORT": str(_free_port()),
            "KAFKA_CONTROLLER_PORT": str(_free_port()), "KAFKA_HEAP": "256m"}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KAFKA_SCRIPT), *args], env=env, capture_output=True, text=True, timeout=180)


def test_start_twice_then_stop_leaves_no_process(script_env: dict[str, str]) -> None:
    first = _run(script_env, "start")
    assert first.returncode == 0, first.stderr
    assert "fetching" not in first.stderr, "jars must be reused from the shared cache"
    pid = int((Path(script_env["KAFKA_HOME_DIR"]) / "kafka.pid").read_text())
    try:
        second = _run(script_env, "start")
        assert second.returncode == 0 and "already running" in second.stderr
        assert int((Path(script_env["KAFKA_HOME_DIR"]) / "kafka.pid").read_text()) == pid

        bootstrap = f"127.0.0.1:{script_env['KAFKA_PORT']}"
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
        producer.produce("script-check", b"hello")
        assert producer.flush(30) == 0
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "script-check",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe(["script-check"])
        deadline, got = time.monotonic() + 30, None
        while got is None and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                got = msg.value()
        consumer.close()
        assert got == b"hello"
    finally:
        stop = _run(script_env, "stop")
    assert stop.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _run(script_env, "status").returncode == 1
