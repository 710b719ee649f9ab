"""Two routing workers in one consumer group on the real broker: the partitions split between
them, one is SIGKILLed mid-scenario, the other takes over its partitions and the customer state
(recovered from the changelog), and every routed outcome matches a single-worker run of the
same scenario, with nothing lost and nothing decided twice.

Both runs go at once, each with its own topic prefix (so its own app id, tables and changelogs).
The contacts are the same events (stable ids), so the two runs must agree on everything but the
routing time. The scenario goes in waves, at most one contact per customer per wave, so the
order in which a customer's contacts meet does not depend on how the CONTACTS partitions (keyed
by channel and message id) interleave: the outcome is a function of the scenario, not of timing.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.admin import ensure_topics
from schemas.contact import ContactEvent, Thread
from schemas.settings import KafkaSettings
from schemas.topics import DEADLETTER, ESCALATIONS, ROUTED, UPSELL

from streams.tables import key_partition

from .builders import contact
from .conftest import LiveWorker, Outputs, drop_topics

pytestmark = pytest.mark.kafka

START_WAIT = 90.0  # three workers starting at once on a 2-core box
WAIT = 45.0        # a wave; covers the killed member's session timeout (10 s) and the recovery


class Run:
    """Workers of one app id (one consumer group) on their own topic prefix, and what they emit."""

    def __init__(self, bootstrap: str, root: Path, workers: int) -> None:
        self.kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"fo{uuid.uuid4().hex[:8]}")
        ensure_topics(self.kafka)
        self.workers = [LiveWorker(self.kafka, root / f"w{i}") for i in range(workers)]
        for w in self.workers:  # a takeover stall (docs/routing.md) fails the wave within seconds, with the diagnosis
            w.env.update({"INTAKE_STREAMS_STALL_SECONDS": "20", "INTAKE_STREAMS_STALL_CHECK_SECONDS": "2"})
        self.out = Outputs(self.kafka)

    def owned(self, worker: LiveWorker) -> int:
        # Faust assigns partition i of every topic of the group to one worker (co-partitioning):
        # the SLA agents' gauge of case partitions is also this worker's share of the customers topic
        return int(worker.metric("intake_sla_owned_partitions"))

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        self.out.close()
        drop_topics(self.kafka, (self.kafka.topic_prefix + ".", self.workers[0].env["INTAKE_STREAMS_APP_ID"] + "-"))


@pytest.fixture
def runs(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[Run, Run]]:
    single = Run(kafka_bootstrap, tmp_path / "single", 1)
    pair = Run(kafka_bootstrap, tmp_path / "pair", 2)
    try:
        yield single, pair
    finally:
        for run in (single, pair):
            run.out.poll(0.5)  # kept next to the worker logs for a failure's post-mortem
            (run.workers[0].root.parent / "outputs.json").write_text(json.dumps(run.out.events, indent=1))
            run.close()
            for w in run.workers:
                print(f"----- {w.root.name} of {run.kafka.topic_prefix} (tail) -----\n{w.log()[-2500:]}")


def scenario() -> list[list[ContactEvent]]:
    """Waves of contacts: at most one per customer (identity component) per wave."""
    ann, ann_phone = "ann@example.cn", "+8613800000001"
    bo_phone, bo_mail = "+8613800000002", "bo@example.com"
    e1 = contact("email", "<a1@example.cn>", "订单号：A20261122001 三天了还没发货", 0, email=ann, subject="催发货",
                 thread=Thread(message_id="<a1@example.cn>"))
    waves = [
        [e1,
         contact("chat", "c1", "我的会员快到期了，想续费并升级到高级版", 1, handle="webchat:vip-1",
                 attributes={"segment": "VIP"}),
         contact("phone", "call-b1", "Caller asks about a refund for order B77", 2, phone=bo_phone),
         contact("email", "<b2@example.com>", "Where is my refund?", 3, email=bo_mail),
         contact("email", "bounce-1", "Delivery Status Notification (Failure)", 4, email="mailer-daemon@example.cn",
                 kind="bounce"),
         contact("social", "p1", "Where is my parcel? the tracking has not moved for a week", 5,
                 handle="weibo:fan1", is_public=True),
         contact("sms", "x1", "My invoice for order C300 is wrong", 6, phone="+8613800000003"),
         contact("webform", "x2", "Please change my delivery address", 7, email="dee@example.org"),
         contact("chat", "x3", "This is ridiculous!!! I want a refund, not your premium plan", 8,
                 handle="webchat:angry-1")],
        [contact("webform", "a2", "Order A20261122001 still not shipped, please check", 30, email=ann, phone=ann_phone),
         # links Bo's phone-only and email-only customers into one: a merge across partitions
         contact("email", "<b3@example.com>", "Refund for order B77, I called yesterday", 31, email=bo_mail,
                 phone=bo_phone, order_numbers=["B77"]),
         contact("social", "p2", "still nothing, tracking stuck", 32, handle="weibo:fan1", is_public=True),
         contact("sms", "x1b", "Invoice C300 still wrong!!!", 33, phone="+8613800000003"),
         contact("webform", "x2b", "Change of delivery address, second request", 34, email="dee@example.org")],
        [contact("sms", "a3", "A20261122001 还没到！！！太过分了，我要打12315投诉", 60, phone=ann_phone),
         contact("phone", "call-b2", "Calling again about refund B77", 61, phone=bo_phone),
         contact("chat", "c2", "还有升级的优惠吗", 62, handle="webchat:vip-1", attributes={"segment": "VIP"}),
         contact("chat", "x3b", "Still waiting for my refund", 63, handle="webchat:angry-1"),
         contact("sms", "x1c", "Any news on invoice C300?", 64, phone="+8613800000003")],
        [contact("email", "<a4@example.cn>", "Re: 催发货 有进展吗", 80, email=ann,
                 thread=Thread(message_id="<a4@example.cn>", in_reply_to="<a1@example.cn>")),
         contact("email", "<b4@example.com>", "Thanks, refund B77 received?", 81, email=bo_mail)],
    ]
    waves[3].extend([waves[0][1], waves[0][5]])  # exact re-deliveries (VIP chat, public post): no second decision
    return waves


def normalized(out: Outputs) -> dict[str, object]:
    """Routed outcomes by contact id with what depends on the run (routing time) left out."""
    routed: dict[str, dict[str, list[dict]]] = {}
    for e in out.events[ROUTED.name]:
        routed.setdefault(e["data"]["contact_id"], {}).setdefault(e["id"], []).append(e["data"])
    leads = sorted((e["id"], e["data"]["contact_id"], e["data"]["kind"]) for e in out.events[UPSELL.name])
    escalations = sorted((e["id"], e["data"]["case_id"], e["data"]["to_tier"], e["data"]["trigger"])
                         for e in out.events[ESCALATIONS.name])
    return {"routed": routed, "leads": sorted(set(leads)), "escalations": sorted(set(escalations)),
            "dead_letters": len(out.events[DEADLETTER.name])}


def test_two_workers_split_partitions_and_one_takes_over_when_the_other_is_killed(runs: tuple[Run, Run]) -> None:
    single, pair = runs
    started = time.monotonic()
    (solo,), (a, b) = single.workers, pair.workers
    solo.start()
    a.start()
    pair.out.wait(lambda: pair.owned(a) == 4, START_WAIT, "the first worker of the pair to own the partitions", a)
    b.start()  # same app id: joins the group, the partitions split

    def split_now() -> tuple[int, int] | None:
        owned = (pair.owned(a), pair.owned(b))
        return owned if sum(owned) == 4 and min(owned) > 0 else None

    split = pair.out.wait(split_now, START_WAIT, "the partitions to split between the two workers", b)
    single.out.wait(lambda: single.owned(solo) == 4, START_WAIT, "the single worker to be ready", solo)
    ready = time.monotonic() - started

    waves = scenario()
    unique = list({e.id: e for wave in waves for e in wave}.values())
    by_id = {e.id: e for e in unique}
    decided_by_b, owned_by_b, partitions_of_b = 0.0, 0, []
    for i, wave in enumerate(waves):
        for run in (single, pair):
            run.out.send(*wave)
        if i == 1:
            # mid-scenario: as soon as the second wave starts to come out, the other half of its contacts in flight
            pair.out.wait(lambda: any(pair.out.routed(e.id) for e in wave), WAIT, "the second wave to start", a)
            decided_by_b = b.metric("intake_routing_contacts_total")
            owned_by_b = pair.owned(b)
            partitions_of_b = [int(p) for p in re.findall(r"open clocks on partitions \[([\d, ]*)\]", b.log())[-1]
                               .split(",") if p.strip()]
            b.kill()
            killed_at = time.monotonic()
        for run, worker in ((single, solo), (pair, a)):
            missing = lambda run=run: [e.data.provider_message_id for e in wave if not run.out.routed(e.id)]  # noqa: E731
            try:
                run.out.wait(lambda missing=missing: not missing(), WAIT + 20, f"wave {i + 1}", worker)
            except BaseException:
                print(f"{run.kafka.topic_prefix}: wave {i + 1} not routed: {missing()}")
                raise
    takeover = time.monotonic() - killed_at
    for run in (single, pair):
        run.out.poll(2.0)  # late copies, if any, would show up here

    # both workers decided contacts while both were up; the survivor then owns every partition
    assert owned_by_b > 0, "the killed worker owned no partitions when it was killed"
    assert decided_by_b > 0, "the killed worker never decided a contact: the test proves no takeover"
    assert a.metric("intake_routing_contacts_total") > 0
    pair.out.wait(lambda: pair.owned(a) == 4, WAIT, "the survivor to own every partition", a)

    s, p = normalized(single.out), normalized(pair.out)
    for run_name, n in (("single", s), ("pair", p)):
        assert set(n["routed"]) == {e.id for e in unique}, f"{run_name}: a contact was lost"
        for contact_id, by_event in n["routed"].items():
            # at-least-once: a batch the killed worker had sent but not committed is re-run by the survivor,
            # which must re-send the very same event (same id, same verdicts), never a second decision
            assert len(by_event) == 1, f"{run_name}: {contact_id} decided twice: {list(by_event.values())}"
            (copies,) = by_event.values()
            assert all(c == copies[0] for c in copies), f"{run_name}: {contact_id} re-sent with other verdicts"
    copies_resent = sum(len(c) - 1 for ev in p["routed"].values() for c in ev.values())
    outcome = lambda n: {cid: next(iter(ev.values()))[0] for cid, ev in n["routed"].items()}  # noqa: E731
    differences = {(by_id[cid].data.provider_message_id, k): (v, outcome(s)[cid].get(k))
                   for cid, routed in outcome(p).items() for k, v in routed.items() if outcome(s)[cid].get(k) != v}
    assert not differences, f"two-worker run vs single worker, (contact, field): (pair, single): {differences}"
    assert (p["leads"], p["escalations"], p["dead_letters"]) == (s["leads"], s["escalations"], s["dead_letters"])

    # the scenario did what it is meant to exercise (same in both runs, checked above)
    r = outcome(s)
    by_mid = {e.data.provider_message_id: r[e.id] for e in unique}
    ann_case = by_mid["<a1@example.cn>"]["case_id"]
    assert [by_mid[m]["case_id"] for m in ("a2", "a3", "<a4@example.cn>")] == [ann_case] * 3
    assert by_mid["<a4@example.cn>"]["dedup"] == "thread_reply"
    assert by_mid["a3"]["dedup"] == "repeat" and by_mid["a3"]["customer_key"] == by_mid["a2"]["customer_key"]
    bo = {by_mid[m]["customer_key"] for m in ("<b3@example.com>", "call-b2", "<b4@example.com>")}
    assert len(bo) == 1, "Bo's phone and email were linked"
    assert by_mid["bounce-1"]["dedup"] == "not_a_contact"
    assert {v["dedup"] for v in r.values()} >= {"new_case", "repeat", "thread_reply", "not_a_contact"}
    # the survivor decided, after the kill, contacts of customers whose partitions the killed worker
    # had owned, and found their cases: that state came from the changelog
    inherited = [m for m in (e.data.provider_message_id for e in waves[2] + waves[3])
                 if by_mid[m]["dedup"] in ("repeat", "follow_up", "thread_reply")
                 and key_partition(by_mid[m]["customer_key"].encode(), 4) in partitions_of_b]
    assert inherited, f"no post-kill contact of the killed worker's partitions {partitions_of_b}"
    assert s["leads"] and s["escalations"]
    print(f"\nfailover: ready after {ready:.1f}s, split {split}, takeover + rest of scenario {takeover:.1f}s, "
          f"total {time.monotonic() - started:.1f}s, {len(unique)} contacts, {copies_resent} identical copies re-sent "
          f"by the survivor; post-kill contacts on the killed worker's partitions {partitions_of_b}: {inherited}")
