"""Process tuning the gateway, the stream worker and the sink apply at start-up.

Here, next to the other shared runtime helpers (``schemas.admin``), because the services
may not import each other and each needs the same settings.
"""
from __future__ import annotations

import gc

#: Young-generation threshold of the cyclic GC (CPython's default is 700 allocations).
GC_YOUNG_THRESHOLD = 100_000


def tune_gc() -> None:
    """Collect young objects far less often, and never re-scan what start-up loaded.

    The worker's agents hold up to ``batch_size`` events until the batch is flushed. Every
    collection at CPython's default threshold finds those objects alive, promotes them and
    scans them again later. With the threshold above most of a batch is freed by reference
    counting before any collection sees it:

    - worker: the GC cost ~10% of its CPU (perf: ``gc_collect_main``, ``visit_decref``);
      560-621 vs 606-699 µs of worker CPU per contact (bench/agents, alternating runs);
    - gateway (requests are short-lived, but uvicorn, pydantic and librdkafka's callbacks
      allocate plenty): 120-126 vs 134-135 µs of CPU per request, p99 13.3-14.5 vs
      15.4-15.5 ms (bench/ingest, alternating);
    - sink: 68-73 vs 77-79 µs of CPU per row (bench/sink_throughput, alternating). Its RSS
      grew 504 -> 756 MiB in a 10-minute soak with these settings until the writer stopped
      leaving each block in a reference cycle (``sinks.writer.Writer._insert``); since then
      +31 and +54 MiB in two such soaks (+24 to +64 at CPython's defaults).

    ``gc.freeze()`` moves the modules, pydantic schemas, rules and phone metadata loaded at
    start-up out of the collector's sight for good, so the occasional full pass stays short.
    Cyclic garbage is still collected, just less often: whatever a service allocates per
    event must be freed by reference counting (tests/sinks/test_writer.py checks the sink's).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 100)
