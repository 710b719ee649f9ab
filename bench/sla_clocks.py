"""SLA clock engine at scale: breach detection lag and memory with 100,000 open clocks.

Drives the real engine, state encoding and deadline index in-process, the way the worker's
timer does (tick, pop due cases, decode, fire, encode), without Kafka: the figures are the
engine's own; on a live worker add Kafka's acknowledgement time (milliseconds) per tick.
Lag = when the breach was computed minus its deadline; it includes waiting for the next tick.

    .venv/bin/python -m bench sla_clocks          # or: .venv/bin/python bench/sla_clocks.py
    BENCH_SLA_CLOCKS=20000 .venv/bin/python -m bench sla_clocks   # fewer clocks (figures say how many)

No Kafka is involved. With 100,000 clocks it takes ~3 min on the 2-core box (tracemalloc's
memory pass ~35 s, each scenario ~1 min of which most is waiting for the deadlines). The timer
loop stops once the index holds nothing due by the measured window's end and gives up
``BENCH_SLA_GRACE_S`` (120 s) after it with the count fired so far, instead of spinning.
"""
from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.contact import Contact
from schemas.routed import DedupVerdict, RoutedContact
from schemas.sla import SlaStatus
from streams.sla.engine import ClockEngine
from streams.sla.index import DueIndex
from streams.sla.policy import PolicySet, SlaPolicy
from streams.sla.state import CaseState

from bench._support import percentile

#: open clocks (``BENCH_SLA_CLOCKS``); figures are also given scaled to 100,000
CLOCKS = int(os.environ.get("BENCH_SLA_CLOCKS", "100000"))
#: give up on a scenario's timer loop this long after its last measured deadline
GRACE = float(os.environ.get("BENCH_SLA_GRACE_S", "120"))
TARGET = 30.0   # seconds: every case gets one first-response clock (warnings at 75% and 90%)
P99_TARGET = 1.0  # seconds: breach detection lag p99
TICK = 0.25     # the shipped policy's timer interval
#: steady: deadlines spread over 10 minutes (~170 breaches/s), lag measured over the first 30 s;
#: burst: all 100,000 deadlines within 25 s (4,000 breaches/s plus 8,000 warnings/s).
SCENARIOS = {"steady": (600.0, 30.0), "burst": (25.0, 25.0)}

POLICY = SlaPolicy.model_validate({
    "version": "bench", "default_calendar": "always", "warn_at": [0.75, 0.9],
    "calendars": {"always": {"always_open": True}},
    "clocks": {"first_response": {"start_on": ["new_case"], "stop_on": ["first_response"]}},
    "rules": [{"name": "all", "targets": {"first_response": TARGET}}],
})


def new_case(i: int, received: float) -> RoutedContact:
    """Routed contact ``i``: a new case (``case-<i>``) received at ``received`` (epoch seconds)."""
    from datetime import datetime, timezone

    contact = Contact(channel="chat", provider="bench", provider_message_id=f"m{i}",
                      received_at=datetime.fromtimestamp(received, tz=timezone.utc))
    return RoutedContact(contact_id=f"c{i}", contact=contact, customer_key=f"k{i}", case_id=f"case-{i:06d}",
                         dedup=DedupVerdict.NEW_CASE, queue=f"q{i % 20}")


def _open(engine: ClockEngine, routed: list[RoutedContact]) -> tuple[dict[bytes, bytes], DueIndex]:
    table: dict[bytes, bytes] = {}   # what the memory:// table store holds: key bytes -> value bytes
    index = DueIndex()
    for i, r in enumerate(routed):
        result = engine.on_contact(None, r, f"e{i}", r.contact.received_at.timestamp())
        table[r.case_id.encode()] = result.state.encode()
        for due, _clock in result.scheduled:
            index.push(due, r.case_id)
    return table, index


