"""The sink against the real broker and chdb: every record stored once, poison kept, outages ridden out."""
from __future__ import annotations

from collections import Counter

import pytest
from clickhouse_connect.driver.client import Client
from prometheus_client import REGISTRY

from schemas import (LIFECYCLE, ROUTED, UPSELL_OUTCOMES, Channel, KafkaSettings, Outbound, OutboundEvent, OutboundKind,
                     RoutedContactEvent)
from schemas.admin import ensure_topics
from schemas.topics import by_event_type
from sinks.settings import SinkSettings

from ..conftest import delete_topics_with_prefix
from .factory import generate
from .helpers import produce, running_sink, wait_until

pytestmark = pytest.mark.kafka
TABLE = {"contacts.routed.v1": "contacts", "lifecycle.v1": "lifecycle", "sla.v1": "sla_events",
         "escalations.v1": "escalations", "upsell.leads.v1": "upsell_leads", "upsell.outcomes.v1": "upsell_outcomes",
         "outbound.v1": "outbound", "alerts.v1": "alerts", "deadletter.v1": "dead_letters"}


def expected_rows(events: list) -> Counter:
    """One row per event, except contacts: one per contact however often it was routed."""
    specs = by_event_type()
    rows = Counter(TABLE[specs[e.type].name] for e in events if not isinstance(e, RoutedContactEvent))
    rows["contacts"] = len({e.data.contact_id for e in events if isinstance(e, RoutedContactEvent)})
    return rows


def table_counts(ch: Client, tables) -> Counter:
    return Counter({t: int(ch.query(f"SELECT count() FROM {t}").result_rows[0][0]) for t in tables})


def test_every_topic_lands_once_and_poison_becomes_dead_letters(kafka_settings: KafkaSettings, ch: Client,
                                                                sink_settings: SinkSettings) -> None:
    events = generate(cases=60).events
    routed = [e for e in events if isinstance(e, RoutedContactEvent)]
    assert len({e.id for e in routed}) < len(routed)  # the data set has re-emitted routed events
    notice = Outbound(kind=OutboundKind.RECALL, template="recall_notice", case_id=routed[0].data.case_id,
                      contact_id=routed[0].data.contact_id, channel=Channel.EMAIL, to="li.lei@example.com",
                      campaign_id="RC-2026-014", product="kettle K2")
    events.append(OutboundEvent(source="/tests/streams", subject=notice.case_id, data=notice))
    poison = [(ROUTED, b"{not json"), (LIFECYCLE, b'{"specversion": "1.0", "type": "intake.case.lifecycle.v1"}'),
              (UPSELL_OUTCOMES, b'{"source": "/crm", "data": {"lead_id": "l1", "result": "bought", '
                                b'"at": "2026-12-06T09:30:00Z"}}')]
    produce(kafka_settings, events, poison)
    want = expected_rows(events)
    want["dead_letters"] += len(poison)
    with running_sink(sink_settings, kafka_settings, ch) as loop:
        wait_until(lambda: table_counts(ch, want) == want, what=f"rows {want}")
        wait_until(lambda: sum(loop.committed.values()) == len(events) + len(poison), what="offsets committed")
    assert table_counts(ch, want) == want
    assert int(ch.query("SELECT count() FROM contact_text").result_rows[0][0]) == want["contacts"]
    causes = dict(ch.query("SELECT topic, cause FROM dead_letters WHERE stage LIKE 'sink:%'").result_rows)
    assert set(causes) == {kafka_settings.topic(t) for t in (ROUTED, LIFECYCLE, UPSELL_OUTCOMES)}
    assert "Invalid JSON" in causes[kafka_settings.topic(ROUTED)]
    assert "data" in causes[kafka_settings.topic(LIFECYCLE)]  # the missing field is named
    assert "data.result" in causes[kafka_settings.topic(UPSELL_OUTCOMES)]  # and the wrong one, with what it allows
    assert "'converted' or 'declined'" in causes[kafka_settings.topic(UPSELL_OUTCOMES)]
    phone, email = ch.query("SELECT phone, email FROM contacts LIMIT 1").result_rows[0]
    assert phone == "+86138****5678" and email == "l***@example.com"  # masked by the default policy
    recipients = dict(ch.query("SELECT channel, any(recipient) FROM outbound GROUP BY channel").result_rows)
    assert recipients == {"email": email, "sms": phone}  # acknowledgement addresses too
    assert ch.query("SELECT kind, campaign_id, recipient FROM outbound WHERE campaign_id != ''").result_rows == [
        ("recall", "RC-2026-014", email)]


def test_backend_outage_loses_and_doubles_nothing(kafka_settings: KafkaSettings, ch: Client,
                                                  sink_settings: SinkSettings) -> None:
    settings = sink_settings.model_copy(update={"fault": "insert_fail:5"})
    failures_before = REGISTRY.get_sample_value("intake_sink_errors_total", {"kind": "insert"}) or 0
    first, second = generate(cases=40, seed=1).events, generate(cases=40, seed=2).events
    produce(kafka_settings, first)
    want = expected_rows(first + second)
    with running_sink(settings, kafka_settings, ch) as loop:
        wait_until(lambda: not loop.backend_ok, what="the outage to start")
        produce(kafka_settings, second)  # more traffic arrives while ClickHouse is down
        wait_until(lambda: table_counts(ch, want) == want, what=f"rows {want}")
        wait_until(lambda: sum(loop.committed.values()) == len(first) + len(second), what="offsets committed")
        assert loop.backend_ok
    assert table_counts(ch, want) == want
    assert (REGISTRY.get_sample_value("intake_sink_errors_total", {"kind": "insert"}) or 0) - failures_before == 5


def test_topics_deleted_and_created_again_lose_nothing(kafka_settings: KafkaSettings, ch: Client,
                                                      sink_settings: SinkSettings) -> None:
    # a Kafka cluster rebuilt (or a topic re-created) under a ClickHouse that keeps its data: offsets
    # start at 0 again, and the old topics' plans and batch names must not make the new records look stored
    first, second = generate(cases=40, seed=3).events, generate(cases=40, seed=4).events
    produce(kafka_settings, first)
    with running_sink(sink_settings, kafka_settings, ch) as loop:
        want = expected_rows(first)
        wait_until(lambda: table_counts(ch, want) == want, what=f"rows {want}")
        wait_until(lambda: sum(loop.committed.values()) == len(first), what="offsets committed")

    delete_topics_with_prefix(kafka_settings.bootstrap_servers, kafka_settings.topic_prefix)
    wait_until(lambda: _created(kafka_settings), what="the topics to be created again")
    produce(kafka_settings, second)
    want = expected_rows(first + second)
    with running_sink(sink_settings, kafka_settings, ch) as loop:
        wait_until(lambda: sum(loop.committed.values()) == len(second), what="the new topics' offsets committed")
        wait_until(lambda: table_counts(ch, want) == want, timeout=20, what=f"rows {want}")
    assert table_counts(ch, want) == want


def _created(kafka: KafkaSettings) -> bool:
    try:  # deletion finishes in the background: creating too early fails with "marked for deletion"
        ensure_topics(kafka)
    except Exception:  # noqa: BLE001
        return False
    return True
