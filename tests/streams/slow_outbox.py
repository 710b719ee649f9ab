"""Fault injection for a live worker: hold each batch's outputs before they are produced.

Imported by the worker subprocess of ``test_shutdown`` (``python -c 'import tests.streams.slow_outbox; ...'``)
when ``INTAKE_TEST_FLUSH_DELAY`` is set: every non-empty :meth:`streams.delivery.Outbox.flush` first sleeps
that many seconds, so a SIGTERM sent meanwhile stops the worker with a batch taken from Kafka whose
outputs were never sent: the window in which a shutdown must not commit the batch's offsets.
"""
from __future__ import annotations

import asyncio
import os

from streams.delivery import Outbox

DELAY = float(os.environ.get("INTAKE_TEST_FLUSH_DELAY", "0"))
_flush = Outbox.flush


async def _slow_flush(self: Outbox) -> None:
    if self.count:
        await asyncio.sleep(DELAY)
    await _flush(self)


if DELAY > 0:
    Outbox.flush = _slow_flush  # type: ignore[method-assign]
