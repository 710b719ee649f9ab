"""SMTP endpoint (aiosmtpd) an MTA forwards inbound mail to.

Runs on the caller's event loop. ``250`` is answered only after Kafka acknowledged the
message (or its dead letter); if Kafka cannot, ``451`` tells the MTA to keep the message
queued and retry, so nothing accepted is ever lost. Retries carry the same Message-ID and
collapse to the same event id.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from ipaddress import ip_address

from aiosmtpd.smtp import SMTP, Envelope, Session

from ..metrics import REJECTED
from ..publisher import PublishUnavailable
from .deliver import MailIntake
from .settings import EmailSettings

log = logging.getLogger(__name__)


class IntakeHandler:
    """aiosmtpd handler: recipient policy and the DATA hand-off to :class:`MailIntake`."""

    def __init__(self, intake: MailIntake, settings: EmailSettings) -> None:
        self.intake = intake
        self.domains = {d.lower() for d in settings.smtp_domains}
        self.networks = settings.smtp_allowed_networks

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        peer = ip_address(session.peer[0]) if isinstance(session.peer, tuple) else None
        if self.networks and (peer is None or not any(peer in net for net in self.networks)):
            REJECTED.labels("email", "client").inc()
            return "550 5.7.1 client address not allowed to deliver here"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.domains and address.rpartition("@")[2].lower() not in self.domains:
            REJECTED.labels("email", "recipient").inc()
            return "550 5.1.1 recipient domain not accepted here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        headers = {"x-envelope-from": envelope.mail_from or "", "x-envelope-to": ", ".join(envelope.rcpt_tos),
                   "x-peer": str(session.peer[0]) if session.peer else ""}
        try:
            outcome, ident = await self.intake.ingest(data, "smtp", f"smtp://{server.hostname}", headers)
        except PublishUnavailable as exc:
            REJECTED.labels("email", "unavailable").inc()
            log.warning("SMTP message deferred, Kafka unavailable: %s", exc)
            return "451 4.3.0 event log unavailable, try again later"
        return f"250 2.0.0 {outcome} {ident}"


class SmtpEndpoint:
    """The listening server; ``port`` is the bound port (useful with port 0)."""

    def __init__(self, server: asyncio.AbstractServer) -> None:
        self._server = server
        self.port: int = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()


async def start_smtp(intake: MailIntake, settings: EmailSettings) -> SmtpEndpoint:
    """Listen on ``smtp_host:smtp_port`` in the running loop (STARTTLS offered when a certificate is set)."""
    handler = IntakeHandler(intake, settings)
    tls = None
    if settings.smtp_tls_certfile:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(settings.smtp_tls_certfile, settings.smtp_tls_keyfile)
    elif settings.smtp_require_tls:
        raise ValueError("smtp_require_tls needs smtp_tls_certfile and smtp_tls_keyfile")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=settings.max_message_bytes, enable_SMTPUTF8=True,
                     hostname=settings.smtp_hostname, ident="inquiry-intake", tls_context=tls,
                     require_starttls=settings.smtp_require_tls, loop=loop),
        host=settings.smtp_host, port=settings.smtp_port)
    return SmtpEndpoint(server)
