"""``intake up``: the whole pipeline on one machine, on its embedded defaults.

Starts the local broker, creates the topics, then runs each service as its own process
(as in production, they meet only on Kafka) and restarts none of them silently: if one
exits, everything stops and its log tail is printed. The one exception is the status a
worker's stall watchdog exits with (75, ``streams/watchdog.py``): that exit asks its
supervisor for a restart, so the worker is started again, with a line saying so.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / ".data" / "logs"


@dataclass
class Service:
    name: str
    args: list[str]
    ready_url: str | None = None
    process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name}.log"

    def start(self, env: dict[str, str]) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "intake.cli", *self.args], cwd=REPO, env=env,
                                        stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                return False
            if self.ready_url is None:
                return True
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.5)
        return False

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def stop_services(services: list[Service], timeout: float = 20.0) -> None:
    """SIGTERM every running service at once (last started first), wait for all on one deadline,
    SIGKILL what is left. Stopped one by one with 20 s each, a pipeline whose broker had gone
    first (each service waiting for Kafka to flush) took two minutes to stop."""
    running = [s.process for s in reversed(services) if s.process and s.process.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_local(traffic_rate: float = 5.0, desk_simulator: bool = True) -> int:
    from connectors.settings import GatewaySettings
    from schemas.admin import ensure_topics
    from schemas.settings import KafkaSettings
    from sinks.settings import SinkSettings
    from streams.settings import StreamSettings

    LOGS.mkdir(parents=True, exist_ok=True)
    if subprocess.call([str(REPO / "deploy" / "kafka" / "kafka-local.sh"), "start"]) != 0:
        return 1
    ensure_topics(KafkaSettings())
    from connectors.email.settings import EmailSettings

    gateway, sink, streams, mail = GatewaySettings(), SinkSettings(), StreamSettings(), EmailSettings()
    gateway_url = f"http://{gateway.host}:{gateway.port}"
    wallboard_url = f"http://{sink.wallboard_host}:{sink.wallboard_port}"
    services = [
        Service("sink", ["sink"], f"{wallboard_url}/healthz"),
        Service("worker", ["worker"], f"http://127.0.0.1:{streams.web_port}/"),
        Service("gateway", ["gateway"], f"{gateway_url}/healthz"),
        Service("email", ["email"]),
    ]
    if traffic_rate > 0:
        services.append(Service("traffic", ["traffic", "--url", gateway_url, "--rate", str(traffic_rate)]))
    if desk_simulator:
        services.append(Service("desk", ["desk"]))
    # The sample traffic simulates many customers from loopback with X-Forwarded-For.
    env = {"INTAKE_GATEWAY_TRUSTED_PROXIES": '["127.0.0.1/32"]', **os.environ, "PYTHONUNBUFFERED": "1"}
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    try:
        for service in services:
            print(f"starting {service.name} (log: {service.log.relative_to(REPO)})", flush=True)
            service.start(env)
            if not service.wait_ready():
                print(f"{service.name} did not become ready:\n{service.tail()}", file=sys.stderr)
                return 1
        print(f"\n  wallboard:  {wallboard_url}/\n  gateway:    {gateway_url}/docs (OpenAPI)\n"
              f"  metrics:    {gateway_url}/metrics, {wallboard_url}/metrics, http://127.0.0.1:{streams.web_port}/metrics\n"
              f"  email:      SMTP on {mail.smtp_host}:{mail.smtp_port}\n"
              f"  kafka:      {KafkaSettings().bootstrap_servers}\n  logs:       {LOGS.relative_to(REPO)}/\n"
              "Ctrl-C stops everything.\n", flush=True)
        while not stopping:
            for service in services:
                if service.process and service.process.poll() == os.EX_TEMPFAIL:
                    print(f"{service.name} stalled and exited (status {os.EX_TEMPFAIL}, see its log): starting it again",
                          file=sys.stderr, flush=True)
                    service.start(env)
                elif service.process and service.process.poll() is not None:
                    print(f"{service.name} exited with {service.process.returncode}:\n{service.tail()}", file=sys.stderr)
                    return 1
            time.sleep(1)
        return 0
    finally:
        stop_services(services)
