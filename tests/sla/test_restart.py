"""A worker SIGKILLed with open clocks: after the restart every due breach fires, exactly once."""
from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.settings import KafkaSettings

from .builders import routed
from .conftest import Live, wait_for

pytestmark = pytest.mark.kafka


@pytest.fixture
def env(kafka_settings: KafkaSettings, tmp_path: Path) -> Iterator[Live]:
    live = Live(kafka_settings, tmp_path)
    try:
        live.worker.start()
        yield live
    finally:
        live.close()


def test_sigkill_and_restart_fires_each_due_breach_once(env: Live) -> None:
    start = time.time()
    chat = [f"chat-{uuid.uuid4().hex[:6]}" for _ in range(3)]     # 2 s: breach before the kill
    forms = [f"form-{uuid.uuid4().hex[:6]}" for _ in range(4)]    # 4 s: due while the worker is down
    for case_id in chat:
        env.route(routed(case_id, start, channel="chat"))
    for case_id in forms:
        env.route(routed(case_id, start, channel="webform"))

    def first_response(status: str) -> list:
        return [e for e, _ in env.out.select("sla.v1", lambda e: e.data.clock == "first_response"
                                             and e.data.status == status)]

    wait_for(lambda: len(first_response("breached")) == 3 and len(first_response("started")) == 7, 30,
             "the chat breaches and every clock started")
    time.sleep(0.3)  # let the state writes that follow the acknowledged breaches reach the changelog
    env.worker.kill()
    assert {e.data.case_id for e in first_response("breached")} == set(chat)
    assert time.time() < start + 4, "the webform clocks must still be open at the kill"

    time.sleep(max(0.0, start + 4.5 - time.time()))  # the webform deadlines pass while nothing runs
    env.worker.start()  # same app id and data dir: state comes back from the changelog
    wait_for(lambda: len(first_response("breached")) >= 7, 60, "the breaches that fell due during the outage")
    # a sentinel clock started after the restart: once it breaches, any replayed breach would be visible too
    sentinel = f"sentinel-{uuid.uuid4().hex[:6]}"
    env.route(routed(sentinel, time.time(), channel="chat"))
    wait_for(lambda: any(e.data.case_id == sentinel for e in first_response("breached")), 30, "the sentinel")

    breaches = Counter(e.data.case_id for e in first_response("breached"))
    assert breaches == Counter({c: 1 for c in [*chat, *forms, sentinel]})
    for e in first_response("breached"):
        if e.data.case_id in forms:  # announced for the instant it fell due, while the worker was down
            assert e.data.at.timestamp() == pytest.approx(start + 4, abs=0.01)
    warnings = Counter((e.data.case_id, e.data.fraction) for e in first_response("warning"))
    assert all(n == 1 for n in warnings.values())
    assert {c for c, _ in warnings} >= set(chat)
    ids = Counter(e.id for e, _ in env.out.select("sla.v1"))
    assert max(ids.values()) == 1, "no SLA event was re-emitted"
    escalated = Counter(e.data.case_id for e, _ in env.out.select("escalations.v1"))
    assert escalated == Counter({c: 1 for c in [*chat, *forms, sentinel]})
