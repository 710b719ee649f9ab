"""``intake replay`` against the real broker, a real live worker and real replay workers.

One recorded scenario (module fixture): a live worker (wall-clock SLA clocks, the short test
policy with a 10 s first response) routes eight web-form contacts; half get a first response
1 s after the contact (met; reported at once, well before the first warning at 5 s, so wall
and event time agree), half are never answered (warned at 5 s and 7.5 s, breached at 10 s). The live
worker is then stopped and its offsets / topic ends recorded. Replays of that range must:
reproduce every live verdict exactly under the same rules and policy (event-time clocks);
breach the answered half too under a 1 s policy; leave the live groups and topics untouched;
resume after Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from intake import kafka_range
from intake.replay import Plan, run_replay
from intake.replay_compare import compare, publish, table
from schemas.admin import ensure_topics
from schemas.lifecycle import Lifecycle, LifecycleEvent
from schemas.replay import ReplayReportEvent
from schemas.settings import KafkaSettings
from schemas.topics import CONTACTS, ESCALATIONS, LIFECYCLE, REPLAY_REPORTS, ROUTED, SLA, UPSELL
from streams.packing import unpack

from ..sla.conftest import SHORT_POLICY as TEST_POLICY
from ..sla.conftest import Collector, Feeder, Worker, drop_topics, wait_for
from ..streams.builders import contact

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]
DEFAULT_TARGETS = "targets: {first_response: 4s, next_response: 4s"


def policy(tmp: Path, version: str, first_response: str) -> Path:
    """The short test policy with another version and first-response target on the default rule."""
    path = tmp / f"{version}.yaml"
    text = TEST_POLICY.read_text()
    assert DEFAULT_TARGETS in text
    path.write_text(text.replace('version: "test-short"', f'version: "{version}"')
                    .replace(DEFAULT_TARGETS, f"targets: {{first_response: {first_response}, next_response: 4s"))
    return path
BODIES = [  # (text, answered): queues and an upsell cue vary with the text
    ("My package has not been delivered, the tracking number shows nothing", True),
    ("我想买你们的新款耳机，有现货吗", False),
    ("Payment failed twice but the money left my account, please refund", True),
    ("The warranty expires next month, can I buy an extended warranty?", False),
    ("快递三天了物流一直不更新", True),
    ("How do I change the delivery address of my order?", False),
    ("Do you sell accessories that go with the blender?", True),
    ("I have a question about my account password", False),
]


@dataclass
class Recorded:
    live: KafkaSettings
    app_id: str
    range_from: datetime
    range_to: datetime
    answered: int
    unanswered: int
    offsets: dict            # the live group's committed offsets after the live run
    ends: dict               # end offsets of every live topic (catalog and the worker's own)
    tmp: Path
    policy: Path

    def plan(self, run_id: str, **kw: object) -> Plan:
        return Plan(run_id=run_id, range_from=self.range_from, range_to=self.range_to, live=self.live,
                    live_app_id=self.app_id, sla_policy=kw.pop("sla_policy", self.policy),
                    workdir=self.tmp / "replay", **kw)  # type: ignore[arg-type]


def live_topics(r: Recorded) -> list[str]:
    from confluent_kafka.admin import AdminClient

    names = AdminClient(r.live.confluent()).list_topics(timeout=10).topics
    return sorted(t for t in names if (t.startswith(r.live.topic_prefix + ".") or t.startswith(r.app_id + "-"))
                  and ".replay." not in t and "-replay-" not in t and t != r.live.topic(REPLAY_REPORTS))


def events(kafka: KafkaSettings, spec) -> dict[str, dict]:  # noqa: ANN001
    """id -> data of every event on a topic (envelope times differ between runs; ids and data may not)."""
    out = {}
    for record in kafka_range.read(kafka, kafka.topic(spec)):
        event = orjson.loads(record.value)
        out[event["id"]] = event["data"]
    return out


@pytest.fixture(scope="module")
def recorded(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    live = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)
    ensure_topics(live)
    tmp = tmp_path_factory.mktemp("replay")
    live_policy = policy(tmp, "live-10s", "10s")
    worker = Worker(live, tmp / "live", live_policy)
    worker.app_id = f"{prefix}-live"  # named after the prefix: the clean-up below finds its topics
    out = Collector(live, [ROUTED, SLA])
    feeder = Feeder(live)
    try:
        worker.start()
        range_from = datetime.now(timezone.utc) - timedelta(seconds=1)
        sent = []
        for i, (body, answered) in enumerate(BODIES):
            event = contact("webform", f"replay-{prefix}-{i}", body, at=datetime.now(timezone.utc),
                            email=f"customer{i}.{prefix}@example.com")
            feeder.send(CONTACTS, event.dedup_key, event)
            sent.append((event, answered))
        routed = wait_for(lambda: (lambda got: got if len(got) == len(sent) else None)(
            {e.data.contact_id: e.data for e, _ in out.select("contacts.routed.v1")}), 90, "live routing")
        for event, answered in sent:
            if answered:
                case = routed[event.id].case_id
                reply = LifecycleEvent(source="/tests/replay", subject=case, data=Lifecycle(
                    case_id=case, action="first_response", at=event.data.received_at + timedelta(seconds=1)))
                feeder.send(LIFECYCLE, case, reply)
        unanswered = sum(1 for _, a in sent if not a)
        try:
            wait_for(lambda: len(out.select("sla.v1", lambda e: e.data.status == "breached")) >= unanswered, 60,
                     "live breaches")
        except AssertionError:
            print([(e.data.case_id, e.data.clock.value, e.data.status.value) for e, _ in out.select("sla.v1")])
            raise
        answered_cases = {routed[e.id].case_id for e, a in sent if a}
        late = out.select("sla.v1", lambda e: e.data.case_id in answered_cases and e.data.status == "warning")
        assert not late, "the live worker was too slow: a desk reply arrived after a warning (wall != event time)"
        time.sleep(1.5)  # let the last escalations be applied and committed
        worker.stop()
        range_to = datetime.now(timezone.utc)
        r = Recorded(live, worker.app_id, range_from, range_to, len(sent) - unanswered, unanswered,
                     kafka_range.group_offsets(live, worker.app_id), {}, tmp, live_policy)
        r.ends = kafka_range.end_offsets(live, live_topics(r))
        yield r
    finally:
        worker.stop()
        out.close()
        drop_topics(live, (f"{prefix}.", f"{prefix}-"))


def test_same_rules_and_policy_reproduce_the_live_results_exactly(recorded: Recorded) -> None:
    plan = recorded.plan("same")
    lines: list[str] = []
    outcome = run_replay(plan, progress_out=lines.append)
    print("\n".join(lines))
    assert outcome.contacts == len(BODIES) and outcome.lifecycle == recorded.answered
    assert lines and "done" in lines[-1] and f"{outcome.contacts + outcome.lifecycle}/" in lines[-1], lines
    for spec in (ROUTED, SLA, UPSELL, ESCALATIONS):
        live, replayed = events(recorded.live, spec), events(plan.run, spec)
        assert live, spec.name
        assert replayed == live, f"{spec.name}: replay differs from live"
    report = compare(plan.live, plan.run, plan.run_id, plan.range_from, plan.range_to, outcome.contact_ids,
                     outcome.lifecycle)
    print(table(report))
    assert (report.compared, report.queue_changes, report.category_changes) == (len(BODIES), 0, 0)
    assert report.live == report.replay and report.live.breached == recorded.unanswered
    assert report.live.met == recorded.answered and report.live.attainment == 50.0
    assert report.live_leads == report.replay_leads >= 1 and report.leads_gained == report.leads_lost == 0
    assert report.live_escalations == report.replay_escalations >= recorded.unanswered  # each breach escalates
    assert report.replay_sla_policy == report.live_sla_policy == "live-10s"
    publish(report, recorded.live)
    [stored] = [r for r in kafka_range.read(recorded.live, recorded.live.topic(REPLAY_REPORTS))]
    assert ReplayReportEvent.decode(stored.value).data.run_id == "same"


def test_a_stricter_sla_policy_breaches_the_cases_answered_in_time(recorded: Recorded, tmp_path: Path) -> None:
    plan = recorded.plan("strict", sla_policy=policy(tmp_path, "strict-500ms", "500ms"))
    outcome = run_replay(plan, progress_out=lambda line: None)
    report = compare(plan.live, plan.run, plan.run_id, plan.range_from, plan.range_to, outcome.contact_ids,
                     outcome.lifecycle)
    print(table(report))
    assert report.replay_sla_policy == "strict-500ms" and report.live_sla_policy == "live-10s"
    assert report.queue_changes == report.category_changes == 0  # same rules: routing unchanged
    assert report.replay.breached == report.live.breached + recorded.answered == len(BODIES)
    assert report.replay.met == 0 and report.replay.attainment == 0.0
    assert report.replay_escalations == report.live_escalations + recorded.answered  # the new breaches escalate too
    for q in report.queues:  # per queue: every clock answered after 1 s became a breach
        assert q.replay.breached == q.live.breached + q.live.met
    # every stored verdict names the policy version that produced it
    assert {d["policy"].rpartition("@")[2] for d in events(plan.run, SLA).values()} == {"strict-500ms"}
    assert {d["rules_version"] for d in events(plan.run, ROUTED).values()} == \
        {d["rules_version"] for d in events(recorded.live, ROUTED).values()}


def test_ctrl_c_stops_cleanly_and_the_same_run_id_resumes(recorded: Recorded) -> None:
    env = {**os.environ, "INTAKE_KAFKA_BOOTSTRAP_SERVERS": recorded.live.bootstrap_servers,
           "INTAKE_KAFKA_TOPIC_PREFIX": recorded.live.topic_prefix, "INTAKE_STREAMS_APP_ID": recorded.app_id,
           "INTAKE_STREAMS_SLA_POLICY": str(recorded.policy), "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "intake.cli", "replay", "--from", recorded.range_from.isoformat(),
            "--to", recorded.range_to.isoformat(), "--run-id", "resume", "--no-publish",
            "--workdir", str(recorded.tmp / "replay")]
    # slow feed (1 event/s): Ctrl-C once the worker has taken in some events and the feed is not through
    # as from a terminal: a job started in the background by a non-interactive shell (CI runners, `make &`)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler at all
    first = subprocess.Popen([*args, "--rate", "1"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    assert first.stderr is not None
    for line in first.stderr:
        seen.append(line)
        if "[feeding]" in line and not line.split(": ", 1)[1].startswith("0/"):
            break
    first.send_signal(signal.SIGINT)  # what Ctrl-C delivers
    _, err = first.communicate(timeout=90)
    assert first.returncode == 130, "".join(seen) + err
    assert "to resume" in err and "[interrupted]" in err
    run = recorded.plan("resume").run
    copied = len(kafka_range.read(run, run.topic(CONTACTS))) + len(kafka_range.read(run, run.topic(LIFECYCLE)))
    assert 0 < copied < len(BODIES) + recorded.answered, "interrupted half-way"

    try:
        second = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        stages = {spec.name: len(kafka_range.read(run, run.topic(spec))) for spec in (CONTACTS, ROUTED, LIFECYCLE, SLA)}
        stages["commands"] = [m[:1] for r in kafka_range.read(run, f"{recorded.app_id}-replay-resume-sla-commands")
                              for m in unpack(r.value)]
        stages["customers"] = len(kafka_range.read(run, f"{recorded.app_id}-replay-resume-customers"))
        stages["group"] = kafka_range.group_offsets(run, f"{recorded.app_id}-replay-resume")
        stages["ends"] = kafka_range.end_offsets(run, [t for t, _ in stages["group"]])
        raise AssertionError(f"resume hung: {stages}") from None
    assert second.returncode == 0, second.stderr[-3000:]
    print(second.stdout)
    assert "TOTAL" in second.stdout
    assert (recorded.tmp / "replay" / "resume" / "attempt-2" / "worker.log").exists(), "a fresh worker resumed"
    # nothing copied twice, nothing missing, and the verdicts are the live ones
    assert len(kafka_range.read(run, run.topic(CONTACTS))) == len(BODIES)
    assert len(kafka_range.read(run, run.topic(LIFECYCLE))) == recorded.answered
    for spec in (ROUTED, SLA, UPSELL):
        assert events(run, spec) == events(recorded.live, spec), spec.name


def test_the_live_consumer_group_and_topics_are_untouched(recorded: Recorded) -> None:
    """Runs last (file order): after every replay above, including the interrupted one."""
    assert recorded.offsets, "the live worker committed offsets"
    assert kafka_range.group_offsets(recorded.live, recorded.app_id) == recorded.offsets
    assert kafka_range.end_offsets(recorded.live, live_topics(recorded)) == recorded.ends
    groups = kafka_range.group_offsets(recorded.live, f"{recorded.app_id}-replay-same")
    assert groups and all(t.startswith((f"{recorded.live.topic_prefix}.replay.same.", f"{recorded.app_id}-replay-same-"))
                          for t, _ in groups), "the replay worker read only its own topics"
