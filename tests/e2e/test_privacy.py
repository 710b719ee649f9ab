"""Personal data: planted phone numbers and emails appear neither in service logs nor, verbatim,
in any ClickHouse table (identifiers are masked or hashed by the sink's PII policy), including the
acknowledgement and survey requests addressed to the customer."""
from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import datetime, timezone

import httpx
import pytest
from confluent_kafka import Producer

from schemas.lifecycle import Lifecycle, LifecycleAction, LifecycleEvent
from schemas.topics import LIFECYCLE

from .conftest import REPO, Pipeline, wait_for

pytestmark = pytest.mark.kafka

SCAN = """
import sys
from sinks.clickhouse import connect
from sinks.settings import SinkSettings
s = SinkSettings()
c = connect(s.dsn, s.database)
hits = []
for (table,) in c.query("SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree'").result_rows:
    for needle in sys.argv[1:]:
        n = c.query(f"SELECT count() FROM `{table}` WHERE positionCaseInsensitive(formatRowNoNewline('TSV', *), {{n:String}}) > 0",
                    parameters={"n": needle}).result_rows[0][0]
        if n:
            hits.append(f"{table}:{needle}:{n}")
print(" ".join(hits))
"""


def test_planted_identifiers_are_not_stored_or_logged_in_clear(pipeline: Pipeline) -> None:
    phone_local = f"139{uuid.uuid4().int % 10**8:08d}"
    email = f"planted.{uuid.uuid4().hex[:8]}@example.com"
    form = {"submission_id": f"pii-{uuid.uuid4().hex}", "email": email, "phone": f"+86 {phone_local}",
            "name": "张三", "message": "请回电话 please call me back about my order"}
    response = httpx.post(f"{pipeline.gateway_url}/webform", json=form, timeout=15)
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]

    def stored() -> bool:
        return httpx.get(f"{pipeline.wallboard_url}/api/contacts/{event_id}", timeout=5,
                         headers={"Authorization": f"Bearer {pipeline.api_token}"}).status_code == 200
    wait_for(stored, timeout=60, message="the contact stored")

    auth = {"Authorization": f"Bearer {pipeline.api_token}"}
    case_id = httpx.get(f"{pipeline.wallboard_url}/api/contacts/{event_id}", headers=auth, timeout=5).json()["case_id"]
    producer = Producer(pipeline.kafka.confluent())  # the desk closes the case: its survey is requested
    closed = LifecycleEvent(source="/tests/desk", data=Lifecycle(case_id=case_id, action=LifecycleAction.CLOSED,
                                                                 at=datetime.now(timezone.utc)))
    producer.produce(pipeline.kafka.topic(LIFECYCLE), key=case_id.encode(), value=closed.encode())
    assert producer.flush(15) == 0

    def requested() -> dict[str, dict]:  # acknowledgement and survey carry the address: scanned too
        rows = httpx.get(f"{pipeline.wallboard_url}/api/outbound", headers=auth, timeout=5).json()
        return {r["kind"]: r for r in rows if r["case_id"] == case_id}
    asked = wait_for(lambda: r if len(r := requested()) == 2 else None, timeout=60,
                     message="the acknowledgement and survey requests stored")
    assert {(k, r["channel"], r["template"]) for k, r in asked.items()} == {
        ("acknowledgement", "email", "case_received"), ("survey", "email", "case_survey")}
    assert asked["survey"]["recipient"] == asked["acknowledgement"]["recipient"] != email

    pipeline.stop("sink")  # chdb: one process per directory
    scan = subprocess.run([sys.executable, "-c", SCAN, event_id, phone_local, email], cwd=REPO, env=pipeline.env,
                          capture_output=True, text=True, timeout=120)
    pipeline.start("sink")
    assert scan.returncode == 0, scan.stderr
    hits = scan.stdout.split()
    assert f"contacts:{event_id}:1" in hits, "the scan must find what is there (control)"
    assert not [h for h in hits if event_id not in h], f"identifiers stored in clear: {hits}"
    for service in ("gateway", "worker", "sink"):
        log = (pipeline.root / f"{service}.log").read_text(errors="replace")
        assert phone_local not in log and email not in log, f"{service} logged personal data"
