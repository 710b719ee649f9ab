"""Versioned DDL: ``NNN_name.sql`` files applied once each, in order, recorded in schema_migrations.

Files may use ``${retention_days}``, ``${text_retention_days}`` and ``${dedup_window}``; they are
filled from :class:`SinkSettings` when the migration is applied (a later retention change is an
``ALTER TABLE ... MODIFY TTL`` migration of its own).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

from ..settings import SinkSettings

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


def migrate(client: Client, settings: SinkSettings | None = None) -> list[str]:
    """Apply pending migrations; returns the names applied (empty when up to date)."""
    settings = settings or SinkSettings()
    client.command("CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
                   "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version")
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations").result_rows}
    applied = []
    for migration in available():
        if migration.version in done:
            continue
        for statement in migration.statements(settings):
            client.command(statement)
        client.insert("schema_migrations", [[migration.version, migration.name]], column_names=["version", "name"],
                      settings={"insert_deduplication_token": f"migration-{migration.version}"})
        applied.append(f"{migration.version:03d}_{migration.name}")
    return applied
