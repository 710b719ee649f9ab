"""The email channel as one service: SMTP endpoint and/or IMAP poller over one Publisher.

``EmailService.start()`` / ``stop()`` run inside any event loop (the gateway's, or
:func:`serve` for a stand-alone ``intake email`` process).
"""
from __future__ import annotations

import asyncio
import logging
import signal

from schemas.settings import KafkaSettings

from ..accept import RecentDeliveries
from ..publisher import Publisher
from .deliver import MailIntake
from .imap import ImapPoller
from .settings import EmailSettings
from .smtp import SmtpEndpoint, start_smtp

log = logging.getLogger(__name__)


class EmailService:
    def __init__(self, publisher: Publisher, settings: EmailSettings | None = None,
                 recent: RecentDeliveries | None = None) -> None:
        """Pass the gateway's ``recent_in(app)`` as ``recent`` when running inside the gateway."""
        self.settings = settings or EmailSettings()
        self.intake = MailIntake(publisher, self.settings, recent)
        self.smtp: SmtpEndpoint | None = None
        self.imap: ImapPoller | None = None

    async def start(self) -> None:
        if self.settings.smtp_enabled:
            self.smtp = await start_smtp(self.intake, self.settings)
            log.info("SMTP intake listening on %s:%d", self.settings.smtp_host, self.smtp.port)
        if self.settings.imap_host:
            self.imap = ImapPoller(self.intake, self.settings)
            self.imap.start()
            log.info("IMAP poller on %s/%s every %.0fs", self.settings.imap_host, self.settings.imap_folder,
                     self.settings.imap_poll_seconds)

    async def stop(self) -> None:
        """Stop taking mail, then let the message in hand finish (it is acked or left unmarked)."""
        if self.smtp is not None:
            await self.smtp.stop()
        if self.imap is not None:
            await self.imap.stop()


async def run(settings: EmailSettings | None = None, kafka: KafkaSettings | None = None) -> None:
    """Run until SIGINT/SIGTERM."""
    publisher = Publisher(kafka or KafkaSettings())
    service = EmailService(publisher, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    try:
        await stop.wait()
    finally:
        await service.stop()
        publisher.close()


def serve(settings: EmailSettings | None = None, kafka: KafkaSettings | None = None) -> None:
    """Blocking entry point for an ``intake email`` subcommand."""
    asyncio.run(run(settings, kafka))
