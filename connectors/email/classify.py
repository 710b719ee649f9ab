"""Auto-replies and bounces: recorded as contacts of their own kind so they never open a case.

Signals, strongest first: a delivery-status report (RFC 3464) is a bounce; RFC 3834
``Auto-Submitted`` other than ``no``, the de-facto ``X-Autoreply`` / ``X-Autorespond``
headers, ``Precedence: auto_reply|bulk|junk`` and read receipts (RFC 8098 MDNs) are
auto-replies. Mailer-daemon senders and the usual out-of-office subjects (English and
Chinese) catch the mailers that set none of those headers.
"""
from __future__ import annotations

import re
from email.message import EmailMessage

from schemas import ContactKind

_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon)@", re.I)
_BOUNCE_SUBJECT = re.compile(r"(undeliver|delivery (status )?(notification|failure)|returned mail|failure notice|"
                             r"mail delivery failed|退信|投递失败|无法投递|系统退信)", re.I)
_AUTO_SUBJECT = re.compile(r"^\s*(auto(matic)?[ -]?reply|auto:|out of (the )?office|自动回复|自动答复|休假)", re.I)


def classify(msg: EmailMessage, sender: str | None, subject: str) -> tuple[ContactKind, str | None]:
    """(kind, reason): the reason names the signal, for audit and for tuning false positives."""
    ctype = msg.get_content_type()
    report = (msg.get_param("report-type") or "").lower() if ctype == "multipart/report" else ""
    if report == "delivery-status" or any(p.get_content_type() == "message/delivery-status" for p in msg.walk()):
        return ContactKind.BOUNCE, "multipart/report delivery-status"
    if sender and _DAEMON.match(sender) and _BOUNCE_SUBJECT.search(subject):
        return ContactKind.BOUNCE, f"mailer daemon sender {sender}"
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return ContactKind.AUTO_REPLY, f"Auto-Submitted: {auto}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if msg.get(header) is not None:
            return ContactKind.AUTO_REPLY, f"{header} present"
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in ("auto_reply", "bulk", "junk"):
        return ContactKind.AUTO_REPLY, f"Precedence: {precedence}"
    if report == "disposition-notification":
        return ContactKind.AUTO_REPLY, "multipart/report disposition-notification (read receipt)"
    if _AUTO_SUBJECT.search(subject):
        return ContactKind.AUTO_REPLY, "auto-reply subject"
    return ContactKind.MESSAGE, None
