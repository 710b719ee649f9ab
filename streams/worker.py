"""Entry point of the stream worker: imports every agent module, then runs Faust."""
from __future__ import annotations

import sys

from confluent_kafka.admin import AdminClient, NewTopic

from schemas.admin import create_topics

from .app import app, kafka


def load_agents() -> None:
    """Each import registers its agents on ``app``."""
    from . import routing  # noqa: F401
    from .alerts import agents  # noqa: F401  (SLA clocks in streams.sla.agents, breach-spike alerts)
    from . import watchdog  # noqa: F401  (/healthz: stalled partitions)


def declare_internal_topics(timeout: float = 30.0) -> list[str]:
    """Create the agents' internal (repartition) topics before the worker subscribes.

    Faust declares them while it starts and subscribes at once; a topic the broker does not
    list yet is left out of the first assignment, and when it shows up at the next metadata
    refresh the whole group rebalances mid-stream. Created up front, the first assignment is
    complete. Table changelogs are left to Faust (it creates them, compacted, before it
    subscribes).
    """
    admin = AdminClient(kafka.confluent())
    return create_topics(admin, [NewTopic(name, num_partitions=agent.channel.partitions or app.conf.topic_partitions,
                                          replication_factor=app.conf.topic_replication_factor)
                                 for agent in app.agents.values() if getattr(agent.channel, "internal", False)
                                 for name in agent.channel.topics], timeout)


def main(argv: list[str] | None = None) -> None:
    load_agents()
    declare_internal_topics()
    sys.argv = ["intake-worker", *(argv if argv is not None else ["worker", "-l", "info"])]
    app.main()
