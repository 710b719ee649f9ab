"""One way to get a ClickHouse client for every deployment: clickhouse-connect with a DSN.

``chdb:///abs/path`` runs ClickHouse in-process on that directory (the embedded default);
``http(s)://`` talks to a server or cluster. The same SQL runs on both.
"""
from __future__ import annotations

import fcntl
from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from clickhouse_connect import get_client
from clickhouse_connect.driver.client import Client

EMBEDDED_DATABASE = "intake"


class StoreInUse(RuntimeError):
    """The embedded store's directory is open in another process: chdb allows one per directory."""


def connect(dsn: str, database: str | None = None) -> Client:
    """A client whose current database is ``database`` (created when missing).

    Without ``database``: the DSN's own (``http://host:8123/<db>``), or ``intake`` for chdb.
    Over HTTP the client opens no server session: the sink plans on one thread while its
    writer thread inserts, and a server refuses concurrent queries in one session
    (SESSION_IS_LOCKED). Nothing here uses session state (SET, temporary tables).
    """
    embedded = dsn.startswith("chdb:")
    options = {} if embedded else {"autogenerate_session_id": False}
    if embedded:
        database = database or EMBEDDED_DATABASE
    try:
        bootstrap = get_client(dsn=dsn, **options)
    except Exception as exc:
        holder = embedded_holder(dsn) if embedded else None
        if holder is None:
            raise
        raise StoreInUse(f"the embedded ClickHouse store {urlsplit(dsn).path} is open in another process "
                         f"(pid {holder}; chdb allows one process per directory). The sink that writes it also "
                         "serves its queries (the wallboard): stop that process first, or point INTAKE_SINK_DSN "
                         "at a ClickHouse server") from exc
    if not database:
        return bootstrap
    bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
    if not embedded:
        bootstrap.close()
    return get_client(dsn=dsn, database=database, **options)


def embedded_holder(dsn: str) -> str | None:
    """The pid of the live process that has a ``chdb://`` directory open, or None.

    ClickHouse writes its pid into the directory's ``status`` file and holds an exclusive lock
    on it while it runs (chdb's own error for a second opener says only "BAD_ARGUMENTS").
    """
    status = Path(urlsplit(dsn).path) / "status"
    try:
        with status.open("rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                first = handle.readline().decode(errors="replace").strip()
                return first.removeprefix("PID:").strip() or "?"
            fcntl.flock(handle, fcntl.LOCK_UN)
    except FileNotFoundError:
        pass
    return None


def insertable_columns(client: Client, table: str) -> tuple[list[str], list[str]]:
    """Names and types of the columns an insert fills (no DEFAULT / MATERIALIZED), in table order:
    what a typed Native ``client.insert`` takes to skip its own DESCRIBE round trip."""
    result = client.query("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                          "AND table = {t:String} AND default_kind = '' ORDER BY position", parameters={"t": table})
    return [r[0] for r in result.result_rows], [r[1] for r in result.result_rows]


def quote_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


_STRING_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'"})


def string_array(values: Collection[str]) -> tuple[str, dict[str, int]]:
    """An ``Array(String)`` expression for a query, with the settings that let a query that long parse.

    For the sink's per-flush lookups (5,000 contact ids). Not a bound parameter: clickhouse-connect
    escapes those character by character in Python (2.8 µs of held GIL per id). Not an array literal
    either: ClickHouse's SQL parser spends ~20 ms on 5,000 string literals. One string literal of
    JSON, which ``JSONExtract`` reads with its JSON parser, made a 5,000-id lookup 31 -> 16 ms in
    chdb. The text is part of the query, so ``max_query_size`` (256 KiB by default) is raised to fit.
    """
    text = orjson.dumps(list(values)).decode()
    if "\\" in text or "'" in text:  # ids seldom need it: one C-speed scan decides
        text = text.translate(_STRING_ESCAPES)
    expression = f"JSONExtract('{text}', 'Array(String)')"
    return expression, {"max_query_size": max(262_144, 2 * len(expression) + 4096)}
