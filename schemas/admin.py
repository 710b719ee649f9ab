"""Creates the catalog's topics on a cluster; idempotent, so every service may call it at start."""
from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from .settings import KafkaSettings
from .topics import CATALOG, TopicSpec


def ensure_topics(settings: KafkaSettings, specs: tuple[TopicSpec, ...] = CATALOG,
                  replication_factor: int = 1, timeout: float = 30.0) -> list[str]:
    """Create missing topics; returns the names created. Existing topics are left as they are."""
    admin = AdminClient(settings.confluent())
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [NewTopic(settings.topic(s), num_partitions=s.partitions, replication_factor=replication_factor,
                       config=s.config()) for s in specs if settings.topic(s) not in existing]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result()
            created.append(name)
        except Exception as exc:  # a concurrent creator won the race: fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return created
