"""Email channel: an SMTP endpoint an MTA forwards to, and an IMAP mailbox poller.

Both hand the raw RFC 5322 message to :class:`connectors.email.deliver.MailIntake`, which
parses it (:mod:`.mime`), publishes it durably, and answers only after Kafka acknowledged.
"""
