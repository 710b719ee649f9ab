"""The ClickHouse-cluster variant of the versioned migrations, derived from the same SQL files.

With ``INTAKE_SINK_CLUSTER=<name>`` every statement of ``NNN_name.sql`` is rewritten here, so
there is one copy of the DDL and the single-node path stays exactly what the files say:

* ``CREATE TABLE t (...) ENGINE = XMergeTree(args) ...`` becomes two statements:
  ``CREATE TABLE t_local ON CLUSTER c (...) ENGINE = ReplicatedXMergeTree('/clickhouse/tables/{shard}/<db>/t',
  '{replica}', args) ...`` (ORDER BY, PARTITION BY, TTL kept; ``non_replicated_deduplication_window``
  becomes ``replicated_deduplication_window``) and ``CREATE TABLE t ON CLUSTER c AS t_local
  ENGINE = Distributed('c', '<db>', 't_local', <sharding key>)``: the sink keeps inserting into
  ``t`` and the wallboard keeps reading ``t``.
* ``CREATE MATERIALIZED VIEW v TO t AS SELECT ... FROM s`` writes to ``t_local`` and reads
  ``s_local`` (a view fires on the inserts into its source table, which on a cluster are the
  blocks the Distributed table forwards to each shard's local table). ``JOIN`` targets stay on
  the Distributed table (a lookup sees every shard).
* ``CREATE VIEW`` (read side) gets ``ON CLUSTER`` only: it reads the Distributed tables.
* ``ALTER TABLE t``: every command on ``t_local``; column commands (ADD / DROP / MODIFY / RENAME /
  COMMENT COLUMN) also on the Distributed ``t``, whose structure must follow.
* ``DROP TABLE t`` drops ``t`` and ``t_local``; ``TRUNCATE`` / ``OPTIMIZE`` act on ``t_local``;
  ``INSERT`` (data migrations) goes through the Distributed table unchanged.

Anything else raises :class:`ClusterRewriteError` naming the statement, so a new migration that
needs a new rule fails the unit tests (``tests/sinks/test_cluster_ddl.py``) rather than a deploy.

Sharding key of a Distributed table: for a merging engine (Replacing, Aggregating, Summing...)
a hash of its ORDER BY columns, so rows that fold together share a shard (``FINAL`` and ``-Merge``
work per table); for a plain MergeTree ``cityHash64(case_id)`` when the table has a ``case_id``
column (a case's contacts, lifecycle, escalations and SLA events share a shard), else
``cityHash64(event_id)``, else a hash of its ORDER BY columns. Always
deterministic, so a retried insert splits into the same per-shard blocks and the
``insert_deduplication_token`` still recognises it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

LOCAL_SUFFIX = "_local"
ZK_PATH = "/clickhouse/tables/{shard}/%s/%s"

_IDENT = r"(?:`(?:[^`\\]|\\.)+`|[A-Za-z_][A-Za-z0-9_]*)"
_NAME = rf"{_IDENT}(?:\.{_IDENT})?"
_COLUMN_COMMANDS = re.compile(r"^(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b", re.I)


class ClusterRewriteError(ValueError):
    """A migration statement the cluster rewrite has no rule for."""


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unquote(name: str) -> str:
    return name[1:-1].replace("\\`", "`").replace("\\\\", "\\") if name.startswith("`") else name


def _quote(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else "`" + name.replace("`", "\\`") + "`"


def _split_name(name: str) -> tuple[str, str]:
    """``db.table`` -> (``db.`` prefix as written, unquoted table); ``table`` -> ("", table)."""
    m = re.fullmatch(rf"({_IDENT}\.)?({_IDENT})", name)
    if not m:
        raise ClusterRewriteError(f"not a table name: {name!r}")
    return m[1] or "", _unquote(m[2])


def _local(name: str) -> str:
    prefix, table = _split_name(name)
    return prefix + _quote(table + LOCAL_SUFFIX)


def _scan(sql: str):  # noqa: ANN202 - generator of (index, char, depth) outside strings/comments
    """Characters of ``sql`` that are code (not inside quotes or comments), with paren depth."""
    depth, i, n = 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            j = i + 1
            while j < n and sql[j] != c:
                j += 2 if sql[j] == "\\" else 1
            i = j + 1
            continue
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            continue
        if sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c == "(":
            depth += 1
        yield i, c, depth
        if c == ")":
            depth -= 1
        i += 1


def _top_level_keyword(sql: str, keyword: str, start: int = 0) -> int:
    """Index of ``keyword`` (whole word, any case) at paren depth 0 outside strings, or -1."""
    pattern = re.compile(rf"\b{keyword}\b", re.I)
    for i, c, depth in _scan(sql):
        if i >= start and depth == 0 and (c.isalpha()) and pattern.match(sql, i) and (i == 0 or not (
                sql[i - 1].isalnum() or sql[i - 1] == "_")):
            return i
    return -1


def _matching_paren(sql: str, open_at: int) -> int:
    target = None
    for i, c, depth in _scan(sql):
        if i == open_at:
            target = depth
        elif target is not None and c == ")" and depth == target:
            return i
    raise ClusterRewriteError(f"unbalanced parentheses in: {sql[:80]}...")


def _split_top_level(sql: str, sep: str = ",") -> list[str]:
    parts, last = [], 0
    for i, c, depth in _scan(sql):
        if c == sep and depth == 0:
            parts.append(sql[last:i])
            last = i + 1
    parts.append(sql[last:])
    return [p.strip() for p in parts if p.strip()]


@dataclass
class ClusterRewriter:
    """Rewrites migration statements in order; remembers which tables have a local twin."""

    cluster: str
    database: str
    tables: dict[str, list[str]] = field(default_factory=dict)  # Distributed name -> column names

    @property
    def on_cluster(self) -> str:
        return f"ON CLUSTER {_quote(self.cluster)}"

    def rewrite(self, statement: str) -> list[str]:
        sql = statement.strip().rstrip(";").strip()
        head = " ".join(sql[:60].split()).upper()
        if re.match(r"CREATE (OR REPLACE )?TABLE\b", head):
            return self._create_table(sql)
        if re.match(r"CREATE (OR REPLACE )?MATERIALIZED VIEW\b", head):
            return [self._materialized_view(sql)]
        if re.match(r"CREATE (OR REPLACE )?VIEW\b", head):
            return [self._after_name(sql, r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?")[0]]
        if head.startswith("ALTER TABLE"):
            return self._alter(sql)
        if re.match(r"DROP (TABLE|VIEW|DICTIONARY)\b", head):
            return self._drop(sql)
        if re.match(r"(TRUNCATE|OPTIMIZE) TABLE\b", head):
            return [self._on_local(sql, r"(?:TRUNCATE|OPTIMIZE)\s+TABLE\s+(?:IF\s+EXISTS\s+)?")]
        if head.startswith("INSERT INTO"):
            return [sql]  # data migration: the Distributed table spreads it over the shards
        raise ClusterRewriteError(f"no cluster rule for this migration statement; add one in "
                                  f"sinks/migrations/cluster.py: {' '.join(sql.split())[:120]}")

    # -- helpers -------------------------------------------------------------------------
    def _after_name(self, sql: str, prefix: str) -> tuple[str, str, int]:
        """Insert ``ON CLUSTER`` after the object name that follows ``prefix``; (sql, name, end of name)."""
        m = re.match(rf"\s*{prefix}({_NAME})", sql, re.I | re.S)
        if not m:
            raise ClusterRewriteError(f"cannot find the object name in: {sql[:80]}")
        end = m.end(1)
        return f"{sql[:end]} {self.on_cluster}{sql[end:]}", m[1], end

    def _is_replicated(self, name: str) -> bool:
        return _split_name(name)[1] in self.tables

    def _on_local(self, sql: str, prefix: str) -> str:
        m = re.match(rf"\s*{prefix}({_NAME})", sql, re.I | re.S)
        if not m:
            raise ClusterRewriteError(f"cannot find the table name in: {sql[:80]}")
        name = _local(m[1]) if self._is_replicated(m[1]) else m[1]
        return f"{sql[:m.start(1)]}{name} {self.on_cluster}{sql[m.end(1):]}"

    def _sharding_key(self, columns: list[str], order_by: str, family: str) -> str:
        # a merging engine (Replacing, Aggregating, Summing, Collapsing...) folds rows with equal
        # sorting keys only within one table: such rows must land on one shard (FINAL, -Merge)
        for candidate in ("case_id", "event_id") if not family else ():
            if candidate in columns:
                return f"cityHash64({candidate})"
        order = order_by.strip()
        if order.startswith("(") and order.endswith(")"):
            order = order[1:-1]
        return f"cityHash64({order})" if order and order.lower() != "tuple()" else "rand()"

    # -- statements ----------------------------------------------------------------------
    def _create_table(self, sql: str) -> list[str]:
        m = re.match(rf"(CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)({_NAME})", sql, re.I | re.S)
        if not m:
            raise ClusterRewriteError(f"cannot find the table name in: {sql[:80]}")
        create, name = m[1], m[2]
        body = sql[m.end():]
        engine_at = _top_level_keyword(body, "ENGINE")
        if engine_at < 0:
            raise ClusterRewriteError(f"CREATE TABLE {name} has no ENGINE clause: name it so the cluster "
                                      f"variant can replicate it")
        structure, engine_clause = body[:engine_at], body[engine_at:]
        em = re.match(r"ENGINE\s*=\s*([A-Za-z]*)MergeTree\b", engine_clause, re.S)
        if not em:
            raise ClusterRewriteError(f"CREATE TABLE {name}: only *MergeTree engines have a replicated "
                                      f"variant; got {engine_clause[:60]!r}")
        family, rest = em[1], engine_clause[em.end():]
        if family.startswith("Replicated"):
            raise ClusterRewriteError(f"CREATE TABLE {name}: write the single-node engine in the migration; "
                                      f"the cluster variant adds Replicated")
        args = ""
        if rest.lstrip().startswith("("):
            rest = rest.lstrip()
            close = _matching_paren(rest, 0)
            args, rest = rest[1:close].strip(), rest[close + 1:]
        _, table = _split_name(name)
        replicated_args = ", ".join([_literal(ZK_PATH % (self.database, table)), "'{replica}'", *([args] if args else [])])
        rest = re.sub(r"\bnon_replicated_deduplication_window\b", "replicated_deduplication_window", rest)
        local_sql = (f"{create}{_local(name)} {self.on_cluster}{structure}"
                     f"ENGINE = Replicated{family}MergeTree({replicated_args})"
                     f"{rest}")
        columns = self._columns(structure)
        order_at = _top_level_keyword(rest, "ORDER")
        order_by = ""
        if order_at >= 0:
            om = re.match(r"ORDER\s+BY\s+", rest[order_at:], re.I)
            tail = rest[order_at + om.end():] if om else ""
            stop = min([i for i in (_top_level_keyword(tail, k) for k in ("PARTITION", "PRIMARY", "SAMPLE", "TTL",
                                                                          "SETTINGS", "COMMENT")) if i >= 0],
                       default=len(tail))
            order_by = tail[:stop]
        key = self._sharding_key(columns, order_by, family)
        self.tables[table] = columns
        local = _local(name)
        distributed = (f"{create}{name} {self.on_cluster} AS {local} ENGINE = Distributed("
                       f"{_literal(self.cluster)}, {_literal(self.database)}, {_literal(_split_name(local)[1])}, "
                       f"{key})")
        return [local_sql, distributed]

    def _columns(self, structure: str) -> list[str]:
        s = structure.strip()
        if s.upper().startswith("AS "):  # CREATE TABLE t AS other ENGINE = ...
            return list(self.tables.get(_split_name(s[3:].strip())[1], []))
        if not s.startswith("("):
            return []
        inner = s[1:_matching_paren(s, 0)]
        names = []
        for part in _split_top_level(inner):
            first = part.split(None, 1)[0]
            if first.upper() not in ("INDEX", "PROJECTION", "CONSTRAINT", "PRIMARY"):
                names.append(_unquote(first))
        return names

    def _materialized_view(self, sql: str) -> str:
        sql, _name, end = self._after_name(
            sql, r"CREATE\s+(?:OR\s+REPLACE\s+)?MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?")
        as_at = _top_level_keyword(sql, "AS", end)
        to = re.compile(rf"\s+TO\s+({_NAME})", re.I | re.S).match(sql, end + len(self.on_cluster) + 1)
        if not to or as_at < 0:
            raise ClusterRewriteError("a materialized view needs `TO <table>` (no inner engine) for the cluster "
                                      f"variant: {' '.join(sql.split())[:100]}")
        target = _local(to[1]) if self._is_replicated(to[1]) else to[1]
        select = sql[as_at:]

        def source(m: re.Match[str]) -> str:
            return m[1] + (_local(m[2]) if self._is_replicated(m[2]) else m[2])

        select = re.sub(rf"(\bFROM\s+)({_NAME})(?![\w(])", source, select, flags=re.I)
        return f"{sql[:to.start(1)]}{target}{sql[to.end(1):as_at]}{select}"

    def _alter(self, sql: str) -> list[str]:
        m = re.match(rf"ALTER\s+TABLE\s+({_NAME})\s+", sql, re.I | re.S)
        if not m:
            raise ClusterRewriteError(f"cannot find the table name in: {sql[:80]}")
        name, commands = m[1], sql[m.end():]
        if not self._is_replicated(name):
            return [f"ALTER TABLE {name} {self.on_cluster} {commands}"]
        statements = [f"ALTER TABLE {_local(name)} {self.on_cluster} {commands}"]
        column_commands = [c for c in _split_top_level(commands) if _COLUMN_COMMANDS.match(c)]
        if column_commands:
            statements.append(f"ALTER TABLE {name} {self.on_cluster} {', '.join(column_commands)}")
            self._track_columns(_split_name(name)[1], column_commands)
        return statements

    def _track_columns(self, table: str, commands: list[str]) -> None:
        columns = self.tables[table]
        for command in commands:
            words = command.split()
            verb = words[0].upper()
            rest = [w for w in words[2:] if w.upper() not in ("IF", "NOT", "EXISTS")]
            if verb == "ADD" and rest:
                columns.append(_unquote(rest[0]))
            elif verb == "DROP" and rest and _unquote(rest[0]) in columns:
                columns.remove(_unquote(rest[0]))
            elif verb == "RENAME" and len(rest) >= 3 and _unquote(rest[0]) in columns:
                columns[columns.index(_unquote(rest[0]))] = _unquote(rest[2])

    def _drop(self, sql: str) -> list[str]:
        m = re.match(rf"(DROP\s+(?:TABLE|VIEW|DICTIONARY)\s+(?:IF\s+EXISTS\s+)?)({_NAME})", sql, re.I | re.S)
        if not m:
            raise ClusterRewriteError(f"cannot find the object name in: {sql[:80]}")
        first = f"{sql[:m.end(2)]} {self.on_cluster}{sql[m.end(2):]}"
        if not self._is_replicated(m[2]):
            return [first]
        self.tables.pop(_split_name(m[2])[1])
        return [first, f"{m[1]}{_local(m[2])} {self.on_cluster}{sql[m.end(2):]}"]


def schema_migrations_ddl(cluster: str, database: str) -> str:
    """The migration log on a cluster: one replicated table on every node of every shard (a path
    without ``{shard}``), so whichever node a later ``intake migrate`` reaches knows what ran."""
    path = _literal(f"/clickhouse/tables/all/{database}/schema_migrations")
    return (f"CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER {_quote(cluster)} (version UInt32, name String, "
            f"applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            f"ENGINE = ReplicatedMergeTree({path}, '{{replica}}') ORDER BY version")
