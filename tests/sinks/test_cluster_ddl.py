"""The ClickHouse-cluster variant of the migrations (INTAKE_SINK_CLUSTER), derived from the same files.

No multi-node ClickHouse (nor Keeper) runs on the development machines, so the variant is proved
here by rewriting every statement of every migration and letting ClickHouse's own parser (chdb,
``formatQuery``) read the result: it parses, every statement runs ON CLUSTER, every table gets a
replicated local table and a Distributed twin, and apart from those changes the statement is
the one the single-node path runs (compared after formatting by the same parser).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from sinks.migrations import available, cluster_plan, migrate
from sinks.migrations.cluster import ClusterRewriteError, ClusterRewriter
from sinks.settings import SinkSettings

CLUSTER, DB = "intake_cluster", "intake"
SETTINGS = SinkSettings(cluster=CLUSTER)


def _fmt(ch: Client, sql: str) -> str:
    """ClickHouse's canonical text of a statement; raises when it does not parse."""
    return ch.query("SELECT formatQuery({q:String})", parameters={"q": sql}).result_rows[0][0]


def _plan() -> list[tuple[str, list[str]]]:
    """(single-node statement, its cluster statements) for every statement of every migration."""
    rewriter = ClusterRewriter(CLUSTER, DB)
    return [(s, rewriter.rewrite(s)) for m in available() for s in m.statements(SETTINGS)]


def _single_node_form(formatted: str) -> str:
    """Undo the cluster rewrite on a formatted statement: what remains must be the original."""
    text = formatted.replace(f" ON CLUSTER {CLUSTER}", "")
    text = re.sub(r"ENGINE = Replicated(\w*MergeTree)\('/clickhouse/tables/\{shard\}/" + DB + r"/\w+', '\{replica\}'"
                  r"(?:, )?", r"ENGINE = \1(", text)
    text = re.sub(r"(\w*MergeTree)\(\)", r"\1", text)
    text = text.replace("replicated_deduplication_window", "non_replicated_deduplication_window")
    return re.sub(r"\b(\w+)_local\b", r"\1", text)


def test_every_statement_parses_runs_on_cluster_and_only_changes_what_the_cluster_needs(ch: Client) -> None:
    plan = _plan()
    assert len(plan) >= 23  # every statement of 001..004 (and any later file)
    for original, rewritten in plan:
        assert rewritten, original
        data = rewritten[0].lstrip().upper().startswith("INSERT")  # a data migration: through the Distributed table
        for sql in rewritten:
            formatted = _fmt(ch, sql)  # parses (a syntax error raises here)
            assert data or f" ON CLUSTER {CLUSTER}" in formatted.split("\n", 1)[0], formatted[:200]
        if data:
            assert rewritten == [original]
        else:
            assert _single_node_form(_fmt(ch, rewritten[0])) == _fmt(ch, original), original[:120]


def test_every_table_gets_a_replicated_engine_and_a_distributed_twin(ch: Client) -> None:
    tables = 0
    for original, rewritten in _plan():
        m = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) \(.*?\) ENGINE = (\w+)(\((.*?)\))?\s", original, re.S)
        if not m:
            continue
        tables += 1
        name, engine, args = m[1], m[2], m[4]
        assert len(rewritten) == 2, name
        local, distributed = (_fmt(ch, sql) for sql in rewritten)
        assert local.startswith(f"CREATE TABLE IF NOT EXISTS {name}_local ON CLUSTER {CLUSTER}\n")
        expected_args = f"'/clickhouse/tables/{{shard}}/{DB}/{name}', '{{replica}}'" + (f", {args}" if args else "")
        assert f"ENGINE = Replicated{engine}({expected_args})" in local, local
        assert "non_replicated_deduplication_window" not in local
        if "non_replicated_deduplication_window" in original:
            assert "replicated_deduplication_window = " in local
        d = re.fullmatch(rf"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {CLUSTER} AS {name}_local\n"
                         rf"ENGINE = Distributed\('{CLUSTER}', '{DB}', '{name}_local', (.+)\)", distributed)
        assert d, distributed
        assert d[1].startswith(("cityHash64(", "rand()")), d[1]  # deterministic: retries land on the same shards
    assert tables >= 13
    # the ones the wallboard and the cases fold depend on, spelled out
    plan = dict(_plan())
    cases = next(v for k, v in plan.items() if "TABLE IF NOT EXISTS cases (" in k)
    assert "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/intake/cases', '{replica}')" in cases[0]
    contacts = next(v for k, v in plan.items() if "TABLE IF NOT EXISTS contacts (" in k)
    assert contacts[1].endswith("Distributed('intake_cluster', 'intake', 'contacts_local', cityHash64(case_id))")


