"""Which new cases are acknowledged, which closed ones surveyed, which customers told of a recall, and on which address."""
from __future__ import annotations

import pytest

from schemas.contact import Channel, ContactEvent, Thread
from schemas.lifecycle import Lifecycle, LifecycleAction
from schemas.outbound import OutboundKind
from schemas.recall import Recall
from schemas.routed import DedupVerdict, RoutedContact
from streams.decide.cases import CustomerState, apply_lifecycle
from streams.decide.outbound import acknowledgement, recall_notice, survey
from streams.settings import StreamSettings

from .builders import T0, contact
from .test_identity import DECIDER

DEFAULT = StreamSettings().acknowledge_channels


def routed(event: ContactEvent, dedup: DedupVerdict = DedupVerdict.NEW_CASE) -> RoutedContact:
    return RoutedContact(contact_id=event.id, contact=event.data, customer_key="cus-1", case_id="cus-1-0001",
                         dedup=dedup, category="order", priority=3, routing_reason="rule")


def test_an_email_is_acknowledged_in_its_thread() -> None:
    mail = contact("email", "<m1@example.cn>", "订单还没发货", email="li@example.cn", subject="催发货",
                   thread=Thread(message_id="<m1@example.cn>"), language="zh")
    ack = acknowledgement(routed(mail), DEFAULT)
    assert ack is not None
    assert (ack.kind, ack.template, ack.case_id, ack.contact_id) == (OutboundKind.ACKNOWLEDGEMENT, "case_received",
                                                                     "cus-1-0001", mail.id)
    assert (ack.channel, ack.to, ack.in_reply_to, ack.subject, ack.language) == (
        Channel.EMAIL, "li@example.cn", "<m1@example.cn>", "催发货", "zh")


@pytest.mark.parametrize(("event", "channel", "to"), [
    (contact("sms", "s1", "还没到", phone="+8613800138000"), Channel.SMS, "+8613800138000"),
    (contact("social", "p1", "parcel?", handle="messenger:42"), Channel.SOCIAL, "messenger:42"),
    (contact("webform", "w1", "parcel?", email="li@example.cn", phone="+8613800138000"), Channel.EMAIL, "li@example.cn"),
    (contact("webform", "w2", "parcel?", phone="+8613800138000"), Channel.SMS, "+8613800138000"),
])
def test_other_channels_are_acknowledged_where_the_customer_can_be_reached(event: ContactEvent, channel: Channel,
                                                                           to: str) -> None:
    ack = acknowledgement(routed(event), DEFAULT)
    assert ack is not None and (ack.channel, ack.to, ack.in_reply_to, ack.subject) == (channel, to, None, None)


@pytest.mark.parametrize(("event", "dedup"), [
    (contact("email", "r1", "any news?", email="li@example.cn"), DedupVerdict.REPEAT),  # the customer knows the case
    (contact("email", "t1", "Re: 催发货", email="li@example.cn"), DedupVerdict.THREAD_REPLY),
    (contact("email", "b1", "Undelivered", email="mailer-daemon@x.cn", kind="bounce"), DedupVerdict.NOT_A_CONTACT),
    (contact("social", "p2", "where is it", handle="weibo:fan", is_public=True), DedupVerdict.NEW_CASE),  # public
    (contact("chat", "c1", "hello", handle="webchat:u1"), DedupVerdict.NEW_CASE),  # answered in the chat itself
    (contact("phone", "call-1", "", phone="+8613800138000"), DedupVerdict.NEW_CASE),
    (contact("webform", "w3", "no way to reach me"), DedupVerdict.NEW_CASE),  # no address
])
def test_no_acknowledgement(event: ContactEvent, dedup: DedupVerdict) -> None:
    assert acknowledgement(routed(event, dedup), DEFAULT) is None


def test_the_channels_are_configurable() -> None:
    call = contact("phone", "call-2", "", phone="+8613800138000")
    assert acknowledgement(routed(call), [Channel.PHONE]).to == "+8613800138000"  # a text after the call
    assert acknowledgement(routed(contact("sms", "s2", "hi", phone="+8613800138000")), []) is None


