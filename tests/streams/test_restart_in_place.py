"""A worker restarted in place (same host, same datadir) comes back as the same static group
member: it takes its partitions back without waiting for the dead process's session to expire,
with its tables (replayed from the changelogs, which roll segments so Kafka can compact them, or
with ``rocksdb://`` read from its datadir, replaying only what came after the stored offsets)."""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from schemas.admin import ensure_topics
from schemas.settings import KafkaSettings
from streams.settings import StreamSettings
from streams.worker import claim_datadir

from .builders import contact
from .conftest import LiveWorker, Outputs, drop_topics

#: the dead process's session: far longer than a restart takes, so only a static member that
#: replaces it (rather than waiting it out) routes before it expires
SESSION_SECONDS = 80
ROUTE_WITHIN = 50.0  # after the restart


def test_the_instance_id_names_the_worker_by_host_and_datadir(tmp_path: Path) -> None:
    here = StreamSettings(datadir=tmp_path / "a").group_instance_id()
    assert here == StreamSettings(datadir=tmp_path / "a").group_instance_id(), "a restart keeps its id"
    assert here != StreamSettings(datadir=tmp_path / "b").group_instance_id(), "a second worker on the host differs"
    assert re.fullmatch(r"[a-zA-Z0-9._-]{1,249}", here), here
    assert StreamSettings(datadir=tmp_path / "a", static_membership=False).group_instance_id() is None


def test_a_second_worker_on_a_datadir_in_use_refuses_to_start_and_a_restart_finds_it_free(tmp_path: Path) -> None:
    datadir = tmp_path / "not" / "yet" / "there"
    first = claim_datadir(datadir)
    with pytest.raises(SystemExit, match=rf"{datadir} is in use by another running worker \(pid {os.getpid()}\)"):
        claim_datadir(datadir)
    first.close()  # what the end of the process does, SIGKILL included
    claim_datadir(datadir).close()


def changelog_start_offsets(log: str, changelog: str) -> list[int]:
    """Where the last recovery in a worker log began reading ``changelog`` (Faust's log table; -1: the start)."""
    last = log.rsplit("active offsets at start of reading", 1)[1].split("Restoring state", 1)[0]
    offsets, current = [], None
    for row in re.findall(r"^\| (\S+)\s*\| (\d+)\s*\| (-?\d+)\s*\|$", last, re.MULTILINE):
        current = row[0] if row[0] != "〃" else current
        if current == changelog:
            offsets.append(int(row[2]))
    return offsets


@pytest.mark.kafka
@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_killed_worker_restarted_in_place_routes_before_its_old_session_expires(
        kafka_bootstrap: str, tmp_path: Path, store: str) -> None:
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"ri{uuid.uuid4().hex[:8]}")
    ensure_topics(kafka)
    out = Outputs(kafka)
    worker = LiveWorker(kafka, tmp_path / "w")
    worker.env.update({"INTAKE_STREAMS_SESSION_TIMEOUT_SECONDS": str(SESSION_SECONDS),
                       "BROKER_SESSION_TIMEOUT": str(SESSION_SECONDS), "INTAKE_STREAMS_STORE": store,
                       # a takeover stall (docs/routing.md) fails the wait within seconds, with the diagnosis
                       "INTAKE_STREAMS_STALL_SECONDS": "12", "INTAKE_STREAMS_STALL_CHECK_SECONDS": "2"})
    app_id = worker.env["INTAKE_STREAMS_APP_ID"]
    try:
        worker.start()
        out.wait_owned(worker)
        first = contact("webform", "restart-1", "Where is my parcel? order A00001", email="ri@example.com")
        out.send(first)
        out.routed_once(first, 60, worker)

        worker.kill()
        worker.start()
        second = contact("webform", "restart-2", "The parcel from order A00001 is still missing",
                         email="ri@example.com")
        out.send(second)
        out.wait(lambda: out.routed(second.id), ROUTE_WITHIN, "the contact after the restart", worker)
        routed = out.routed(second.id)[0]
        assert routed["case_id"] == out.routed(first.id)[0]["case_id"], "the customers table came back with it"
        starts = changelog_start_offsets((worker.root / "worker.log").read_text(errors="replace"),
                                         f"{app_id}-customers-changelog")
        assert len(starts) == 4, worker.log()
        if store == "rocksdb://":  # the first contact's customer is on disk: its partition replays nothing before it
            assert max(starts) >= 0, starts
        else:
            assert starts == [-1] * 4, starts

        admin = AdminClient(kafka.confluent())
        group = admin.describe_consumer_groups([app_id])[app_id].result(30)
        assert [m.group_instance_id for m in group.members] == [StreamSettings(
            datadir=Path(worker.env["INTAKE_STREAMS_DATADIR"])).group_instance_id()], "the old member was replaced"

        resource = ConfigResource(ConfigResource.Type.TOPIC, f"{app_id}-customers-changelog")
        config = admin.describe_configs([resource])[resource].result(30)
        defaults = StreamSettings()
        assert config["segment.ms"].value == str(defaults.changelog_segment_ms)
        assert config["segment.bytes"].value == str(defaults.changelog_segment_bytes)
        assert config["cleanup.policy"].value == "compact"
    finally:
        worker.stop()
        out.close()
        drop_topics(kafka, (kafka.topic_prefix + ".", app_id + "-"))


@pytest.mark.kafka
def test_a_worker_restarted_after_its_topics_were_created_again_forgets_its_local_tables(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """A Kafka reset (every topic deleted and created again) under a worker with ``rocksdb://`` tables: the
    new changelogs are empty, so Faust's consistency check (stored offset above the highwater) passes, and
    the local database would still say the customer has an open case. The worker must start over instead."""
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"rz{uuid.uuid4().hex[:8]}")
    ensure_topics(kafka)
    worker = LiveWorker(kafka, tmp_path / "w")
    worker.env["INTAKE_STREAMS_STORE"] = "rocksdb://"
    ours = (kafka.topic_prefix + ".", worker.env["INTAKE_STREAMS_APP_ID"] + "-")
    out = Outputs(kafka)
    try:
        worker.start()
        out.wait_owned(worker)
        first = contact("webform", "reset-1", "Where is my parcel? order A00001", email="rz@example.com")
        out.send(first)
        before = out.routed_once(first, 60, worker)
        worker.stop()  # a clean stop: the databases hold their changelog offsets

        drop_topics(kafka, ours)
        admin = AdminClient(kafka.confluent())
        out.wait(lambda: not [t for t in admin.list_topics(timeout=10).topics if t.startswith(ours)], 60,
                 "the topics to be deleted")
        out.close()
        ensure_topics(kafka)
        out = Outputs(kafka)
        worker.start()
        out.wait_owned(worker)
        second = contact("webform", "reset-2", "The parcel from order A00001 is still missing", email="rz@example.com")
        out.send(second)
        after = out.routed_once(second, 60, worker)
        assert (before["dedup"], after["dedup"]) == ("new_case", "new_case"), "no case of the old topics is open"
        assert "(the topic was created again): dropped" in (worker.root / "worker.log").read_text(errors="replace")
    finally:
        worker.stop()
        out.close()
        drop_topics(kafka, ours)
