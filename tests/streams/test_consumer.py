"""The consumer's delivery fast path (streams/consumer.py) answers like Faust's ``wait_first``."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from streams.app import app
from streams.consumer import Consumer


def test_the_worker_runs_on_the_fast_path_consumer() -> None:
    assert app.transport.Consumer is Consumer


@pytest.fixture
async def consumer() -> AsyncIterator[Consumer]:
    """A consumer of the app bound to this test's event loop (not started: no broker needed)."""
    async def unused(*_args: object) -> None: ...

    made = Consumer(app.transport, callback=unused, on_partitions_revoked=unused, on_partitions_assigned=unused,
                    loop=asyncio.get_running_loop())
    yield made
    made._thread.thread_loop.close()  # the fetch thread's own loop, made for a thread that never started


def _tasks_created(loop: asyncio.AbstractEventLoop) -> list[int]:
    made = [0]
    factory = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro, **kw):  # noqa: ANN001, ANN003
        made[0] += 1
        return factory(loop, coro, **kw) if factory else asyncio.Task(coro, loop=loop, **kw)

    loop.set_task_factory(counting)
    return made


async def test_a_delivery_that_needs_no_wait_runs_in_place_and_closes_the_other_awaitables(consumer: Consumer) -> None:
    delivered: list[str] = []

    async def deliver(message: str) -> str:
        delivered.append(message)
        return "done"

    suspended = asyncio.Event().wait()
    made = _tasks_created(asyncio.get_running_loop())
    results = await consumer.wait_first(deliver("m1"), suspended)
    assert suspended.cr_frame is None, "left unawaited it would warn 'never awaited' once per message"
    assert delivered == ["m1"]
    assert results.done and results.results == ["done"] and not results.stopped
    assert made[0] == 0, "Faust's wait_first makes four tasks per message; the fast path none"


async def test_a_delivery_that_has_to_wait_is_finished_when_what_it_waits_for_happens(consumer: Consumer) -> None:
    room = asyncio.Event()
    steps: list[str] = []

    async def deliver() -> str:
        steps.append("decoded")
        await room.wait()  # a full stream buffer
        await asyncio.sleep(0)
        steps.append("queued")
        return "done"

    waiting = asyncio.ensure_future(consumer.wait_first(deliver(), asyncio.Event().wait()))
    await asyncio.sleep(0.01)
    assert steps == ["decoded"] and not waiting.done()
    room.set()
    results = await asyncio.wait_for(waiting, 2)
    assert steps == ["decoded", "queued"]
    assert results.results[0] == "done"


async def test_a_rebalance_cancels_a_waiting_delivery_where_it_waits(consumer: Consumer) -> None:
    room, suspend = asyncio.Event(), asyncio.Event()
    seen: list[str] = []

    async def deliver() -> None:
        try:
            await room.wait()
            seen.append("queued")
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    waiting = asyncio.ensure_future(consumer.wait_first(deliver(), suspend.wait()))
    await asyncio.sleep(0.01)
    suspend.set()  # the flow is suspended for a rebalance: the message is dropped, to be fetched again
    results = await asyncio.wait_for(waiting, 2)
    await asyncio.sleep(0.01)
    assert seen == ["cancelled"]
    assert results.done and results.results == [True]  # only the suspension won
    room.set()
    await asyncio.sleep(0.01)
    assert seen == ["cancelled"], "a cancelled delivery must never complete later"


async def test_an_error_in_a_delivery_reaches_the_fetch_loop(consumer: Consumer) -> None:
    async def deliver() -> None:
        raise ValueError("undecodable")

    async def deliver_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("later")

    with pytest.raises(ValueError, match="undecodable"):
        await consumer.wait_first(deliver(), asyncio.Event().wait())
    with pytest.raises(KeyError, match="later"):
        await consumer.wait_first(deliver_later(), asyncio.Event().wait())