SURVEYED = StreamSettings().survey_channels


def decided(state: CustomerState, *events: ContactEvent) -> str:
    """Decide ``events`` for one customer; the case id of the last."""
    for event in events:
        routed = DECIDER.decide(event, "cus-00000000000000aa", state, "test").routed
    return routed.case_id


def closed(state: CustomerState, case_id: str):
    assert apply_lifecycle(state, Lifecycle(case_id=case_id, action=LifecycleAction.CLOSED, at=T0))
    return state.cases[case_id]


def test_a_closed_case_is_surveyed_where_its_latest_private_contact_came_from() -> None:
    state = CustomerState()
    mail = contact("email", "<s1@example.cn>", "订单A20261122001还没发货", email="li@example.cn", language="zh")
    text = contact("sms", "SM9", "A20261122001 到底什么时候到", 5, phone="+8613800138000")
    post = contact("social", "p9", "A20261122001 still nothing", 9, handle="weibo:li", is_public=True)
    case_id = decided(state, mail, text, post)
    assert DECIDER.decide(mail, "cus-00000000000000aa", state, "test").routed is None  # a re-delivery: no new address
    ask = survey(closed(state, case_id), SURVEYED)
    assert ask is not None
    assert (ask.kind, ask.template, ask.case_id, ask.contact_id) == (OutboundKind.SURVEY, "case_survey", case_id, text.id)
    assert (ask.channel, ask.to) == (Channel.SMS, "+8613800138000")  # not the public post, not the first email


def test_a_call_is_surveyed_by_text_and_the_channels_are_configurable() -> None:
    state = CustomerState()
    case = closed(state, decided(state, contact("phone", "call-9", "坏了", phone="+8613800138000", language="zh")))
    ask = survey(case, SURVEYED)
    assert ask is not None and (ask.channel, ask.to, ask.language) == (Channel.SMS, "+8613800138000", "zh")
    assert survey(case, [Channel.EMAIL]) is None and survey(case, []) is None


def test_no_survey_without_a_private_address() -> None:
    state = CustomerState()
    public = closed(state, decided(state, contact("social", "p10", "where is my parcel", handle="weibo:x",
                                                  is_public=True)))
    nobody = closed(state, decided(state, contact("webform", "w10", "no way to reach me", 30)))
    assert survey(public, SURVEYED) is None and survey(nobody, SURVEYED) is None


def test_a_recall_reaches_the_customer_where_the_case_quoting_the_order_was_last_answerable() -> None:
    state = CustomerState()
    decided(state, contact("email", "<r1@example.cn>", "订单A20261122001的水壶漏水", email="li@example.cn",
                           order_numbers=["A20261122001"]))
    decided(state, contact("sms", "SM20", "会员续费怎么弄", 60 * 24 * 3, phone="+8613800138000"))  # a later, other case
    recall = Recall(campaign_id="RC-2026-014", order_number=" a20261122001 ", product="kettle K2")
    notice = recall_notice(state, recall)
    assert notice is not None
    assert (notice.kind, notice.template, notice.campaign_id, notice.product) == (
        OutboundKind.RECALL, "recall_notice", "RC-2026-014", "kettle K2")
    assert (notice.channel, notice.to) == (Channel.EMAIL, "li@example.cn")  # the case about the order, not the latest
    other = recall_notice(state, Recall(campaign_id="RC-2026-015", order_number="B999"))
    assert other is not None and (other.channel, other.to) == (Channel.SMS, "+8613800138000")  # then the latest


def test_no_recall_notice_without_a_private_address() -> None:
    state = CustomerState()
    decided(state, contact("social", "p11", "A20261122009 broke", handle="weibo:y", is_public=True,
                           order_numbers=["A20261122009"]))
    assert recall_notice(state, Recall(campaign_id="RC-1", order_number="A20261122009")) is None
    assert recall_notice(CustomerState(), Recall(campaign_id="RC-1", order_number="A20261122009")) is None
