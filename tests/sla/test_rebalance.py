"""A second worker joins while clocks are open: partitions move, every breach still fires once."""
from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.settings import KafkaSettings
from streams.sla.clock import PARTITIONS, case_partition

from .builders import routed
from .conftest import Live, Worker, wait_for

pytestmark = pytest.mark.kafka


@pytest.fixture
def two(kafka_settings: KafkaSettings, tmp_path: Path) -> Iterator[tuple[Live, Worker]]:
    live = Live(kafka_settings, tmp_path / "a")
    second = Worker(kafka_settings, tmp_path / "b")
    second.app_id = live.worker.app_id  # same app: same consumer group, same tables
    try:
        live.worker.start()
        yield live, second
    finally:
        second.stop()
        live.close()


def _on_every_partition(each: int) -> list[str]:
    """Case ids, ``each`` on every case partition: whichever partitions the rebalance moves, both
    workers own clocks. 12 random ids fall on one worker's two partitions about once in 2,000 runs, as
    CI saw on 2026-12-07 (a clean 2/2 split, no breach on the first worker)."""
    by_partition: dict[int, list[str]] = defaultdict(list)
    while len(by_partition) < PARTITIONS or min(map(len, by_partition.values())) < each:
        case_id = f"form-{uuid.uuid4().hex[:6]}"
        if len(by_partition[case_partition(case_id)]) < each:
            by_partition[case_partition(case_id)].append(case_id)
    return [case_id for ids in by_partition.values() for case_id in ids]


def test_clocks_move_with_their_partitions(two: tuple[Live, Worker]) -> None:
    live, second = two
    start = time.time()
    cases = _on_every_partition(3)  # 25 s clocks: still open after the rebalance
    for case_id in cases:
        live.route(routed(case_id, start, channel="webform", queue="moving"))
    wait_for(lambda: len(live.out.select("sla.v1", lambda e: e.data.status == "started"
                                         and e.data.clock == "first_response")) == 12, 30, "the clocks to start")
    second.start()  # joins the group: partitions (and their clocks) move to it
    # a precondition, not the behaviour under test: on a box busy enough to delay the join past the
    # deadlines, the clocks would all fire on the first worker before anything moved
    assert time.time() < start + 25, "the clocks must still be open when the partitions move"

    def breach_ids() -> dict[str, set[str]]:
        ids: dict[str, set[str]] = defaultdict(set)
        for e, _ in live.out.select("sla.v1", lambda e: e.data.status == "breached"
                                    and e.data.clock == "first_response"):
            ids[e.data.case_id].add(e.id)
        return ids

    wait_for(lambda: len(breach_ids()) == 12, 60, "every breach")
    owned = lambda w: w.metric("intake_sla_owned_partitions") or 0  # noqa: E731
    wait_for(lambda: owned(live.worker) + owned(second) == 4 and owned(second) > 0, 30, "the partitions to split")
    assert all(len(ids) == 1 for ids in breach_ids().values()), "one announcement (one event id) per breach"
    # both workers ran clocks: the moved ones fired on the worker that took them over
    assert (live.worker.metric("intake_sla_breaches_total") or 0) > 0
    assert (second.metric("intake_sla_breaches_total") or 0) > 0
