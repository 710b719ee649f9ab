"""One way to get a ClickHouse client for every deployment: clickhouse-connect with a DSN.

``chdb:///abs/path`` runs ClickHouse in-process on that directory (the embedded default);
``http(s)://`` talks to a server or cluster. The same SQL runs on both.
"""
from __future__ import annotations

from clickhouse_connect import get_client
from clickhouse_connect.driver.client import Client


EMBEDDED_DATABASE = "intake"


def connect(dsn: str, database: str | None = None) -> Client:
    """A client whose current database is ``database`` (created when missing).

    Without ``database``: the DSN's own (``http://host:8123/<db>``), or ``intake`` for chdb.
    """
    if dsn.startswith("chdb:"):
        database = database or EMBEDDED_DATABASE
    if not database:
        return get_client(dsn=dsn)
    bootstrap = get_client(dsn=dsn)
    bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
    if not dsn.startswith("chdb:"):
        bootstrap.close()
    return get_client(dsn=dsn, database=database)


def quote_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"
