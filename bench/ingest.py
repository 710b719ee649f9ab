"""Ingest: accepted web-form requests/s through the gateway (durable before 202), p50/p99.

The gateway runs pinned to CPU 0, wrk (Debian package) to CPU 1, on loopback. Accepted
means Kafka acknowledged the contact and its raw payload (acks=all) before the 202; the
contacts topic is counted afterwards to prove it. Target: >= 5,000 req/s on one core,
p99 < 25 ms.
"""
from __future__ import annotations

import re
import shutil
import subprocess

from schemas.topics import CONTACTS

from ._support import REPO, fresh_kafka, free_port, service, topic_message_count

DURATION = "20s"
CONNECTIONS = 64


def _ms(text: str) -> float:
    value, unit = float(re.match(r"([\d.]+)", text).group(1)), re.sub(r"[\d.]", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run() -> dict[str, float | str]:
    if shutil.which("wrk") is None:
        return {"skipped": "wrk not installed (apt-get install wrk)"}
    kafka = fresh_kafka()
    port = free_port()
    env = {"INTAKE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "INTAKE_GATEWAY_PORT": str(port),
           "INTAKE_GATEWAY_WEBFORM_RATE_PER_MINUTE": "100000000", "INTAKE_GATEWAY_WEBFORM_BURST": "1000000"}
    with service(["gateway"], env, f"http://127.0.0.1:{port}/healthz", cpu=0):
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency",
                              "-s", str(REPO / "bench" / "webform.lua"), f"http://127.0.0.1:{port}"],
                             capture_output=True, text=True, check=True).stdout
    print(out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    total = int(re.search(r"(\d+) requests in", out).group(1))
    stored = topic_message_count(kafka, kafka.topic(CONTACTS))
    return {
        "requests_per_s": rps,
        "p50_ms": _ms(re.search(r"50%\s+(\S+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+(\S+)", out).group(1)),
        "non_2xx": non2xx,
        "accepted": total - non2xx,
        "contacts_on_topic": stored,
        "target_requests_per_s": 5000,
        "ratio_to_target": round(rps / 5000, 3),
    }
