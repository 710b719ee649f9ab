"""Kill the sink between insert and offset commit, restart it: ClickHouse holds every row exactly once."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from schemas import Channel, KafkaSettings

from .factory import routed_contact
from .helpers import SinkProcess, produce, wait_until

pytestmark = pytest.mark.kafka


def test_crash_between_insert_and_commit_double_counts_nothing(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    contacts = [routed_contact(channel=list(Channel)[i % 6], message_id=f"crash-{i}", received_at=start + timedelta(milliseconds=i))
                for i in range(600)]
    produce(kafka_settings, contacts)
    sink = SinkProcess(tmp_path / "chdb", kafka_settings, f"crash-{uuid.uuid4().hex[:8]}", tmp_path / "sink.log")

    # run 1: cuts batches of 40 and dies right after the second flush's inserts, before committing
    sink.start(INTAKE_SINK_FAULT="crash_after_insert:2", INTAKE_SINK_BATCH_MAX_ROWS="40")
    assert sink.process.wait(120) == 99, (tmp_path / "sink.log").read_text()[-3000:]

    # run 2: a different batch size, so only the recorded plans can reproduce the crashed cuts
    sink.start(INTAKE_SINK_BATCH_MAX_ROWS="70")
    try:
        sink.wait_ready()
        wait_until(lambda: sum(sink.get("/api/status")["sink"]["committed"].values()) == len(contacts), 120,
                   "every offset committed")
        rows = sink.get("/api/status")["rows"]
        assert rows["contacts"] == len(contacts)
        assert rows["contact_text"] == len(contacts)
        assert sink.get("/api/summary", token=False)["total"]["received"] == len(contacts)
    finally:
        sink.stop()
    assert sink.process.returncode == 0
