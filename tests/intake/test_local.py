"""``intake up`` stops its services together: Ctrl-C must not take a service's grace period per service."""
from __future__ import annotations

import subprocess
import sys
import time

from intake.local import Service, stop_services

STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
POLITE = "import time; print('up', flush=True); time.sleep(60)"


def _running(name: str, code: str) -> Service:
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout is not None and process.stdout.readline() == "up\n"  # its signal handler is in place
    return Service(name, [], process=process)


def test_services_get_one_shared_grace_period_and_the_stubborn_ones_are_killed() -> None:
    services = [_running("sink", STUBBORN), _running("worker", POLITE), _running("gateway", STUBBORN),
                _running("traffic", STUBBORN), Service("never started", [])]
    began = time.monotonic()
    stop_services(services, timeout=2.0)
    took = time.monotonic() - began
    assert [s.process.returncode for s in services[:4]] == [-9, -15, -9, -9]  # type: ignore[union-attr]
    assert took < 2.0 * 2, f"{took:.1f} s: three services ignoring SIGTERM got one 2-s grace period, not one each"
