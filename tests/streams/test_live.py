"""Against the real broker and a real worker process: a mixed zh/en, multi-channel scenario,
then a SIGKILL in the middle of it and a restart that must change none of the outcomes."""
from __future__ import annotations

import random
import uuid
from datetime import timedelta

import orjson
import pytest
from typer.testing import CliRunner

from intake import kafka_range
from intake.cli import app as cli
from schemas.contact import Thread
from schemas.lifecycle import Lifecycle, LifecycleAction, LifecycleEvent
from schemas.topics import DEADLETTER, ESCALATIONS, OUTBOUND, RECALLS, ROUTED, SLA, UPSELL
from streams.identity import order_key
from streams.packing import PACKED, frame, unpack
from streams.sla.clock import PARTITIONS, ROUTED_COMMAND, commands_topic
from streams.tables import key_partition

from .builders import T0, contact
from .conftest import LiveWorker, Outputs

pytestmark = pytest.mark.kafka

PHONE, EMAIL = "+8613800138000", "zhang.wei@example.cn"
FIRST_WAIT = 120.0   # includes the worker's start-up on a busy 2-core box
WAIT = 60.0


def test_scenario_survives_a_worker_kill(live: tuple[LiveWorker, Outputs]) -> None:
    worker, out = live
    # --- one customer, same order, email then web form (links email + phone) then SMS ---
    e1 = contact("email", "<m1@example.cn>", "订单号：A20261122001 三天了还没发货，物流一直不更新", 0,
                 email=EMAIL, subject="催发货", thread=Thread(message_id="<m1@example.cn>"))
    out.send(e1)
    r1 = out.routed_once(e1, FIRST_WAIT, worker)
    assert (r1["dedup"], r1["category"], r1["phase"], r1["queue"], r1["tier"]) == ("new_case", "logistics", "in_sale",
                                                                                 "logistics", 1)
    assert r1["rules_version"] and r1["priority_reason"] and r1["routing_reason"]

    w1 = contact("webform", "w1", "Order A20261122001 still not shipped, please check", 30, email=EMAIL, phone=PHONE)
    hops = worker.metric("intake_routing_identity_hops_total")
    out.send(w1)
    rw = out.routed_once(w1, WAIT, worker)
    # the phone is new: from the probe at the smaller key to the other, and back (counted after the batch)
    out.wait(lambda: worker.metric("intake_routing_identity_hops_total") - hops >= 2, WAIT, "the walk's hops", worker)
    assert worker.metric("intake_routing_identity_hops_total") - hops == 2
    assert (rw["dedup"], rw["case_id"]) == ("repeat", r1["case_id"]), rw["dedup_reason"]
    assert "a20261122001" in rw["dedup_reason"]

    s1 = contact("sms", "SM001", "A20261122001 还没到！！！太过分了，我要打12315投诉", 60, phone=PHONE)
    out.send(s1)
    rs = out.routed_once(s1, WAIT, worker)
    assert (rs["dedup"], rs["case_id"], rs["customer_key"]) == ("repeat", r1["case_id"], rw["customer_key"])
    assert (rs["category"], rs["severity"], rs["sentiment"], rs["priority"]) == ("complaint", 3, "angry", 1)
    assert (rs["queue"], rs["tier"]) == ("complaints-mgmt", 3)
    esc = out.wait(lambda: [e["data"] for e in out.events[ESCALATIONS.name] if e["data"]["case_id"] == r1["case_id"]],
                   WAIT, "rule escalation")
    assert (esc[0]["to_tier"], esc[0]["trigger"]) == (3, "rule")

    # --- the desk assigns the case; an email reply threads into it ---
    out.send_lifecycle(LifecycleEvent(source="/tests", data=Lifecycle(
        case_id=r1["case_id"], action=LifecycleAction.ASSIGNED, at=T0 + timedelta(minutes=70), agent="li.na",
        queue="complaints-senior", tier=3)))
    out.wait(lambda: 'intake_routing_case_updates_total{kind="lifecycle:assigned"} 1.0' in worker.metrics(), WAIT,
             "the assignment to be applied", worker)
    reply = contact("email", "<m2@example.cn>", "Re: 催发货 有进展吗", 80, email=EMAIL,
                    thread=Thread(message_id="<m2@example.cn>", in_reply_to="<m1@example.cn>"))
    out.send(reply)
    rr = out.routed_once(reply, WAIT, worker)
    assert (rr["dedup"], rr["case_id"], rr["queue"]) == ("thread_reply", r1["case_id"], "complaints-senior")
    assert "li.na" in rr["routing_reason"]

    # --- other customers: a VIP upsell lead (zh chat), a suppressed cue, public vs private posts ---
    vip = contact("chat", "c1", "我的会员快到期了，想续费并升级到高级版", 90, handle="webchat:u-77",
                  attributes={"segment": "VIP"})
    angry = contact("chat", "c2", "This is ridiculous!!! I want a refund, not your premium plan", 91,
                    handle="webchat:u-78")
    public = contact("social", "p1", "Where is my parcel? the tracking has not moved for a week", 92,
                     handle="weibo:fan1", is_public=True)
    private = contact("social", "p2", "Where is my parcel? the tracking has not moved for a week", 92,
                      handle="messenger:fan2")
    bounce = contact("email", "b1", "Delivery Status Notification (Failure)", 93, email="mailer-daemon@example.cn",
                     kind="bounce")
    out.send(vip, angry, public, private, bounce)
    # kill mid-scenario: as soon as the first of these is routed, others may still be in flight
    out.wait(lambda: any(out.routed(e.id) for e in (vip, angry, public, private, bounce)), WAIT, "first of the batch",
             worker)
    worker.kill()
    # while the worker is down: an SMS repeat on the first case, and re-deliveries of everything so far
    s2 = contact("sms", "SM002", "订单A20261122001什么时候能到", 120, phone=PHONE)
    everything = [e1, w1, s1, reply, vip, angry, public, private, bounce]
    out.send(s2, *everything)
    worker.env.update({"INTAKE_STREAMS_STALL_SECONDS": "20", "INTAKE_STREAMS_STALL_CHECK_SECONDS": "2"})
    worker.start()
    before_kill = {e.id: out.routed(e.id)[0] for e in everything if out.routed(e.id)}
    results = {e.id: out.routed_once(e, FIRST_WAIT, worker) for e in [*everything, s2]}
    rv, ra, rp, rq, rb, r2 = (results[e.id] for e in (vip, angry, public, private, bounce, s2))
    assert (rv["segment"], rv["queue"], rv["upsell"]) == ("vip", "vip-desk", "lead")
    lead = out.wait(lambda: [e["data"] for e in out.events[UPSELL.name] if e["data"]["contact_id"] == vip.id],
                    WAIT, "upsell lead")
    assert lead[0]["kind"] == "upgrade" and ("升级" in lead[0]["evidence"] or "续费" in lead[0]["evidence"])
    assert ra["upsell"] == "suppressed" and "angry" in ra["upsell_reason"]
    assert rp["priority"] < rq["priority"] and rp["queue"] == rq["queue"] == "logistics"
    assert (rb["dedup"], rb["case_id"]) == ("not_a_contact", "")
    # state recovered from the changelogs: the repeat still finds the case, its owner's queue and tier
    assert (r2["dedup"], r2["case_id"], r2["queue"], r2["tier"]) == ("repeat", r1["case_id"], "complaints-senior", 3)

    # outcomes unchanged: re-deliveries produced no second decision; any copy re-sent by the killed
    # worker carries the same event id and the same verdicts
    out.poll(3.0)
    for e in everything:
        copies = [x for x in out.events[ROUTED.name] if x["data"]["contact_id"] == e.id]
        assert len({x["id"] for x in copies}) == 1, f"{e.data.provider_message_id} decided twice"
        assert all(x["data"] == copies[0]["data"] for x in copies)
    for cid, before in before_kill.items():
        assert results[cid] == before
    acks: dict[str, set[str]] = {}  # one acknowledgement per new case on an asynchronous channel, whatever was re-sent
    for x in out.events[OUTBOUND.name]:
        if x["data"]["kind"] == "acknowledgement":
            acks.setdefault(x["data"]["contact_id"], set()).add(x["id"])
    assert set(acks) == {e1.id, rq["contact_id"]} and all(len(ids) == 1 for ids in acks.values())
    ack = next(x["data"] for x in out.events[OUTBOUND.name] if x["data"]["contact_id"] == e1.id)
    assert (ack["channel"], ack["to"], ack["in_reply_to"], ack["case_id"]) == ("email", EMAIL, "<m1@example.cn>",
                                                                             r1["case_id"])
    assert len({r["case_id"] for r in (r1, rw, rs, rr, r2)}) == 1

    # --- the desk closes the case (the event delivered twice): one survey, by text, where the customer last wrote ---
    close = LifecycleEvent(source="/tests", data=Lifecycle(case_id=r1["case_id"], action=LifecycleAction.CLOSED,
                                                           at=T0 + timedelta(hours=3)))
    out.send_lifecycle(close)
    out.send_lifecycle(close)
    out.wait(lambda: [x for x in out.events[OUTBOUND.name] if x["data"]["kind"] == "survey"], WAIT, "a survey", worker)
    out.poll(2.0)
    surveys = [x for x in out.events[OUTBOUND.name] if x["data"]["kind"] == "survey"]
    assert len(surveys) == 1  # no crash since the worker came back: one copy, not one id sent twice
    assert {(x["data"]["case_id"], x["data"]["contact_id"], x["data"]["channel"], x["data"]["to"]) for x in surveys} == {
        (r1["case_id"], s2.id, "sms", PHONE)}
    metrics = worker.metrics()
    assert "intake_routing_redeliveries_total" in metrics