def test_materialized_views_read_and_write_local_tables_plain_views_read_distributed() -> None:
    views = 0
    for original, rewritten in _plan():
        if "MATERIALIZED VIEW" in original:
            views += 1
            (sql,) = rewritten
            assert re.search(r"ON CLUSTER intake_cluster TO \w+_local AS", sql), sql[:120]
            sources = re.findall(r"\bFROM\s+(\w+)", sql)
            assert sources and all(s.endswith("_local") for s in sources), sources
        elif re.match(r"CREATE VIEW", original):
            (sql,) = rewritten
            assert re.findall(r"\bFROM\s+(\w+)", sql) == ["cases"]  # the Distributed table: every shard
    assert views >= 6


def test_alter_reaches_the_local_table_and_column_changes_the_distributed_one() -> None:
    plan = dict(_plan())
    add_column = plan["ALTER TABLE contacts ADD COLUMN IF NOT EXISTS sink_batch String"]
    assert add_column == [f"ALTER TABLE contacts_local ON CLUSTER {CLUSTER} ADD COLUMN IF NOT EXISTS sink_batch String",
                          f"ALTER TABLE contacts ON CLUSTER {CLUSTER} ADD COLUMN IF NOT EXISTS sink_batch String"]
    index = next(v for k, v in plan.items() if "ADD INDEX" in k)
    assert index == [f"ALTER TABLE contacts_local ON CLUSTER {CLUSTER} ADD INDEX IF NOT EXISTS idx_event_id "
                     "event_id TYPE bloom_filter(0.001) GRANULARITY 1"]  # a Distributed table has no indexes


def test_rules_for_statements_no_migration_uses_yet(ch: Client) -> None:
    r = ClusterRewriter("c1", "db")
    local, dist = r.rewrite("CREATE TABLE IF NOT EXISTS state (k String, v UInt64, ts DateTime64(3, 'UTC'))\n"
                            "ENGINE = ReplacingMergeTree(ts) ORDER BY k")
    assert "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/state', '{replica}', ts)" in local
    assert dist.endswith("Distributed('c1', 'db', 'state_local', cityHash64(k))")
    _, dist = r.rewrite("CREATE TABLE reports (run_id String, event_id String, v UInt64) "
                        "ENGINE = ReplacingMergeTree(v) ORDER BY run_id")
    assert dist.endswith("cityHash64(run_id))")  # versions of one run fold on one shard, not by event_id
    _, dist = r.rewrite("CREATE TABLE totals (day Date, n UInt64) ENGINE = SummingMergeTree((n)) "
                        "ORDER BY (day) SETTINGS index_granularity = 1024")
    assert "ReplicatedSummingMergeTree" not in dist and "cityHash64(day)" in dist
    mixed = r.rewrite("ALTER TABLE state ADD COLUMN IF NOT EXISTS note String, DROP COLUMN v, MODIFY TTL "
                      "toDateTime(ts) + INTERVAL 1 DAY")
    assert mixed == ["ALTER TABLE state_local ON CLUSTER c1 ADD COLUMN IF NOT EXISTS note String, DROP COLUMN v, "
                     "MODIFY TTL toDateTime(ts) + INTERVAL 1 DAY",
                     "ALTER TABLE state ON CLUSTER c1 ADD COLUMN IF NOT EXISTS note String, DROP COLUMN v"]
    assert r.tables["state"] == ["k", "ts", "note"]
    assert r.rewrite("OPTIMIZE TABLE state FINAL") == ["OPTIMIZE TABLE state_local ON CLUSTER c1 FINAL"]
    assert r.rewrite("TRUNCATE TABLE IF EXISTS state") == ["TRUNCATE TABLE IF EXISTS state_local ON CLUSTER c1"]
    assert r.rewrite("INSERT INTO state SELECT * FROM state") == ["INSERT INTO state SELECT * FROM state"]
    assert r.rewrite("DROP TABLE IF EXISTS state SYNC") == ["DROP TABLE IF EXISTS state ON CLUSTER c1 SYNC",
                                                           "DROP TABLE IF EXISTS state_local ON CLUSTER c1 SYNC"]
    assert "state" not in r.tables
    assert r.rewrite("DROP VIEW IF EXISTS v") == ["DROP VIEW IF EXISTS v ON CLUSTER c1"]
    joined = r.rewrite("CREATE MATERIALIZED VIEW m TO totals AS SELECT toDate(ts) AS day, count() AS n "
                       "FROM state_src AS s LEFT JOIN totals AS t ON t.day = toDate(s.ts) GROUP BY day")[0]
    assert "TO totals_local AS" in joined and "JOIN totals AS t" in joined  # joins look up every shard
    for sql in (local, dist, *mixed, joined):
        _fmt(ch, sql)
    for unsupported in ("CREATE TABLE mem (a String) ENGINE = Memory",
                        "CREATE TABLE noengine (a String)",
                        "CREATE MATERIALIZED VIEW inner_mv ENGINE = MergeTree ORDER BY a AS SELECT a FROM x",
                        "RENAME TABLE a TO b",
                        "CREATE TABLE r (a String) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY a"):
        with pytest.raises(ClusterRewriteError):
            r.rewrite(unsupported)


