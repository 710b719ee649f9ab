"""The consumer (streams/consumer.py): its delivery fast path answers like Faust's ``wait_first``, and the
seek that ends a rebalance rewinds every partition Faust may have dropped records of."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AIOTopicPartition
from faust.types import TP

from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS
from streams.app import app
from streams.consumer import Consumer, seek_to_committed


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


TP0 = TP("intake.contacts.v1", 0)


@pytest.fixture
def fetching(consumer: Consumer, monkeypatch: pytest.MonkeyPatch) -> Consumer:
    """The consumer with its flow running, a fetch that returns offsets 7 and 8 of ``TP0`` and a commit at 2."""
    async def fetched(timeout: float) -> tuple[dict, set]:
        return {TP0: [SimpleNamespace(offset=7), SimpleNamespace(offset=8)]}, {TP0}

    async def committed() -> dict:
        return {TP0: 2}

    monkeypatch.setattr(consumer, "_wait_next_records", fetched)
    monkeypatch.setattr(consumer, "_to_message", lambda tp, record: record)
    monkeypatch.setattr(consumer, "highwater", lambda tp: 9)
    monkeypatch.setattr(consumer, "seek_to_committed", committed)
    consumer.resume_flow()
    return consumer


async def test_the_rebalance_seek_waits_for_the_fetch_loop_to_record_its_message_and_leaves_the_flow_stopped(
        fetching: Consumer) -> None:
    """Recovery seeks, then clears the stream buffers and resumes the flow: a message the fetch loop delivers
    during the seek is cleared, so the read offset it records must come before the seek resets it, and nothing
    may be delivered between the seek and the clear (the stall of docs/routing.md, "Partitions taken over")."""
    batch = fetching.getmany(timeout=1.0)  # what Consumer._drain_messages iterates
    tp, message = await batch.__anext__()  # the loop holds offset 7, delivering it
    assert (tp, message.offset) == (TP0, 7)
    seek = asyncio.ensure_future(fetching.perform_seek())
    await asyncio.sleep(0.05)
    assert not seek.done(), "the seek must not reset the read offsets while the loop still holds a message"
    assert not fetching.flow_active
    fetching._read_offset[TP0] = 7  # delivered: the loop records it, then asks for the next
    with pytest.raises(StopAsyncIteration):  # the flow is stopped: offset 8 stays undelivered
        await batch.__anext__()
    await asyncio.wait_for(seek, 2)
    assert fetching._read_offset[TP0] == 2, "fetched again from the commit, not dropped as already read"
    assert not fetching.flow_active, "recovery resumes the flow once it has cleared the stream buffers"


async def test_the_rebalance_seek_does_not_wait_for_a_fetch_loop_cancelled_while_holding_a_message(
        fetching: Consumer) -> None:
    async def fetch_loop() -> None:  # stopped (the worker shuts down) while it delivers
        async for _ in fetching.getmany(timeout=1.0):
            await asyncio.Event().wait()

    loop_task = asyncio.ensure_future(fetch_loop())
    await asyncio.sleep(0.01)
    loop_task.cancel()
    await asyncio.wait_for(fetching.perform_seek(), 2)
    assert fetching._read_offset[TP0] == 2


@pytest.mark.kafka
async def test_the_rebalance_seek_rewinds_partitions_the_group_never_committed(kafka_settings: KafkaSettings) -> None:
    """Faust drops what it fetched before recovery ended and relies on this seek to fetch it again: a
    partition without a committed offset must go back to the start, not stay past the dropped records."""
    topic = kafka_settings.topic(CONTACTS)
    never, committed, empty = (AIOTopicPartition(topic, p) for p in range(3))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
    await producer.start()
    try:
        for n in range(5):
            await producer.send_and_wait(topic, b"v%d" % n, partition=never.partition)
        for n in range(3):
            await producer.send_and_wait(topic, b"v%d" % n, partition=committed.partition)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_settings.bootstrap_servers, enable_auto_commit=False,
                                group_id=f"{kafka_settings.topic_prefix}-seek", auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([never, committed, empty])

        async def fetch_all(expected: int) -> None:  # what Faust does before recovery is over, and then drops
            got = 0
            while got < expected:
                got += sum(map(len, (await consumer.getmany(timeout_ms=2000)).values()))
            assert (await consumer.position(never), await consumer.position(committed)) == (5, 3)

        await fetch_all(8)
        await consumer.commit({committed: 2})
        assert await consumer.seek_to_committed() == {never: None, committed: 2, empty: None}
        assert await consumer.position(never) == 5  # aiokafka alone: the dropped records would never come back

        assert await seek_to_committed(consumer) == {never: None, committed: 2, empty: None}
        assert [await consumer.position(tp) for tp in (never, committed, empty)] == [0, 2, 0]

        await fetch_all(6)
        await seek_to_committed(consumer, skip_topics={topic})  # table changelogs: recovery positions those
        assert [await consumer.position(tp) for tp in (never, committed)] == [5, 2]

        await seek_to_committed(consumer, reset="latest")
        assert await consumer.position(never) == 5
    finally:
        await consumer.stop()