def test_a_recall_reaches_the_customer_who_quoted_the_order_on_any_of_their_keys(
        live: tuple[LiveWorker, Outputs]) -> None:
    """The order was quoted on an email and the customer later wrote by SMS about it too: the order's key
    was merged into the customer, and the recall follows its pointer to them."""
    worker, out = live
    tag = uuid.uuid4().hex[:6]
    order, email, phone = f"R{tag}".upper(), f"recall-{tag}@example.cn", f"+86139{int(tag, 16) % 10**8:08d}"
    first = contact("email", f"<rc-{tag}@example.cn>", f"订单{order}的水壶漏水", at=T0 + timedelta(days=40),
                    email=email, order_numbers=[order])
    then = contact("sms", f"RC-{tag}", f"{order} 水壶还是漏水", at=T0 + timedelta(days=40, minutes=5), phone=phone,
                   order_numbers=[order])
    out.send(first)
    r1 = out.routed_once(first, WAIT, worker)
    out.send(then)
    assert out.routed_once(then, WAIT, worker)["case_id"] == r1["case_id"]
    unknown_before = worker.metric('intake_routing_recalls_total{result="unknown_order"}')
    published = CliRunner().invoke(cli, ["recall", f"RC-{tag}", "-", "--product", "kettle K2"],
                                   input=f"{order.lower()}\n\nX{tag}\n{order.lower()}\n", env={
                                       "INTAKE_KAFKA_BOOTSTRAP_SERVERS": out.kafka.bootstrap_servers,
                                       "INTAKE_KAFKA_TOPIC_PREFIX": out.kafka.topic_prefix})
    assert published.exit_code == 0 and f"RC-{tag}: 2 recalled order numbers published" in published.output, published.output
    notices = out.wait(lambda: [x["data"] for x in out.events[OUTBOUND.name] if x["data"]["kind"] == "recall"
                                and x["data"]["campaign_id"] == f"RC-{tag}"], WAIT, "the recall notice", worker)
    assert [(n["case_id"], n["channel"], n["to"], n["contact_id"], n["product"]) for n in notices] == [
        (r1["case_id"], "sms", phone, then.id, "kettle K2")]
    out.wait(lambda: worker.metric('intake_routing_recalls_total{result="unknown_order"}') > unknown_before, WAIT,
             "the unknown order counted", worker)
    # what the re-keying agents cannot place is dead-lettered with its cause
    dead_before = len(out.events[DEADLETTER.name])
    out.send_raw(b"garbage", b"{not a recall", RECALLS)
    out.send_lifecycle(LifecycleEvent(source="/tests", data=Lifecycle(case_id=f"foreign-{tag}",
                                                                      action=LifecycleAction.CLOSED, at=T0)))

    def rekey_letters() -> list[dict] | None:
        found = [x["data"] for x in out.events[DEADLETTER.name][dead_before:]
                 if x["data"]["stage"] in ("agent:route_recalls", "agent:route_lifecycle")]
        return found if len(found) >= 2 else None
    letters = out.wait(rekey_letters, WAIT, "two dead letters", worker)
    assert {(d["stage"], d["error_type"]) for d in letters} == {("agent:route_recalls", "ValidationError"),
                                                               ("agent:route_lifecycle", "Rejected")}
    assert any(f"foreign-{tag}" in d["cause"] and "not issued" in d["cause"] for d in letters)
    # counted after its batch wrote the table: an order nobody quoted got no (empty) customer record
    keys = {r.key for r in kafka_range.read(out.kafka, f"{worker.env['INTAKE_STREAMS_APP_ID']}-customers-changelog")}
    assert order_key(f"X{tag}").encode() not in keys
    assert order_key(order).encode() in keys  # the control: the quoted order's pointer


