"""The one client factory: no server session over HTTP, so two threads may query at once."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sinks import clickhouse
from sinks.settings import SinkSettings

REPO = Path(__file__).resolve().parents[2]


class ServerStandIn:
    """Stands in for a server client: connect() only creates the database and closes it."""

    def command(self, sql: str) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("database", [None, "intake"])
def test_http_clients_open_no_server_session(monkeypatch: pytest.MonkeyPatch, database: str | None) -> None:
    calls: list[dict[str, object]] = []
    client = ServerStandIn()

    def get_client(**kwargs: object) -> ServerStandIn:
        calls.append(kwargs)
        return client

    monkeypatch.setattr(clickhouse, "get_client", get_client)
    clickhouse.connect("https://user:secret@ch.example:8443", database)
    assert calls and all(call["autogenerate_session_id"] is False for call in calls)
    assert calls[-1].get("database") == database


def test_one_client_serves_two_threads_at_once(sink_settings: SinkSettings) -> None:
    """As the sink uses it: plans on its loop thread while the writer thread inserts (chdb here;
    a server with INTAKE_TEST_CLICKHOUSE_DSN, where a session would refuse the second query)."""
    client = clickhouse.connect(sink_settings.dsn, sink_settings.database)
    client.command("CREATE TABLE n (x UInt64) ENGINE = MergeTree ORDER BY x")
    errors: list[BaseException] = []

    def insert() -> None:
        try:
            for n in range(20):
                client.insert("n", [[n]], column_names=["x"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writer = threading.Thread(target=insert)
    writer.start()
    counts = [client.query("SELECT count() FROM n").result_rows[0][0] for _ in range(20)]
    writer.join(30)
    assert not errors
    assert counts == sorted(counts)
    assert client.query("SELECT count() FROM n").result_rows[0][0] == 20


def test_string_array_matches_exactly_what_it_was_given(sink_settings: SinkSettings) -> None:
    """The sink's id lookups inline their ids: quotes, backslashes, NUL, newlines and non-ASCII
    come back unchanged, and 20,000 ids (a query past the default 256 KiB query size) still parse."""
    client = clickhouse.connect(sink_settings.dsn, sink_settings.database)
    awkward = ["o'brien", "back\\slash", "trail\\", "nul\0byte", "new\nline\ttab", "王小明", "''", "\\'", ""]
    ids = awkward + [f"{n:032x}" for n in range(20_000)]
    literal, settings = clickhouse.string_array(ids)
    assert len(literal) > 262_144
    assert client.query(f"SELECT {literal}", settings=settings).result_rows[0][0] == ids
    client.command("CREATE TABLE ids (id String) ENGINE = MergeTree ORDER BY id")
    client.insert("ids", [[i] for i in awkward[:4]], column_names=["id"])
    literal, settings = clickhouse.string_array(awkward[2:])
    found = client.query(f"SELECT id FROM ids WHERE id IN (SELECT arrayJoin({literal})) ORDER BY id",
                         settings=settings).result_rows
    assert [r[0] for r in found] == sorted(awkward[2:4])
    literal, settings = clickhouse.string_array([])
    assert client.query(f"SELECT count() FROM ids WHERE id IN (SELECT arrayJoin({literal}))",
                        settings=settings).result_rows[0][0] == 0


def test_a_chdb_directory_open_in_another_process_is_named_with_its_pid(tmp_path: Path) -> None:
    """chdb's own error for a second opener is "BAD_ARGUMENTS"; the sink, `intake report` and
    `intake migrate` say which process holds the store, and the CLI says it without a traceback.
    Every opener here is a process of its own: this one has the session's chdb open already."""
    dsn = f"chdb://{tmp_path}/store"
    env = {**os.environ, "INTAKE_SINK_DSN": dsn}

    def intake(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "intake.cli", *args], cwd=REPO, capture_output=True, text=True,
                              env=env, timeout=120)

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom sinks.clickhouse import connect\n"
                               f"client = connect({dsn!r})\nprint('open', flush=True)\ntime.sleep(120)"],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        assert clickhouse.embedded_holder(dsn) == str(holder.pid)
        for command in ("report", "migrate"):
            cli = intake(command)
            assert cli.returncode == 1
            assert f"intake: the embedded ClickHouse store {tmp_path}/store is open in another process " \
                   f"(pid {holder.pid};" in cli.stderr and "Traceback" not in cli.stderr, cli.stderr
    finally:
        holder.kill()
        holder.wait()
    assert clickhouse.embedded_holder(dsn) is None, "the lock goes with the process"
    again = intake("migrate")
    assert again.returncode == 0 and again.stdout.startswith("applied: "), again.stderr
