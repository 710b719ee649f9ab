"""Versioned DDL: ``NNN_name.sql`` files applied once each, in order, recorded in schema_migrations.

Files may use ``${retention_days}``, ``${text_retention_days}`` and ``${dedup_window}``; they are
filled from :class:`SinkSettings` when the migration is applied (a later retention change is an
``ALTER TABLE ... MODIFY TTL`` migration of its own).

With ``SinkSettings.cluster`` set, the same files are applied in their ClickHouse-cluster variant
(``ON CLUSTER``, Replicated*MergeTree local tables, Distributed tables under the original names):
:mod:`sinks.migrations.cluster` rewrites each statement. Without it, the files run as written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

from ..clickhouse import quote_ident
from ..settings import SinkSettings
from .cluster import ClusterRewriter, schema_migrations_ddl

DIRECTORY = Path(__file__).parent
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self, settings: SinkSettings) -> list[str]:
        sql = self.path.read_text()
        for key in ("retention_days", "text_retention_days", "dedup_window"):
            sql = sql.replace("${" + key + "}", str(getattr(settings, key)))
        lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
        return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def available() -> list[Migration]:
    found = []
    for path in sorted(DIRECTORY.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 001_name.sql: {path.name}")
        found.append(Migration(int(match[1]), match[2], path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {DIRECTORY}")
    return found


def cluster_plan(settings: SinkSettings, database: str) -> list[tuple[Migration, list[str]]]:
    """Every migration's statements in the cluster variant (``settings.cluster`` must be set).

    Rewritten from the first file on, applied or not: a later migration's rewrite depends on
    which tables the earlier ones created (``ALTER TABLE t`` must reach ``t_local``)."""
    if not settings.cluster:
        raise ValueError("cluster_plan needs SinkSettings.cluster")
    rewriter = ClusterRewriter(settings.cluster, database)
    return [(m, [out for s in m.statements(settings) for out in rewriter.rewrite(s)]) for m in available()]


def migrate(client: Client, settings: SinkSettings | None = None) -> list[str]:
    """Apply pending migrations; returns the names applied (empty when up to date)."""
    settings = settings or SinkSettings()
    if settings.cluster:
        database = client.query("SELECT currentDatabase()").result_rows[0][0]
        client.command(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)} ON CLUSTER {quote_ident(settings.cluster)}")
        client.command(schema_migrations_ddl(settings.cluster, database))
        plan = cluster_plan(settings, database)
    else:
        client.command("CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
                       "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version")
        plan = [(m, None) for m in available()]
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations").result_rows}
    applied = []
    for migration, statements in plan:
        if migration.version in done:
            continue
        for statement in statements if statements is not None else migration.statements(settings):
            client.command(statement)
        client.insert("schema_migrations", [[migration.version, migration.name]], column_names=["version", "name"],
                      settings={"insert_deduplication_token": f"migration-{migration.version}"})
        applied.append(f"{migration.version:03d}_{migration.name}")
    return applied
