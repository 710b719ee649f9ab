"""The services' GC settings (``schemas.runtime.tune_gc``): a batch held until it is flushed
is not scanned by young collections, and what start-up loaded is frozen.

Each case runs in a fresh interpreter: GC thresholds and the frozen generation are per
process, and pytest's own state would blur the counts.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

# One batch as an agent holds it: 4,000 events of 20 values (84,000 containers the GC tracks),
# alive until the flush. Counts the collections of each generation while it is built.
BATCH = """
import gc, json, sys
from schemas.runtime import tune_gc

if sys.argv[1] == "tuned":
    tune_gc()
runs = [0, 0, 0]
gc.callbacks.append(lambda phase, info: phase == "stop" and runs.__setitem__(info["generation"], runs[info["generation"]] + 1))
rows = [{f"c{i}": [n, i] for i in range(20)} for n in range(4_000)]
print(json.dumps({"runs": runs, "threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def _batch(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", BATCH, mode], capture_output=True, text=True, timeout=60,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs() -> tuple[dict, dict]:
    """The batch at CPython's defaults and with ``tune_gc``, run once for both tests."""
    return _batch("plain"), _batch("tuned")


def test_a_batch_held_until_its_flush_is_not_rescanned(runs: tuple[dict, dict]) -> None:
    plain, tuned = runs
    assert sum(plain["runs"]) >= 50, f"CPython's default collects many times per batch: the case reproduces it {plain}"
    assert plain["runs"][1] >= 1, plain
    assert tuned["runs"] == [0, 0, 0], tuned
    assert tuned["threshold"][0] == 100_000


def test_what_start_up_loaded_is_frozen(runs: tuple[dict, dict]) -> None:
    plain, tuned = runs
    assert plain["frozen"] == 0
    assert tuned["frozen"] > 10_000, "modules and schemas imported before tune_gc are out of the collector's sight"
