"""Ingest: accepted web-form requests/s through the gateway (durable before 202), p50/p99.

The gateway runs pinned to CPU 0, wrk (Debian package) to CPU 1, on loopback. Accepted
means Kafka acknowledged the contact and its raw payload (acks=all) before the 202; the
contacts topic is counted afterwards to prove it. Target: >= 5,000 req/s on one core,
p99 < 25 ms.

The machine is shared, so every figure comes with a same-run baseline from the same
gateway process: ``GET /healthz`` under the same wrk load (same server stack: uvicorn,
httptools, uvloop, the gateway's fast path; no parsing, no validation, no Kafka), measured
just before and just after the web form run. ``ratio_to_baseline`` is web form req/s over
the baseline's, and ``cpu_us_per_request`` (gateway process CPU, all threads, divided by
requests) is less sensitive to neighbours than req/s. ``idle_*`` is the latency of a
nearly idle gateway (4 connections): linger + Kafka's ack + delivery polling, no queueing.
"""
from __future__ import annotations

import re
import shutil
import subprocess

from schemas.topics import CONTACTS

from ._support import REPO, fresh_kafka, free_port, process_cpu_seconds, service, topic_message_count

DURATION = "20s"
BASELINE_DURATION = "5s"
IDLE_DURATION = "5s"
CONNECTIONS = 64
IDLE_CONNECTIONS = 4
TARGET_RPS = 5000
TARGET_P99_MS = 25.0


def _ms(text: str) -> float:
    value, unit = float(re.match(r"([\d.]+)", text).group(1)), re.sub(r"[\d.]", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _wrk(pid: int, url: str, duration: str, connections: int, script: str | None = None) -> dict[str, float]:
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency"]
    if script:
        command += ["-s", str(REPO / "bench" / script)]
    began = process_cpu_seconds(pid)
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    cpu = process_cpu_seconds(pid) - began
    print(out)

    def find(pattern: str) -> str:
        if (m := re.search(pattern, out)) is None:
            raise RuntimeError(f"wrk output without {pattern!r}:\n{out}")
        return m.group(1)

    # percentiles anchored at the line start: the "Req/Sec ... 63.50%" column is not p50
    total = int(find(r"(\d+) requests in"))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return {"rps": float(find(r"Requests/sec:\s+([\d.]+)")), "total": total, "non_2xx": non2xx,
            "p50": _ms(find(r"(?m)^\s+50%\s+(\S+)")), "p99": _ms(find(r"(?m)^\s+99%\s+(\S+)")),
            "cpu_us": round(cpu / max(total, 1) * 1e6, 1)}


def run() -> dict[str, float | str]:
    if shutil.which("wrk") is None:
        return {"skipped": "wrk not installed (apt-get install wrk)"}
    kafka = fresh_kafka()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"INTAKE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "INTAKE_GATEWAY_PORT": str(port),
           "INTAKE_GATEWAY_WEBFORM_RATE_PER_MINUTE": "100000000", "INTAKE_GATEWAY_WEBFORM_BURST": "1000000"}
    with service(["gateway"], env, f"{base}/healthz", cpu=0) as proc:
        print("-- baseline before: GET /healthz (same stack, no publishing)")
        before = _wrk(proc.pid, f"{base}/healthz", BASELINE_DURATION, CONNECTIONS)
        print(f"-- web form, {IDLE_CONNECTIONS} connections (latency without queueing)")
        idle = _wrk(proc.pid, base, IDLE_DURATION, IDLE_CONNECTIONS, "webform.lua")
        print(f"-- web form, {CONNECTIONS} connections")
        load = _wrk(proc.pid, base, DURATION, CONNECTIONS, "webform.lua")
        print("-- baseline after: GET /healthz")
        after = _wrk(proc.pid, f"{base}/healthz", BASELINE_DURATION, CONNECTIONS)
    stored = topic_message_count(kafka, kafka.topic(CONTACTS))
    accepted = idle["total"] - idle["non_2xx"] + load["total"] - load["non_2xx"]
    baseline_rps = (before["rps"] + after["rps"]) / 2
    rps = load["rps"]
    return {
        "requests_per_s": rps,
        "p50_ms": load["p50"],
        "p99_ms": load["p99"],
        "cpu_us_per_request": load["cpu_us"],
        "non_2xx": load["non_2xx"] + idle["non_2xx"],
        "accepted": accepted,
        "contacts_on_topic": stored,
        "acknowledged_but_missing": max(0, accepted - stored),
        "idle_requests_per_s": idle["rps"],
        "idle_p50_ms": idle["p50"],
        "idle_p99_ms": idle["p99"],
        "baseline_healthz_requests_per_s": round(baseline_rps, 1),
        "baseline_healthz_before_after": f"{before['rps']:.0f} / {after['rps']:.0f}",
        "baseline_cpu_us_per_request": round((before["cpu_us"] + after["cpu_us"]) / 2, 1),
        "ratio_to_baseline": round(rps / baseline_rps, 3) if baseline_rps else 0.0,
        "target_requests_per_s": TARGET_RPS,
        "ratio_to_target": round(rps / TARGET_RPS, 3),
        "target_p99_ms": TARGET_P99_MS,
        "p99_ratio_to_target": round(load["p99"] / TARGET_P99_MS, 2),
    }
