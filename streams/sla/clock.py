"""What "now" is for the SLA clocks: the wall clock (live) or the stream's event time (replay).

Live, a breach fires when the wall clock passes the deadline. Re-running history at full
speed that way would breach every historic clock at once, so a replay worker runs with
``INTAKE_STREAMS_CLOCK=event``: time on a partition of the command topic is the latest
event time seen there (contact ``received_at``, lifecycle ``at``), and before a command is
applied every clock due strictly before its time fires. A stop that happened in time
therefore prevents the breach, whatever the processing speed.

Per partition, not global: partitions are consumed independently, and one running ahead
must not breach the clocks of another whose stopping events are still in flight. A quiet
partition's time does not move on its own; the replay driver ends the run with a
*watermark* command on every partition (kind ``W``) that carries the end of the range.

Pure and importable without Faust: the replay driver (``intake/replay.py``) uses the
topic name and the watermark encoding from here.
"""
from __future__ import annotations

import math
from datetime import datetime

import orjson

from ..tables import key_partition

#: Partitions of the internal command topic (and of the ``sla-cases`` table).
PARTITIONS = 4
#: Kind byte of a command (its first byte): the routed contact or lifecycle event follows it.
ROUTED_COMMAND = b"R"
LIFECYCLE_COMMAND = b"L"
WATERMARK = b"W"


def commands_topic(app_id: str) -> str:
    """The internal topic the SLA agent reads, keyed by case id: the routing agent's routed
    contacts and the lifecycle events ``sla_rekey`` re-keys (:mod:`streams.sla.commands`)."""
    return f"{app_id}-sla-commands"


def case_partition(case_id: str) -> int:
    """The command partition (and ``sla-cases`` table partition) of a case: murmur2, as the worker's
    producer places it (librdkafka's default hash differs, so other producers pass it explicitly)."""
    return key_partition(case_id.encode(), PARTITIONS)


def watermark(at: float, partition: int) -> bytes:
    """A command that only moves ``partition``'s event time to ``at`` (epoch seconds)."""
    return WATERMARK + orjson.dumps({"at": at, "partition": partition})


def command_time(raw: bytes) -> tuple[int, float] | None:
    """(partition, event time) of a command, or None when it carries no usable time."""
    kind, body = raw[:1], raw[1:]
    try:
        if kind == WATERMARK:
            data = orjson.loads(body)
            return int(data["partition"]), float(data["at"])
        data = orjson.loads(body)["data"]
        if kind == ROUTED_COMMAND:
            at = data["contact"]["received_at"]
        elif kind == LIFECYCLE_COMMAND:
            at = data["at"]
        else:
            return None
        return case_partition(str(data["case_id"])), datetime.fromisoformat(at).timestamp()
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # the agent dead-letters an undecodable command itself


class StreamClock:
    """Event time per partition; ``advance`` says up to when clocks must fire before a command."""

    def __init__(self, mode: str = "wall") -> None:
        self.event_time = mode == "event"
        self.now: dict[int, float] = {}

    def advance(self, raw: bytes) -> tuple[int, float] | None:
        """Move the command's partition forward; returns (partition, fire clocks due up to this
        instant) when time moved, else None. Strictly before the command's time: a stop at the
        very deadline is met (the engine's ``elapsed <= target``), not breached."""
        seen = command_time(raw)
        if seen is None:
            return None
        partition, at = seen
        if at <= self.now.get(partition, -math.inf):
            return None
        self.now[partition] = at
        return partition, math.nextafter(at, -math.inf)
