"""The SLA timer's rounds (``streams.sla.agents.fire_due``), with the firing itself replaced (no broker)."""
from __future__ import annotations

import asyncio
import time

import pytest

from streams.sla import agents
from streams.sla.index import POP_LIMIT, DueIndex


@pytest.fixture
def rounds(monkeypatch: pytest.MonkeyPatch) -> tuple[DueIndex, list[list[str]]]:
    """A fresh due index and lock; each round fired is recorded as the case ids it popped."""
    index, fired = DueIndex(), []
    monkeypatch.setattr(agents, "index", index)
    monkeypatch.setattr(agents, "lock", asyncio.Lock())
    monkeypatch.setattr(agents, "FIRE_ROUND", 2)
    monkeypatch.setattr(agents.policies, "policy", agents.policies.policy.model_copy(update={"tick": 1.0}))

    async def fire(now: float, partition: int | None = None, limit: int = POP_LIMIT) -> int:
        assert agents.lock.locked() and partition is None
        fired.append(index.pop_due(now, limit))
        return len(fired[-1])

    monkeypatch.setattr(agents, "_fire_locked", fire)
    return index, fired


def test_a_backlog_is_fired_in_rounds_within_one_tick(rounds: tuple[DueIndex, list[list[str]]]) -> None:
    """A worker behind a burst of deadlines (due more than a tick ago) does not wait a tick between rounds."""
    index, fired = rounds
    now = time.time()
    for i in range(5):
        index.push(now - 10 + i, f"case-{i}")
    index.push(now + 3600, "later")
    assert asyncio.run(agents.fire_due()) == 5
    assert fired == [["case-0", "case-1"], ["case-2", "case-3"], ["case-4"]]
    assert index.next_due() == pytest.approx(now + 3600) and len(index) == 1


def test_clocks_falling_due_during_a_round_wait_for_the_next_tick(
        rounds: tuple[DueIndex, list[list[str]]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Not behind: one round per tick, so a steady rate is published in tick-sized batches."""
    index, fired = rounds
    now = time.time()
    index.push(now - 0.5, "due")
    index.push(now - 0.4, "due-too")
    index.push(now + 0.3, "just-due")  # due by the end of the round, less than a tick (1 s) before it
    first_round = agents._fire_locked

    async def slow_round(now: float, partition: int | None = None, limit: int = POP_LIMIT) -> int:
        sent = await first_round(now, partition, limit)
        monkeypatch.setattr(agents.time, "time", lambda: now + 0.6)  # the round took 0.6 s
        return sent

    monkeypatch.setattr(agents, "_fire_locked", slow_round)
    assert asyncio.run(agents.fire_due()) == 2
    assert fired == [["due", "due-too"]] and len(index) == 1


def test_commands_get_the_lock_between_rounds(rounds: tuple[DueIndex, list[list[str]]]) -> None:
    index, fired = rounds
    now = time.time()
    for i in range(6):
        index.push(now - 10 + i, f"case-{i}")
    applied_after: list[int] = []

    async def main() -> int:
        async def command_batch() -> None:
            async with agents.lock:
                applied_after.append(len(fired))

        timer = asyncio.ensure_future(agents.fire_due())
        await asyncio.sleep(0)  # the timer holds the lock for its first round
        await command_batch()
        return await timer

    assert asyncio.run(main()) == 6
    assert applied_after == [1]  # after the first round, not after the whole backlog


def test_nothing_due_fires_nothing(rounds: tuple[DueIndex, list[list[str]]]) -> None:
    index, fired = rounds
    index.push(time.time() + 60, "case-later")
    assert asyncio.run(agents.fire_due()) == 0 and fired == []