@dataclass
class RecordingClient:
    """Stands in for a clickhouse-connect client: records DDL, answers the two queries migrate() asks."""

    done: set[int] = field(default_factory=set)
    commands: list[str] = field(default_factory=list)
    inserts: list[tuple[str, Any]] = field(default_factory=list)

    def command(self, sql: str) -> None:
        self.commands.append(sql)

    def query(self, sql: str) -> Any:
        rows = [[DB]] if "currentDatabase" in sql else [[v] for v in sorted(self.done)]
        return type("Result", (), {"result_rows": rows})()

    def insert(self, table: str, rows: Any, **kwargs: Any) -> None:
        self.inserts.append((table, rows))


def test_single_node_path_issues_exactly_the_files_statements() -> None:
    client = RecordingClient()
    settings = SinkSettings()
    applied = migrate(client, settings)  # type: ignore[arg-type]
    assert applied == [f"{m.version:03d}_{m.name}" for m in available()]
    assert client.commands == [
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime64(3, 'UTC') "
        "DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version",
        *(s for m in available() for s in m.statements(settings))]
    assert not any("CLUSTER" in c or "Replicated" in c or "_local" in c for c in client.commands)


def test_cluster_migrate_runs_the_rewrite_and_skips_what_was_applied() -> None:
    versions = [m.version for m in available()]
    client = RecordingClient(done=set(versions[:-1]))
    applied = migrate(client, SETTINGS)  # type: ignore[arg-type]
    last = available()[-1]
    assert applied == [f"{last.version:03d}_{last.name}"]
    assert client.commands[0] == f"CREATE DATABASE IF NOT EXISTS `{DB}` ON CLUSTER `{CLUSTER}`"
    assert client.commands[1].startswith(f"CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER {CLUSTER} ")
    assert f"ReplicatedMergeTree('/clickhouse/tables/all/{DB}/schema_migrations', '{{replica}}')" in client.commands[1]
    # the pending file is rewritten knowing what the applied ones created (ALTER -> t_local)
    assert client.commands[2:] == dict(cluster_plan(SETTINGS, DB))[last]
    assert client.inserts == [("schema_migrations", [[last.version, last.name]])]
    fresh = RecordingClient()
    migrate(fresh, SETTINGS)  # type: ignore[arg-type]
    assert fresh.commands[2:] == [s for _, statements in cluster_plan(SETTINGS, DB) for s in statements]


def test_schema_ddl_parses(ch: Client) -> None:
    from sinks.migrations.cluster import schema_migrations_ddl
    assert "ON CLUSTER" in _fmt(ch, schema_migrations_ddl(CLUSTER, DB))
    assert "ON CLUSTER" in _fmt(ch, f"CREATE DATABASE IF NOT EXISTS `{DB}` ON CLUSTER `{CLUSTER}`")
