"""Which cases have a warning or breach due: a min-heap of (due instant, case id).

The table is the truth; this index only says where to look. Entries are never removed
when a clock changes: a stale entry pops, the engine finds nothing due, and nothing is
emitted. Rebuilt from the table after every recovery, so a restart loses no deadline and
clocks that fell due while the worker was down pop on the first tick.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterable

#: case ids one pop returns at most (the caller fires them as one committed round)
POP_LIMIT = 10_000


class DueIndex:
    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: float, case_id: str) -> None:
        heapq.heappush(self._heap, (due, case_id))

    def rebuild(self, entries: Iterable[tuple[float, str]]) -> None:
        self._heap = list(entries)
        heapq.heapify(self._heap)

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float, limit: int = POP_LIMIT) -> list[str]:
        """Case ids with an entry due by ``now`` (each once), at most ``limit`` per call."""
        out: dict[str, None] = {}
        heap = self._heap
        while heap and heap[0][0] <= now and len(out) < limit:
            out[heapq.heappop(heap)[1]] = None
        return list(out)
