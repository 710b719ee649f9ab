"""Which cases get a message asked for (acknowledgement, satisfaction survey, recall notice) and where it goes.

The pipeline only asks (an event on ``outbound.v1``); the desk's messaging system sends.

* **Acknowledgement**: only a new case. A repeat or a reply joins a case the customer already
  heard about.
* **Survey**: when a case is closed (lifecycle ``closed``; closed again after a reopening, again),
  on the channel of the case's latest contact that could be answered privately
  (``Case.reply_to``, kept in the customer's state for this).
* **Recall notice**: when a recall names an order of a customer the desk knows, where that
  customer last wrote privately (the cases quoting the order first).

Never to an auto-reply or bounce (mail loops) nor on a public post (a case number is not for a
public thread).
"""
from __future__ import annotations

from collections.abc import Collection

from schemas.contact import Channel, Contact, ContactKind
from schemas.outbound import Outbound, OutboundKind
from schemas.recall import Recall
from schemas.routed import DedupVerdict, RoutedContact

from .cases import Case, CustomerState

ACKNOWLEDGEMENT_TEMPLATE = "case_received"
SURVEY_TEMPLATE = "case_survey"


# a contact's channel -> the channel that answers it and the identifier that addresses it there
_ANSWER_ON = {Channel.EMAIL: (Channel.EMAIL, "email"), Channel.SMS: (Channel.SMS, "phone"),
              Channel.SOCIAL: (Channel.SOCIAL, "handle"), Channel.CHAT: (Channel.CHAT, "handle"),
              Channel.PHONE: (Channel.SMS, "phone")}  # after a call: a text


def reply_address(contact: Contact) -> tuple[Channel, str] | None:
    """Where the customer of ``contact`` can be answered privately: (channel, address), or None."""
    if contact.is_public or contact.kind is not ContactKind.MESSAGE:
        return None
    ids = contact.customer
    if contact.channel is Channel.WEBFORM:  # by email, by SMS when the form gave only a phone
        channel, to = (Channel.EMAIL, ids.email) if ids.email else (Channel.SMS, ids.phone)
    else:
        channel, field = _ANSWER_ON[contact.channel]
        to = getattr(ids, field)
    return (channel, to) if to else None


def acknowledgement(routed: RoutedContact, channels: Collection[Channel]) -> Outbound | None:
    """The acknowledgement for ``routed`` if its channel is one of ``channels`` and the customer can be reached."""
    contact = routed.contact
    if routed.dedup is not DedupVerdict.NEW_CASE or contact.channel not in channels:
        return None
    address = reply_address(contact)
    if address is None:
        return None
    channel, to = address
    email = channel is Channel.EMAIL and contact.channel is Channel.EMAIL
    return Outbound(kind=OutboundKind.ACKNOWLEDGEMENT, template=ACKNOWLEDGEMENT_TEMPLATE, case_id=routed.case_id,
                    contact_id=routed.contact_id, channel=channel, to=to,
                    in_reply_to=contact.thread.message_id if email and contact.thread else None,
                    subject=contact.subject if email else None, language=contact.language)


def survey(case: Case, channels: Collection[Channel]) -> Outbound | None:
    """The survey for a case just closed, if its latest private contact came in on one of ``channels``."""
    if case.reply_to is None or Channel(case.reply_to[0]) not in channels:
        return None
    return _reply(case, OutboundKind.SURVEY, SURVEY_TEMPLATE)


def recall_notice(state: CustomerState, recall: Recall) -> Outbound | None:
    """The notice for the customer whose state this is (the root an order's key leads to), or None
    when none of their cases has a private address. Cases quoting the order come first, then the latest."""
    order = recall.order_number.strip().lower()
    reachable = [case for case in state.cases.values() if case.reply_to is not None]
    if not reachable:
        return None
    case = max(reachable, key=lambda c: (order in (r.lower() for r in c.refs), c.last_at))
    return _reply(case, OutboundKind.RECALL, recall.template, campaign_id=recall.campaign_id, product=recall.product)


def _reply(case: Case, kind: OutboundKind, template: str, **fields: str | None) -> Outbound:
    """``kind`` addressed where ``case`` was last answerable privately (its ``reply_to``, set)."""
    _, channel, to, contact_id, language = case.reply_to  # type: ignore[misc]
    return Outbound(kind=kind, template=template, case_id=case.id, contact_id=contact_id, channel=Channel(channel),
                    to=to, language=language or None, **fields)
