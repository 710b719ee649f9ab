"""The on-call path: Prometheus rules (promtool), Alertmanager routing (amtool), and end to end:
short-clock breaches in the real worker -> its /metrics -> real Prometheus -> real Alertmanager
-> a webhook receiver in this test. Needs the Debian packages prometheus and prometheus-alertmanager.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import IO
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from .builders import routed
from .conftest import REPO, Live, free_port, wait_for

RULES = REPO / "deploy" / "prometheus" / "rules" / "intake-alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "tests" / "intake-alerts_test.yml"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
PIPELINE_DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "intake-pipeline.json"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
needs = pytest.mark.skipif(
    not (shutil.which("prometheus") and shutil.which("promtool") and ALERTMANAGER and shutil.which("amtool")),
    reason="prometheus / promtool / alertmanager / amtool not installed "
           "(Debian: apt-get install prometheus prometheus-alertmanager)")


@needs
def test_alerting_rules_pass_their_promtool_unit_tests() -> None:
    out = subprocess.run(["promtool", "test", "rules", str(RULE_TESTS)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@needs
def test_prometheus_and_alertmanager_configs_are_valid() -> None:
    for cmd in (["promtool", "check", "rules", str(RULES)], ["promtool", "check", "config", str(PROMETHEUS_CONFIG)],
                ["amtool", "check-config", str(ALERTMANAGER_CONFIG)]):
        out = subprocess.run(cmd, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


@needs
@pytest.mark.parametrize(("labels", "receiver"), [
    (["alertname=SlaBreachSpike", "severity=critical", "queue=billing"], "oncall-webhook"),
    (["alertname=OldestWaitingOverClock", "severity=warning", "queue=billing"], "ops-webhook"),
])
def test_critical_alerts_route_to_oncall(labels: list[str], receiver: str) -> None:
    out = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == receiver, out.stdout + out.stderr


class Webhook:
    """The on-call receiver: records every notification Alertmanager posts."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def _alertmanager_config(webhook: str) -> dict:
    """The shipped config, pointed at the test's receiver and with second-scale grouping."""
    cfg = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    for receiver in cfg["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook}/{receiver['name']}"
    for route in [cfg["route"], *cfg["route"].get("routes", [])]:
        route.update(group_wait="1s", group_interval="1s")
    return cfg


def _rules_without_for() -> dict:
    """The shipped rules, same expressions, firing as soon as they hold (the test cannot wait minutes)."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["for"] = "0s"
    return rules


@pytest.fixture
def oncall(live: Live, tmp_path: Path) -> Iterator[tuple[Webhook, str]]:
    webhook = Webhook()
    am_port, prom_port = free_port(), free_port()
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(_alertmanager_config(webhook.url)))
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(_rules_without_for()))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "intake-worker",
                            "static_configs": [{"targets": [f"127.0.0.1:{live.worker.port}"]}]}],
    }))
    logs = [open(tmp_path / name, "wb") for name in ("alertmanager.log", "prometheus.log")]  # noqa: SIM115
    procs = [
        _alertmanager(tmp_path, am_port, logs[0]),
        subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                          f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                          "--rules.alert.resend-delay=1s"], stdout=logs[1], stderr=subprocess.STDOUT),
    ]
    try:
        yield webhook, f"http://127.0.0.1:{prom_port}"
    finally:
        _stop(procs, logs)
        webhook.close()


def _alertmanager(tmp_path: Path, port: int, log: IO[bytes]) -> subprocess.Popen:
    """The real Alertmanager on ``tmp_path / "alertmanager.yml"``, alone (no cluster)."""
    return subprocess.Popen([ALERTMANAGER, f"--config.file={tmp_path / 'alertmanager.yml'}",
                             f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)


def _stop(procs: list[subprocess.Popen], logs: list[IO[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    for log in logs:
        log.close()


def _query(prometheus: str, promql: str) -> list:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return json.loads(resp.read())["data"]["result"]
    except OSError:
        return []


@needs
@pytest.mark.kafka
def test_breach_spike_pages_oncall_through_prometheus_and_alertmanager(live: Live,
                                                                      oncall: tuple[Webhook, str]) -> None:
    webhook, prometheus = oncall
    queue = f"e2e-{uuid.uuid4().hex[:6]}"

    def breach_counter() -> float | None:
        result = _query(prometheus, f'sum(intake_sla_breaches_total{{queue="{queue}"}})')
        return float(result[0]["value"][1]) if result else None

    def open_cases(n: int) -> None:
        for _ in range(n):
            case_id = f"case-{uuid.uuid4().hex[:8]}"
            live.route(routed(case_id, time.time(), channel="chat", queue=queue))

    # one breach first, so Prometheus has seen the series before it jumps (increase() needs two samples)
    open_cases(1)
    wait_for(lambda: breach_counter() == 1, 60, "Prometheus to scrape the first breach from the worker")
    open_cases(12)
    wait_for(lambda: (breach_counter() or 0) >= 13, 60, "Prometheus to scrape the spike")

    def paged() -> list:
        return [a for n in webhook.received if n["path"] == "/oncall-webhook" for a in n["alerts"]
                if a["labels"].get("alertname") == "SlaBreachSpike" and a["labels"].get("queue") == queue]

    [alert, *_] = wait_for(paged, 60, "the on-call webhook to be called")
    assert alert["status"] == "firing"
    assert alert["labels"]["severity"] == "critical" and alert["labels"]["channel"] == "chat"
    assert "SLA breaches" in alert["annotations"]["description"]

    # the pipeline dashboard's SLA panels chart the same worker through the same Prometheus
    panels = {p["title"]: p["targets"][0]["expr"] for p in json.loads(PIPELINE_DASHBOARD.read_text())["panels"]
              if p.get("targets")}
    shown = {title: wait_for(lambda: [s for s in _query(prometheus, panels[title]) if s["value"][1] != "NaN"], 30,
                             f"the panel '{title}' to show data")  # noqa: B023 - called at once
             for title in ("Breaches per minute, by queue", "Open clocks, by state", "Deadline to breach event sent, p99")}
    assert any(s["metric"].get("queue") == queue and float(s["value"][1]) > 0
               for s in shown["Breaches per minute, by queue"]), shown


def _alert(name: str, severity: str, **labels: str) -> dict:
    return {"labels": {"alertname": name, "severity": severity, **labels}, "annotations": {"summary": name}}


@needs
def test_a_page_silences_only_the_warnings_about_its_own_queue_and_one_cause_pages_once(tmp_path: Path) -> None:
    webhook = Webhook()
    port = free_port()
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(_alertmanager_config(webhook.url)))
    log = open(tmp_path / "alertmanager.log", "wb")  # noqa: SIM115
    api = f"http://127.0.0.1:{port}/api/v2/alerts"
    sent = {
        "spike billing": _alert("SlaBreachSpike", "critical", queue="billing", channel="chat"),
        "baseline billing": _alert("SlaBreachRateAboveBaseline", "warning", queue="billing"),
        "oldest returns": _alert("OldestWaitingOverClock", "warning", queue="returns", clock="first_response"),
        "worker w1 behind": _alert("WorkerFallingBehind", "critical", job="intake-worker", instance="w1"),
        "gateway dead letters": _alert("DeadLetterRate", "warning", job="intake-gateway"),
        "worker w2 stalled": _alert("WorkerStalled", "critical", job="intake-worker", instance="w2"),
        "worker w2 behind": _alert("WorkerFallingBehind", "critical", job="intake-worker", instance="w2"),
        "sink s1 down": _alert("SinkBackendDown", "critical", job="intake-sink", instance="s1"),
        "sink s1 behind": _alert("SinkFallingBehind", "warning", job="intake-sink", instance="s1"),
        "sink s2 behind": _alert("SinkFallingBehind", "warning", job="intake-sink", instance="s2"),
    }
    proc = _alertmanager(tmp_path, port, log)
    try:
        def post() -> bool:
            request = urllib.request.Request(api, json.dumps(list(sent.values())).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=2) as resp:
                    return resp.status == 200
            except OSError:
                return False

        wait_for(post, 30, "Alertmanager to take the alerts")

        def states() -> dict[str, str | None]:
            with urllib.request.urlopen(api, timeout=2) as resp:
                alerts = json.loads(resp.read())
            by_labels = {json.dumps(a["labels"], sort_keys=True): a["status"]["state"] for a in alerts}
            return {name: by_labels.get(json.dumps(alert["labels"], sort_keys=True)) for name, alert in sent.items()}

        expected = {
            "spike billing": "active", "baseline billing": "suppressed", "oldest returns": "active",
            "worker w1 behind": "active", "gateway dead letters": "active",
            "worker w2 stalled": "active", "worker w2 behind": "suppressed",
            "sink s1 down": "active", "sink s1 behind": "suppressed", "sink s2 behind": "active"}
        seen: list[dict] = []
        with contextlib.suppress(AssertionError):  # the inhibitor learns of the sources asynchronously
            wait_for(lambda: seen.append(states()) or seen[-1] == expected, 30, "the inhibitions to settle", 0.5)
        assert seen[-1] == expected
    finally:
        _stop([proc], [log])
        webhook.close()
