"""Which new cases are acknowledged, and on which address."""
from __future__ import annotations

import pytest

from schemas.contact import Channel, ContactEvent, Thread
from schemas.outbound import OutboundKind
from schemas.routed import DedupVerdict, RoutedContact
from streams.decide.acknowledge import acknowledgement
from streams.settings import StreamSettings

from .builders import contact

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
