"""``intake sink``: migrations, the sink loop and the wallboard in ONE process.

chdb locks its data directory, so in the embedded default the process that writes must also
answer the wallboard's queries. The sink loop (blocking confluent-kafka consumer) runs in a
thread; the wallboard (FastAPI on uvicorn) in the main thread. If the loop dies, the server
stops and the process exits non-zero, so a supervisor sees it.
"""
from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator

import uvicorn

from schemas import KafkaSettings
from schemas.admin import ensure_topics
from schemas.runtime import tune_gc

from .clickhouse import StoreInUse, connect
from .consumer import SinkLoop
from .migrations import migrate
from .settings import SinkSettings
from .wallboard.app import Board, create_app
from .writer import Writer

log = logging.getLogger("sinks")

#: How long a thread waiting for the GIL lets the holder run before asking it to let go (CPython:
#: 5 ms). The writer thread gives the GIL up in every chdb call (plan, lookup, one insert per
#: table) and on return waits for it while the loop thread, always busy decoding and building
#: rows, holds it: up to 5 ms each time. At 1 ms: 18,398-22,785 (mean 21,041) against
#: 18,401-20,888 (mean 19,523) rows/s in 6 alternating pairs of ``bench/sink_throughput``.
GIL_SWITCH_SECONDS = 0.001


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after shutdown, which would kill us before the sink loop
    commits and leaves its group; here a signal only asks the server to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(sink: SinkSettings | None = None, kafka: KafkaSettings | None = None) -> None:
    sink, kafka = sink or SinkSettings(), kafka or KafkaSettings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        client = connect(sink.dsn, sink.database)
    except StoreInUse as exc:  # a second sink on one chdb directory: say so, no traceback
        raise SystemExit(f"sink: {exc}") from None
    applied = migrate(client, sink)
    log.info("ClickHouse %s (database %s), migrations applied: %s", sink.dsn.split("@")[-1], client.database,
             applied or "none")
    ensure_topics(kafka)
    loop = SinkLoop(sink, kafka, Writer(client, sink.group_id, sink.fault))
    board = Board(connect(sink.dsn, sink.database), sink)
    app = create_app(board, sink, status=loop.status, ready=lambda: loop.running and loop.backend_ok)
    server = _Server(uvicorn.Config(app, host=sink.wallboard_host, port=sink.wallboard_port, log_level="warning"))
    stop, failure = threading.Event(), []
    tune_gc()  # after start-up: what migrations, the models and the wallboard loaded is frozen for good
    sys.setswitchinterval(GIL_SWITCH_SECONDS)

    def run_loop() -> None:
        try:
            loop.run(stop)
        except BaseException as exc:  # a dead sink must not hide behind a live wallboard
            log.exception("sink loop failed")
            failure.append(exc)
            server.should_exit = True

    thread = threading.Thread(target=run_loop, name="sink-loop", daemon=True)
    thread.start()
    log.info("wallboard on http://%s:%s/", sink.wallboard_host, sink.wallboard_port)
    try:
        server.run()
    finally:
        stop.set()
        thread.join(timeout=30)
    if failure:
        raise SystemExit(1)
