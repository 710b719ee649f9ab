"""The worker hands memory freed after a burst back to the OS (``streams.worker.tune_malloc``).

Each case runs in a fresh interpreter: glibc's allocator state (its dynamic mmap threshold)
is per process, and this test process has moved it already.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator is what is tuned")

# A burst as the worker sees one: a large block freed (raises glibc's dynamic mmap threshold),
# then 60 large blocks with a small long-lived object (a table value) allocated after each,
# then the large blocks freed. Figures: anonymous RSS in MiB.
BURST = """
import json, sys
from streams.worker import tune_malloc

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024

block = bytearray(4 << 20)  # start-up (imports, first fetches) has raised the threshold already
del block
tuned = tune_malloc() if sys.argv[1] == "tuned" else False
base = rss()
kept, blocks = [], []
for _ in range(60):
    blocks.append(bytearray(1 << 20))
    kept.append(bytearray(1000))  # above pymalloc's 512 bytes: from glibc's heap
peak = rss()
del blocks
print(json.dumps({"tuned": tuned, "base": base, "peak": peak, "after": rss()}))
"""


def _burst(mode: str, **env: str) -> dict[str, int]:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"} | env
    out = subprocess.run([sys.executable, "-c", BURST, mode], env=environ, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_memory_freed_after_a_burst_goes_back_to_the_os() -> None:
    plain, tuned = _burst("plain"), _burst("tuned")
    assert plain["peak"] - plain["base"] >= 55 and tuned["peak"] - tuned["base"] >= 55, (plain, tuned)
    assert plain["after"] - plain["base"] >= 50, f"glibc's default kept the burst: the case reproduces it {plain}"
    assert tuned["tuned"] is True
    assert tuned["after"] - tuned["base"] <= 10, f"the tuned worker returned the burst's memory {tuned}"


def test_an_operators_own_malloc_setting_is_left_alone() -> None:
    figures = _burst("tuned", MALLOC_TRIM_THRESHOLD_="65536")
    assert figures["tuned"] is False
    assert figures["after"] - figures["base"] <= 10, figures  # glibc applied the operator's value itself