def _random_inputs(rng: random.Random, n: int) -> tuple[list, list[bytes]]:
    words = ["订单", "退款", "物流", "升级", "投诉", "refund", "order", "upgrade", "parcel", "!!!", "12315", "谢谢", " "]
    events = []
    for i in range(n):
        body = "".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
        ids = rng.choice([{}, {"phone": f"+86138{rng.randint(0, 5):08d}"}, {"email": f"u{rng.randint(0, 5)}@x.cn"},
                          {"handle": f"wechat:o{rng.randint(0, 5)}", "order_numbers": [f"O{rng.randint(0, 3)}"]}])
        events.append(contact(rng.choice(["email", "sms", "chat", "social", "phone", "webform"]),
                              f"prop-{uuid.uuid4().hex[:6]}-{i}", body, rng.uniform(0, 600),
                              kind=rng.choice(["message", "message", "auto_reply"]),
                              is_public=rng.random() < 0.3, **ids))
    garbage = [b"", b"{}", b"\xff\xfe", b'{"type": "intake.contact.received.v1"}', b"[1,2,3]", b"null"]
    return events, garbage


def test_every_input_ends_routed_or_dead_lettered(live: tuple[LiveWorker, Outputs]) -> None:
    worker, out = live
    events, garbage = _random_inputs(random.Random(4), 40)
    dead_before = len(out.events[DEADLETTER.name])
    out.send(*events)
    for i, raw in enumerate(garbage):
        out.send_raw(f"garbage-{i}".encode(), raw)
    out.wait(lambda: all(out.routed(e.id) for e in events)
             and len(out.events[DEADLETTER.name]) - dead_before >= len(garbage), WAIT, "all outputs", worker)
    out.poll(2.0)
    for e in events:
        assert len({x["id"] for x in out.events[ROUTED.name] if x["data"]["contact_id"] == e.id}) == 1
    letters = [x["data"] for x in out.events[DEADLETTER.name][dead_before:]]
    assert len(letters) == len(garbage)
    assert all(letter["stage"] == "agent:route_ingress" and letter["cause"] for letter in letters)


