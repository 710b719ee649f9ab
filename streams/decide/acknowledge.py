"""Which new cases get an acknowledgement ("we have your request, case ...") and where it goes.

The pipeline only asks (an event on ``outbound.v1``); the desk's messaging system sends. Only a
new case is acknowledged: a repeat or a reply joins a case the customer already heard about. Never
an auto-reply or bounce (mail loops) nor a public post (a case number is not for a public thread).
"""
from __future__ import annotations

from collections.abc import Collection

from schemas.contact import Channel
from schemas.outbound import Outbound, OutboundKind
from schemas.routed import DedupVerdict, RoutedContact

TEMPLATE = "case_received"


def acknowledgement(routed: RoutedContact, channels: Collection[Channel]) -> Outbound | None:
    """The acknowledgement for ``routed`` if its channel is one of ``channels`` and the customer can be reached."""
    contact = routed.contact
    if routed.dedup is not DedupVerdict.NEW_CASE or contact.is_public or contact.channel not in channels:
        return None
    ids = contact.customer
    channel, to = {
        Channel.EMAIL: (Channel.EMAIL, ids.email),
        Channel.SMS: (Channel.SMS, ids.phone),
        Channel.SOCIAL: (Channel.SOCIAL, ids.handle),
        Channel.CHAT: (Channel.CHAT, ids.handle),
        Channel.PHONE: (Channel.SMS, ids.phone),  # after a call: a text with the case number
        Channel.WEBFORM: (Channel.EMAIL, ids.email) if ids.email else (Channel.SMS, ids.phone),
    }[contact.channel]
    if not to:
        return None
    email = channel is Channel.EMAIL and contact.channel is Channel.EMAIL
    return Outbound(kind=OutboundKind.ACKNOWLEDGEMENT, template=TEMPLATE, case_id=routed.case_id,
                    contact_id=routed.contact_id, channel=channel, to=to,
                    in_reply_to=contact.thread.message_id if email and contact.thread else None,
                    subject=contact.subject if email else None, language=contact.language)
