"""Run every benchmark module in bench/ and write bench/results/latest.json plus a table.

Each benchmark is a module with ``run() -> dict[str, float | str]`` that prints its own
progress and returns its figures; targets and ratios are part of the figures. Run one with
``python -m bench NAME`` (module name without .py).

Every benchmark's figures also say how fast the box was: ``box_reference_us`` (one routed
contact's pydantic decode + encode, best of 5 rounds, just before the run) and
``box_cpu_steal_pct`` (the hypervisor's share of all CPU time during the run). The same code
measured 40% apart in one day on this 2-core VM; compare runs only at similar values.

The topics a benchmark created are deleted when it is done (``BENCH_KEEP_TOPICS=1`` keeps them
for a look afterwards), so the next benchmark meets the broker as the first one did.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from ._support import cpu_ticks, drop_fresh_topics, reference_us

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))


def main(names: list[str]) -> int:
    names = names or discover()
    out = HERE / "results" / "latest.json"
    # figures of benchmarks not run this time stay, each with the time it was measured
    results: dict[str, object] = json.loads(out.read_text()) if out.exists() else {}
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    for name in names:
        print(f"== {name}", flush=True)
        reference = reference_us()
        began, before = time.monotonic(), cpu_ticks()
        try:
            figures = importlib.import_module(f"bench.{name}").run()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            figures = {"error": f"{type(exc).__name__}: {exc}"}
        figures["wall_seconds"] = round(time.monotonic() - began, 1)
        after = cpu_ticks()
        figures["box_reference_us"] = round(reference, 1)
        figures["box_cpu_steal_pct"] = round(100 * (after.steal - before.steal) / max(after.total - before.total, 1), 1)
        figures["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        results[name] = figures
        if os.environ.get("BENCH_KEEP_TOPICS") != "1":
            try:
                print(f"dropped the {drop_fresh_topics()} topics of {name}", flush=True)
            except Exception as exc:  # noqa: BLE001 - a broker gone with a failed benchmark: nothing to keep clean
                print(f"could not drop the topics of {name}: {exc}", flush=True)
    results.pop("started", None)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{'benchmark':<22} {'figure':<40} value")
    for name in names:
        for key, value in results[name].items():  # type: ignore[union-attr]
            print(f"{name:<22} {key:<40} {value}")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