def test_poison_on_the_packed_internal_topics_is_dead_lettered_and_the_stream_goes_on(
        live: tuple[LiveWorker, Outputs]) -> None:
    worker, out = live
    app_id = worker.env["INTAKE_STREAMS_APP_ID"]
    dead_before = len(out.events[DEADLETTER.name])
    poison = {f"{app_id}-customers": [b"not a walk", PACKED + frame(b"C{}\n{}")[:-2]],  # garbage, a damaged pack
              f"{app_id}-sla-commands": [b"Xunknown", PACKED + frame(b"R{broken")]}  # a pack with a broken command
    for topic, records in poison.items():
        for raw in records:
            out.producer.produce(topic, key=b"poison", value=raw)
    out.producer.flush(10)
    after = contact("webform", f"after-poison-{uuid.uuid4().hex[:6]}", "after the poison",
                    email=f"poison-{uuid.uuid4().hex[:6]}@example.com", at=T0 + timedelta(days=30))
    out.send(after)
    out.routed_once(after, WAIT, worker)
    out.wait(lambda: len(out.events[DEADLETTER.name]) - dead_before >= 4, WAIT, "four dead letters", worker)
    stages = sorted(x["data"]["stage"] for x in out.events[DEADLETTER.name][dead_before:])
    assert stages == ["agent:route_cases", "agent:route_cases", "agent:sla_clocks", "agent:sla_clocks"]
    assert worker.alive()


