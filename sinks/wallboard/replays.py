"""What-if runs for the wallboard: the latest ``intake replay`` reports, with their queues.

Aggregates only (counts and rates per queue), so the endpoint is public like the board.
"""
from __future__ import annotations

from clickhouse_connect.driver.client import Client

RUNS = ("SELECT * EXCEPT (event_id) FROM replay_reports FINAL ORDER BY generated_at DESC LIMIT {n:UInt32}")
QUEUES = ("SELECT * EXCEPT (generated_at) FROM replay_queues FINAL WHERE run_id IN {runs:Array(String)} "
          "ORDER BY run_id, queue")


def replay_runs(client: Client, limit: int = 10) -> list[dict]:
    """Newest first; each run with ``queues``: live vs replay per queue."""
    runs = list(client.query(RUNS, parameters={"n": limit}).named_results())
    if not runs:
        return []
    by_run: dict[str, list[dict]] = {r["run_id"]: [] for r in runs}
    for row in client.query(QUEUES, parameters={"runs": list(by_run)}).named_results():
        by_run[row.pop("run_id")].append(row)
    for run in runs:
        run["transitions"] = dict(run["transitions"])
        run["queues"] = by_run[run["run_id"]]
    return runs
