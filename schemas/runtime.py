"""Process tuning every service applies at start-up (gateway, worker, sink).

Here, next to the other shared runtime helpers (``schemas.admin``), because the three
services may not import each other and each needs the same settings.
"""
from __future__ import annotations

import gc

#: Young-generation threshold of the cyclic GC (CPython's default is 700 allocations).
GC_YOUNG_THRESHOLD = 100_000


def tune_gc() -> None:
    """Collect young objects far less often, and never re-scan what start-up loaded.

    Every service works a batch at a time: the worker's agents hold up to ``batch_size``
    events, the sink holds up to ``batch_rows`` rows until ClickHouse has them. Every
    collection at CPython's default threshold finds those objects alive, promotes them and
    scans them again later. With the threshold above most of a batch is freed by reference
    counting before any collection sees it:

    - worker: the GC cost ~10% of its CPU (perf: ``gc_collect_main``, ``visit_decref``);
      560-621 vs 606-699 µs of worker CPU per contact (bench/agents, alternating runs);
    - sink: 1.5-1.7 s of ~13.5 s CPU in ~800 young, 73 middle and 7 full collections per
      10 s; after, 0.6 s (mostly the start-up collection); 62.7-64.1 vs 65.9-66.7 µs of CPU
      per row, 19,756-20,870 vs 18,787-19,256 rows/s (bench/sink_throughput, alternating);
    - gateway (requests are short-lived, but uvicorn, pydantic and librdkafka's callbacks
      allocate plenty): 120-126 vs 134-135 µs of CPU per request, p99 13.3-14.5 vs
      15.4-15.5 ms (bench/ingest, alternating).

    ``gc.freeze()`` moves the modules, pydantic schemas, rules and phone metadata loaded at
    start-up out of the collector's sight for good, so the occasional full pass stays short.
    Cyclic garbage is still collected, just less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 100)
