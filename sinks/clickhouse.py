"""One way to get a ClickHouse client for every deployment: clickhouse-connect with a DSN.

``chdb:///abs/path`` runs ClickHouse in-process on that directory (the embedded default);
``http(s)://`` talks to a server or cluster. The same SQL runs on both.
"""
from __future__ import annotations

from collections.abc import Collection

from clickhouse_connect import get_client
from clickhouse_connect.driver.client import Client

EMBEDDED_DATABASE = "intake"


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
    if not database:
        return get_client(dsn=dsn, **options)
    bootstrap = get_client(dsn=dsn, **options)
    bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
    if not embedded:
        bootstrap.close()
    return get_client(dsn=dsn, database=database, **options)


def quote_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


_STRING_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\0": "\\0"})


def string_array(values: Collection[str]) -> tuple[str, dict[str, int]]:
    """An ``Array(String)`` literal for a query, with the settings that let a query that long parse.

    For the sink's per-flush lookups (5,000 contact ids): clickhouse-connect binds a parameter by
    escaping it character by character in Python (2.8 µs of held GIL per id, which the sink's other
    thread waits for); this takes C-speed joins, and ``str.translate`` only when a value needs it.
    The literal is part of the query text, so ``max_query_size`` (256 KiB by default) is raised to fit.
    """
    if not values:
        return "[]", {}
    plain = "".join(values)
    if "\\" in plain or "'" in plain or "\0" in plain:  # ids seldom need it: one C-speed scan decides
        values = [value.translate(_STRING_ESCAPES) for value in values]
    literal = "['" + "','".join(values) + "']"
    return literal, {"max_query_size": max(262_144, 2 * len(literal) + 4096)}
