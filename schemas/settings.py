"""Kafka connection settings shared by every service (env prefix ``INTAKE_KAFKA_``)."""
from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .topics import TopicSpec


class KafkaSettings(BaseSettings):
    """Security options pass through to confluent-kafka and aiokafka/Faust alike."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_KAFKA_", env_file=".env", extra="ignore")

    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="comma-separated host:port list")
    topic_prefix: str = Field(default="intake", description="prefix of every topic name")
    security_protocol: str = Field(default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism: str | None = Field(default=None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    sasl_username: str | None = Field(default=None, description="SASL user (with SASL_PLAINTEXT / SASL_SSL)")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password; from the environment or a secret file, never logged")
    ssl_cafile: str | None = Field(default=None, description="CA bundle (PEM) to verify the brokers")
    ssl_certfile: str | None = Field(default=None, description="client certificate (PEM) for mutual TLS")
    ssl_keyfile: str | None = Field(default=None, description="client private key (PEM) for mutual TLS")

    def topic(self, spec: TopicSpec) -> str:
        return spec.full_name(self.topic_prefix)

    def confluent(self, **extra: object) -> dict[str, object]:
        """librdkafka configuration for confluent-kafka clients."""
        cfg: dict[str, object] = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            cfg["sasl.mechanism"] = self.sasl_mechanism
            cfg["sasl.username"] = self.sasl_username or ""
            cfg["sasl.password"] = self.sasl_password.get_secret_value() if self.sasl_password else ""
        for ours, theirs in (("ssl_cafile", "ssl.ca.location"), ("ssl_certfile", "ssl.certificate.location"),
                             ("ssl_keyfile", "ssl.key.location")):
            if getattr(self, ours):
                cfg[theirs] = getattr(self, ours)
        cfg.update(extra)
        return cfg

    def faust_broker(self) -> str:
        return ";".join(f"kafka://{h.strip()}" for h in self.bootstrap_servers.split(","))

    def faust_credentials(self) -> object | None:
        """Faust credentials object for SASL / SSL, or None for PLAINTEXT."""
        import ssl

        import faust

        context = None
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(cafile=self.ssl_cafile)
            if self.ssl_certfile:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        if self.sasl_mechanism:
            password = self.sasl_password.get_secret_value() if self.sasl_password else ""
            if self.sasl_mechanism.startswith("SCRAM"):
                from faust.auth import SASLCredentials
                return SASLCredentials(username=self.sasl_username, password=password,
                                       mechanism=self.sasl_mechanism, ssl_context=context)
            return faust.SASLCredentials(username=self.sasl_username, password=password, ssl_context=context)
        if context is not None:
            return faust.SSLCredentials(context)
        return None
