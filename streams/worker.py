"""Entry point of the stream worker: imports every agent module, then runs Faust."""
from __future__ import annotations

import ctypes
import fcntl
import os
import sys
from pathlib import Path
from typing import IO

from confluent_kafka.admin import AdminClient, NewTopic

from schemas.admin import create_topics
from schemas.runtime import tune_gc

from .app import app, kafka, settings


def load_agents() -> None:
    """Each import registers its agents on ``app``."""
    from . import routing  # noqa: F401
    from .alerts import agents  # noqa: F401  (SLA clocks in streams.sla.agents, breach-spike alerts)
    from . import watchdog  # noqa: F401  (/healthz: stalled partitions)


def declare_internal_topics(timeout: float = 30.0) -> list[str]:
    """Create the agents' internal (repartition) topics before the worker subscribes.

    Faust declares them while it starts and subscribes at once; a topic the broker does not
    list yet is left out of the first assignment, and when it shows up at the next metadata
    refresh the whole group rebalances mid-stream. Created up front, the first assignment is
    complete. Table changelogs are left to Faust (it creates them, compacted, before it
    subscribes).
    """
    admin = AdminClient(kafka.confluent())
    return create_topics(admin, [NewTopic(name, num_partitions=agent.channel.partitions or app.conf.topic_partitions,
                                          replication_factor=app.conf.topic_replication_factor)
                                 for agent in app.agents.values() if getattr(agent.channel, "internal", False)
                                 for name in agent.channel.topics], timeout)


def claim_datadir(datadir: Path) -> IO[str]:
    """Lock ``datadir`` for this process, or exit naming the worker that holds it.

    A worker's datadir is its identity: its RocksDB tables, and its static group member id
    (:meth:`streams.settings.StreamSettings.group_instance_id`). Two live workers on one
    would take that id from each other in a rebalance loop. The lock goes with the process,
    however it ends (SIGKILL included), so a worker restarted in place finds it free.
    """
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level of it
    handle = (datadir / "worker.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise SystemExit(f"{datadir} is in use by another running worker (pid {holder}): "
                         "give each worker its own INTAKE_STREAMS_DATADIR") from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


#: glibc's ``M_MMAP_THRESHOLD`` (its initial default): blocks this large are mmap'ed, and unmapped on free.
MALLOC_MMAP_THRESHOLD = 128 * 1024
#: glibc's ``M_TRIM_THRESHOLD`` for the worker: free heap above this much goes back to the OS.
MALLOC_TRIM_THRESHOLD = 64 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)


def tune_malloc() -> bool:
    """Give freed memory back to the OS instead of keeping the high-water mark of a burst.

    glibc raises its mmap threshold each time a large block (a fetch response, an encoded
    batch) is freed, up to 32 MiB; from then on such blocks come from the heap, small
    long-lived objects (table values) land between them, and the holes they leave are never
    returned. Fixed thresholds (setting either stops glibc's adjustment) keep large blocks
    mmap'ed, so they go back on free; the mmap threshold is set back explicitly because
    start-up has raised it already. With 100,000 open SLA clocks the worker's RSS grew
    98 -> 265 MiB instead of 96 -> 282-318 (bench/sla_live), lag unchanged. The same as the
    ``MALLOC_TRIM_THRESHOLD_=65536`` Dask gives its workers. Left alone when the operator set
    that variable (glibc applied it at start) or the C library is not glibc.
    """
    if "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD))


def main(argv: list[str] | None = None) -> None:
    lock = claim_datadir(settings.datadir)  # noqa: F841 - held (open) for the life of the process
    load_agents()
    declare_internal_topics()
    tune_gc()
    tune_malloc()
    sys.argv = ["intake-worker", *(argv if argv is not None else ["worker", "-l", "info"])]
    app.main()
