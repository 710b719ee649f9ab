"""Email channel settings (env prefix ``INTAKE_EMAIL_``). Passwords come from env or files only."""
from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EmailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_EMAIL_", env_file=".env", extra="ignore")

    # parsing
    max_message_bytes: int = Field(default=25 * 1024 * 1024, description="larger messages are refused (SMTP 552) or dead-lettered (IMAP)")
    max_attachments: int = Field(default=50, le=100, description="attachment metadata entries kept per message; the rest are counted in attributes")
    max_body_chars: int = Field(default=100_000, le=100_000, description="body text is truncated beyond this (the raw message keeps everything)")
    # SMTP endpoint
    smtp_enabled: bool = Field(default=True, description="run the SMTP endpoint")
    smtp_host: str = Field(default="127.0.0.1", description="address the SMTP endpoint binds")
    smtp_port: int = Field(default=2525, description="port the SMTP endpoint binds (0 = any free port)")
    smtp_hostname: str = Field(default="intake.local", description="name announced in the SMTP greeting")
    smtp_allowed_networks: list[IPv4Network | IPv6Network] = Field(default_factory=list, description="client networks allowed to deliver (CIDRs, JSON list), i.e. your MTAs; empty allows any, so then bind to loopback or a private interface")
    smtp_tls_certfile: str | None = Field(default=None, description="PEM certificate: offer STARTTLS when set (with smtp_tls_keyfile)")
    smtp_tls_keyfile: str | None = Field(default=None, description="PEM private key for smtp_tls_certfile")
    smtp_require_tls: bool = Field(default=False, description="refuse mail until the client has run STARTTLS")
    smtp_domains: list[str] = Field(default_factory=list, description="recipient domains accepted (RCPT TO); empty accepts any")
    # IMAP poller
    imap_host: str | None = Field(default=None, description="IMAP server; the poller runs only when set")
    imap_port: int = Field(default=993, description="IMAP port (993 implicit TLS, 143 plain/STARTTLS)")
    imap_security: str = Field(default="ssl", pattern="^(ssl|starttls|plain)$", description="ssl, starttls or plain (tests only)")
    imap_user: str | None = Field(default=None, description="IMAP login of the polled mailbox")
    imap_password: SecretStr | None = Field(default=None, description="IMAP password; from the environment only, never logged")
    imap_folder: str = Field(default="INBOX", description="mailbox folder to poll")
    imap_processed_keyword: str = Field(default="$IntakeProcessed", description="IMAP keyword set on a message once Kafka acknowledged it")
    imap_processed_folder: str | None = Field(default=None, description="move processed messages here (after the keyword is set); keep in place when unset")
    imap_poll_seconds: float = Field(default=30.0, gt=0, description="pause between polls")
    imap_batch: int = Field(default=100, gt=0, description="messages fetched per poll at most")
    imap_timeout: float = Field(default=30.0, gt=0, description="socket timeout for the IMAP connection")
