"""Faust's Kafka consumer without four asyncio tasks per consumed message.

Faust's fetch loop (``Consumer._drain_messages``) hands every message to the conductor with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: ``wait_first`` wraps
the callback, the flow-suspension event and the consumer's stopped and crashed events in a
task each, waits for the first to finish and cancels the other three. That costs more than
everything else Faust does per message: a bare Faust agent on the local broker spent 276 µs
of CPU per consumed message with it and 115 µs without it (3,800 -> 9,000 messages/s).

The callback (decode, put on the stream's buffer) nearly always finishes without waiting.
:class:`Consumer` runs its first step in place and only when it does have to wait (flow
suspended for a rebalance, a full stream buffer, the producer buffer above its ebb) falls back
to Faust's ``wait_first``, with the started callback finished in a task: a rebalance still
cancels a waiting delivery exactly as before. Every other ``wait_first`` caller gets the same
answer it would have got when its first awaitable finishes at once.

:class:`ConsumerThread` fixes the seek that ends a rebalance. Faust fetches before recovery
is over and drops what it fetched for the stream partitions, counting on ``perform_seek``
to rewind them to the group's committed offsets; aiokafka's ``seek_to_committed`` only moves
partitions with a committed offset above 0, so a partition the group never committed stayed
*past* the records Faust had dropped and the worker reported Ready without ever delivering
them (docs/routing.md, "Partitions taken over"). Those partitions now restart where the
group's reset policy says (earliest), as a new group's would.

:meth:`Consumer.perform_seek` stops the fetch loop for that seek. Recovery resumes the stream
partitions, seeks, then resumes Faust's flow control, which clears the stream buffers: a fetch
loop left running through the seek delivered records into buffers about to be cleared and
recorded them as read, so they were neither fetched again nor ever acked and the worker stalled
after "Ready" with its commits stuck (the second way in, same section of the docs).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Coroutine, Mapping
from typing import Any

import aiokafka as aiokafka_client
from faust.transport.drivers import aiokafka
from mode.services import WaitResults


async def _finish(coro: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    """Run a started coroutine to its end, as a Task would: wait for what it waits on, resume it."""
    while True:
        try:
            if waiting is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:
                waiting._asyncio_future_blocking = False
                await asyncio.wait([waiting])
        except asyncio.CancelledError:
            try:  # let the coroutine clean up where it waits (an Event drops its waiter), then give up
                coro.throw(asyncio.CancelledError())
            except (asyncio.CancelledError, StopIteration):
                pass
            else:
                coro.close()
            raise
        try:
            waiting = coro.send(None)
        except StopIteration as stop:
            return stop.value


async def seek_to_committed(consumer: aiokafka_client.AIOKafkaConsumer, reset: str = "earliest",
                            skip_topics: Collection[str] = ()) -> dict[Any, int | None]:
    """aiokafka's ``seek_to_committed``, and the partitions it leaves alone (no committed offset above
    0) moved to where ``reset`` starts, except those of ``skip_topics``. Returns the committed offsets."""
    committed = await consumer.seek_to_committed()
    unset = [tp for tp, offset in committed.items() if (offset is None or offset <= 0) and tp.topic not in skip_topics]
    if unset:
        await (consumer.seek_to_end if reset == "latest" else consumer.seek_to_beginning)(*unset)
    return committed


class ConsumerThread(aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread whose seek to the committed offsets moves uncommitted partitions too."""

    async def seek_to_committed(self) -> Mapping[Any, int | None]:
        # changelogs: recovery seeks those itself, and the group never commits them
        return await self.call_thread(seek_to_committed, self._ensure_consumer(),
                                      self.app.conf.consumer_auto_offset_reset, self.app.tables.changelog_topics)


class Consumer(aiokafka.Consumer):
    """aiokafka-driven Faust consumer: ``wait_first`` finishes an immediate first awaitable in place, and
    the seek that ends a rebalance happens with the fetch loop stopped and rewinds uncommitted partitions too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the fetch loop's task while it holds a message it has not yet recorded as read, and the signal it let go
        self._holder: asyncio.Task | None = None
        self._released = asyncio.Event()

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        # the fetch loop records a message as read (its read offset) only after delivering it, and then asks
        # for the next: from a yield to the next request it holds one (the loop's task: one per call)
        holder = asyncio.current_task()
        async for delivery in super().getmany(timeout):
            self._holder = holder
            self._released.clear()
            try:
                yield delivery
            finally:
                self._holder = None
                self._released.set()

    async def perform_seek(self) -> None:
        """Stop the fetch loop and let it record its last message before rewinding to the committed offsets:
        recovery clears the stream buffers and resumes the loop right after (module docstring)."""
        if self.flow_active:
            self.stop_flow()
            holder = self._holder
            if holder is not None and not holder.done():  # a loop cancelled while holding never lets go
                released = asyncio.ensure_future(self._released.wait())
                try:
                    await asyncio.wait([released, holder], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    released.cancel()
        await super().perform_seek()

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        first = coros[0] if coros else None
        if not asyncio.iscoroutine(first) or self._stopped.is_set() or self._crashed.is_set():
            return await super().wait_first(*coros, timeout=timeout)
        try:
            waiting = first.send(None)
        except StopIteration as stop:
            return WaitResults([first], [stop.value], False)
        finally:
            if first.cr_frame is None:  # it finished (or raised): the others are never awaited
                for other in coros[1:]:
                    if asyncio.iscoroutine(other):
                        other.close()
        return await super().wait_first(_finish(first, waiting), *coros[1:], timeout=timeout)


class Transport(aiokafka.Transport):
    Consumer = Consumer


def transport_for(chosen: type) -> type:
    """This transport in place of Faust's aiokafka one; any other driver as it is."""
    return Transport if chosen is aiokafka.Transport else chosen