def test_each_routed_contact_is_the_sla_command_for_its_case(live: tuple[LiveWorker, Outputs]) -> None:
    """The routing agent writes the clocks' command itself (the worker does not read ROUTED back):
    the routed event's own bytes behind the kind byte, on the case's partition of the command topic."""
    worker, out = live
    app_id = worker.env["INTAKE_STREAMS_APP_ID"]
    sent = contact("chat", f"clock-{uuid.uuid4().hex[:6]}", "Where is my parcel?",
                   email=f"clock-{uuid.uuid4().hex[:6]}@example.com", at=T0 + timedelta(days=31))
    out.send(sent)
    case_id = out.routed_once(sent, WAIT, worker)["case_id"]
    [published] = [r.value for r in kafka_range.read(out.kafka, out.kafka.topic(ROUTED))
                   if orjson.loads(r.value)["data"]["contact_id"] == sent.id]
    commands = [(r.partition, message) for r in kafka_range.read(out.kafka, commands_topic(app_id))
                for message in unpack(r.value) if message == ROUTED_COMMAND + published]
    assert commands == [(key_partition(case_id.encode(), PARTITIONS), ROUTED_COMMAND + published)]
    # the clock agent applied it: the case's clocks run
    assert ("first_response", "started") in out.wait(lambda: _sla_of(out, case_id), WAIT, "the clocks to start", worker)


def _sla_of(out: Outputs, case_id: str) -> list[tuple[str, str]]:
    """(clock, status) of the case's SLA events so far, in the order of its partition."""
    events = [orjson.loads(r.value)["data"] for r in kafka_range.read(out.kafka, out.kafka.topic(SLA))]
    return [(e["clock"], e["status"]) for e in events if e["case_id"] == case_id]


def test_a_desk_answering_as_soon_as_it_sees_the_contact_stops_its_clock(live: tuple[LiveWorker, Outputs]) -> None:
    """The first response is sent the moment the contact shows on ROUTED: it must reach the clocks after
    the contact that opened the case (an unknown case's lifecycle is dropped), so the clock is met."""
    worker, out = live
    at = T0 + timedelta(days=32)
    sent = contact("chat", f"desk-{uuid.uuid4().hex[:6]}", "Hello, my order has not arrived",
                   email=f"desk-{uuid.uuid4().hex[:6]}@example.com", at=at)
    out.send(sent)
    case_id = out.routed_once(sent, WAIT, worker)["case_id"]
    out.send_lifecycle(LifecycleEvent(source="/tests", data=Lifecycle(
        case_id=case_id, action=LifecycleAction.FIRST_RESPONSE, at=at + timedelta(seconds=20), agent="li.na")))

    def answered() -> list[str] | None:
        statuses = [status for clock, status in _sla_of(out, case_id) if clock == "first_response"]
        return statuses if len(statuses) > 1 else None

    assert out.wait(answered, WAIT, "the clock to stop", worker) == ["started", "met"]