def _memory(engine: ClockEngine) -> int:
    """Bytes held by 100,000 open clocks' table values and index entries."""
    routed = [new_case(i, time.time()) for i in range(CLOCKS)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    table, index = _open(engine, routed)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del table, index
    return held


def _timer(engine: ClockEngine, table: dict[bytes, bytes], index: DueIndex, until: float,
           expected: int) -> tuple[list[float], int, float]:
    """The worker's timer loop: fire what is due every tick, until every clock due by ``until``
    has fired (the index holds nothing due by then; ``expected`` is only for progress);
    returns the lags of the breaches with a deadline up to ``until``, the events emitted and
    the CPU seconds the ticks took."""
    lags: list[float] = []
    events = 0
    busy = 0.0
    last_print = time.time()
    while True:
        now = time.time()
        first = index.next_due()
        if now > until and (first is None or first > until):
            return lags, events, busy
        if now > until + GRACE:
            raise TimeoutError(f"{len(lags):,} of {expected:,} breaches fired {GRACE:g} s after the last deadline "
                               f"(the timer cannot keep up: {busy:.1f} s busy)")
        started = time.perf_counter()
        for case_id in index.pop_due(now, limit=CLOCKS):
            key = case_id.encode()
            state = CaseState.decode(table[key])
            result = engine.fire(state, now)
            table[key] = state.encode()
            for due, _clock in result.scheduled:
                index.push(due, case_id)
            done = time.time()
            for emit in result.emits:
                events += 1
                if emit.payload.status == SlaStatus.BREACHED and emit.payload.deadline.timestamp() <= until:
                    lags.append(done - emit.payload.deadline.timestamp())
        spent = time.perf_counter() - started
        busy += spent
        if time.time() - last_print > 10:
            print(f"    {time.time() - until:+6.1f} s to the window's end: {len(lags):,} of {expected:,} breaches, "
                  f"{len(index):,} index entries", flush=True)
            last_print = time.time()
        time.sleep(max(0.0, TICK - spent))


def scenario(engine: ClockEngine, name: str, spread: float, measured: float) -> dict[str, float]:
    # calibrate, so the first deadline falls just after all clocks are open
    sample = [new_case(i, time.time()) for i in range(2000)]
    began = time.perf_counter()
    _open(engine, sample)
    # the contacts are built before t0 is fixed (placeholders shifted afterwards: no time lost
    # between the calibration and the deadlines); 3x the calibrated opening time as margin
    # (a shared box), at least 5 s
    offsets = [spread * i / CLOCKS for i in range(CLOCKS)]
    t0 = time.time() + max((time.perf_counter() - began) / len(sample) * CLOCKS * 3, 5.0) + 1.0
    routed = [new_case(i, t0 - TARGET + offsets[i]) for i in range(CLOCKS)]
    print(f"[{name}] opening {CLOCKS:,} clocks, deadlines over {spread:g} s ...", flush=True)
    build_started = time.perf_counter()
    table, index = _open(engine, routed)
    build_seconds = time.perf_counter() - build_started
    if time.time() > t0:
        raise RuntimeError("opening the clocks took longer than calibrated: deadlines already passed")
    print(f"[{name}] opened in {build_seconds:.1f} s; {t0 - time.time():.1f} s to the first deadline, "
          f"measuring {measured:g} s of deadlines", flush=True)
    window_started = time.time()
    expected = sum(1 for r in routed if r.contact.received_at.timestamp() + TARGET <= t0 + measured)
    del routed
    lags, events, busy = _timer(engine, table, index, t0 + measured, expected)
    window = time.time() - window_started
    events_rate = events / window
    if len(lags) != expected:
        print(f"[{name}] {len(lags):,} breaches measured, {expected:,} expected", flush=True)
    return {f"{name}_breaches_measured": len(lags), f"{name}_breaches_expected": expected,
            f"{name}_timer_busy_fraction": round(busy / window, 3),
            f"{name}_breach_lag_p50_ms": round(percentile(lags, 0.50) * 1000, 1),
            f"{name}_breach_lag_p99_ms": round(percentile(lags, 0.99) * 1000, 1),
            f"{name}_events_per_s": round(events_rate),
            f"{name}_open_rate_clocks_per_s": round(CLOCKS / build_seconds)}


def run() -> dict[str, float | str]:
    engine = ClockEngine(PolicySet(POLICY))
    print(f"measuring memory of {CLOCKS:,} open clocks (tracemalloc: slow) ...", flush=True)
    began = time.perf_counter()
    memory = _memory(engine)
    print(f"  {memory / CLOCKS:,.0f} bytes per open clock ({time.perf_counter() - began:.0f} s)", flush=True)
    table, _ = _open(engine, [new_case(i, time.time()) for i in range(CLOCKS)])
    rebuild_started = time.perf_counter()
    entries = []
    for raw in table.values():
        state = CaseState.decode(raw)
        entries.extend((c.due, state.case_id) for c in state.clocks.values() if c.due is not None)
    DueIndex().rebuild(entries)
    rebuild_seconds = time.perf_counter() - rebuild_started
    del table, entries
    figures: dict[str, float | str] = {
        "open_clocks": CLOCKS, "tick_seconds": TICK,
        "memory_mib_per_100k_open_clocks": round(memory / 2**20 * 100_000 / CLOCKS, 1),
        "memory_bytes_per_open_clock": round(memory / CLOCKS),
        "index_rebuild_seconds_per_100k": round(rebuild_seconds * 100_000 / CLOCKS, 2),
    }
    for name, (spread, measured) in SCENARIOS.items():
        began = time.perf_counter()
        figures.update(scenario(engine, name, spread, measured))
        figures[f"{name}_lag_p99_ratio_to_target"] = round(figures[f"{name}_breach_lag_p99_ms"] / 1000 / P99_TARGET, 3)
        print(f"[{name}] done in {time.perf_counter() - began:.0f} s: "
              f"p50 {figures[f'{name}_breach_lag_p50_ms']} ms, p99 {figures[f'{name}_breach_lag_p99_ms']} ms", flush=True)
    for name, value in figures.items():
        print(f"  {name:<34} {value}")
    return figures


if __name__ == "__main__":
    run()
