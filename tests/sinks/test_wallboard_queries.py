"""Every wallboard figure from the aggregate tables equals a brute-force count over the raw rows."""
from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

import pytest
from clickhouse_connect.driver.client import Client

from schemas import (Channel, DedupVerdict, LifecycleAction, LifecycleEvent, RoutedContactEvent, UpsellLeadEvent,
                     UpsellOutcome, UpsellOutcomeEvent, UpsellResult)
from schemas.topics import by_event_type
from sinks.pii import Protector
from sinks.rows import BUILDERS
from sinks.settings import SinkSettings
from sinks.wallboard import audit, queries
from sinks.wallboard.kpis import Window
from sinks.writer import Writer

from .factory import generate


def write(ch: Client, settings: SinkSettings, events: list, batch: int = 40, partition: int = 0) -> None:
    """Through the sink's own row builders and writer, in several token-distinct batches (named as from
    ``partition``: a second call with the same events and partition is a replay, stored once)."""
    protect = Protector(settings.pii_policy, settings.pii_key.get_secret_value())
    writer = Writer(ch, settings.group_id)
    specs = by_event_type()
    for start in range(0, len(events), batch):
        tables: dict[str, list] = {}
        for event in events[start:start + batch]:
            for table, row in BUILDERS[specs[event.type]](event.encode(), protect):
                tables.setdefault(table, []).append(row)
        writer.write([(f"test/{partition}/{start}-{start + batch - 1}", tables)])


def same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


def assert_boards_equal(fast: dict, slow: dict) -> None:
    for section in ("by_queue", "by_channel"):
        assert set(fast[section]) == set(slow[section]), section
    pairs = [("total", fast["total"], slow["total"])]
    pairs += [(f"{s}:{k}", fast[s][k], slow[s][k]) for s in ("by_queue", "by_channel") for k in fast[s]]
    for where, f, s in pairs:
        for name in f:
            if name == "oldest_waiting_seconds":
                continue  # derived from 'now' at each call; oldest_waiting_since is compared exactly
            assert same(f[name], s[name]), f"{where}.{name}: board {f[name]!r} != brute force {s[name]!r}"


@pytest.fixture
def loaded(ch: Client, sink_settings: SinkSettings):
    now = datetime.now(timezone.utc)
    if now - Window.at(now).day_start < timedelta(seconds=10):  # the data, 5 s back, would all be yesterday's
        time.sleep(10)
        now = datetime.now(timezone.utc)
    data = generate(now=now - timedelta(seconds=5))
    write(ch, sink_settings, data.events)
    return data, Window.at(now)


def test_board_matches_brute_force_everywhere(ch: Client, loaded) -> None:
    data, window = loaded
    for queue, channel in [("", ""), ("general", ""), ("", "phone"), ("complaints", "email"), ("nope", "")]:
        assert_boards_equal(queries.board(ch, window, queue, channel), audit.board(ch, window, queue, channel))


def test_board_counts_match_the_generated_events(ch: Client, loaded) -> None:
    """Independent of both implementations: counted straight from the generated events."""
    data, window = loaded
    contacts = {e.data.contact_id: e.data for e in data.of(RoutedContactEvent)}  # duplicates collapse
    today = {k: c for k, c in contacts.items() if c.contact.received_at >= window.day_start
             and c.dedup is not DedupVerdict.NOT_A_CONTACT}
    board = queries.board(ch, window)
    total = board["total"]
    assert total["received"] == len(today)
    assert total["repeats"] == sum(c.dedup is DedupVerdict.REPEAT for c in today.values())
    assert total["complaints"] == sum(c.category == "complaint" for c in today.values())
    assert board["by_channel"]["phone"]["phone_received"] == sum(c.contact.channel is Channel.PHONE for c in today.values())
    assert total["upsell_leads"] == len({e.id for e in data.of(UpsellLeadEvent) if e.time >= window.day_start})
    for channel in {c.contact.channel for c in today.values()}:
        assert board["by_channel"][str(channel)]["received"] == sum(c.contact.channel is channel for c in today.values())
    assert total["received"] > 50 and total["in_queue"] > 0 and total["handled"] > 0 and total["surveys"] > 0
    latest: dict[str, tuple[datetime, int]] = {}  # NPS: each case's latest answer, answered today
    for e in data.of(LifecycleEvent):
        if e.data.nps is not None and (e.data.case_id not in latest or e.data.at > latest[e.data.case_id][0]):
            latest[e.data.case_id] = (e.data.at, e.data.nps)
    scores = [score for at, score in latest.values() if at >= window.day_start]
    assert total["nps_answers"] == len(scores) > 0
    assert total["nps"] == round(100.0 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores), 1)
    leads = {e.id: e.data for e in data.of(UpsellLeadEvent)}
    results: dict[str, UpsellOutcome] = {}  # conversion: each known lead's latest result, reported today
    for e in data.of(UpsellOutcomeEvent):
        if e.data.lead_id in leads and e.data.at >= window.day_start and (
                e.data.lead_id not in results or e.data.at > results[e.data.lead_id].at):
            results[e.data.lead_id] = e.data
    converted = [lead for lead, r in results.items() if r.result is UpsellResult.CONVERTED]
    assert total["upsell_decided"] == len(results) > len(converted) > 0
    assert total["upsell_converted"] == len(converted)
    assert total["upsell_conversion"] == round(100.0 * len(converted) / len(results), 1)
    for queue in {leads[lead].queue for lead in results}:
        assert board["by_queue"][queue]["upsell_converted"] == sum(leads[lead].queue == queue for lead in converted)
    closed: dict[str, datetime] = {}  # resolution rate: cases closed today, and of those the ones resolved
    resolved: set[str] = set()
    for e in data.of(LifecycleEvent):
        if e.data.action is LifecycleAction.CLOSED:
            closed[e.data.case_id] = max(e.data.at, closed.get(e.data.case_id, e.data.at))
        elif e.data.action is LifecycleAction.RESOLVED:
            resolved.add(e.data.case_id)
    today = [case for case, at in closed.items() if at >= window.day_start]
    assert total["closed"] == len(today) > total["closed_resolved"] == len(set(today) & resolved) > 0
    assert total["resolution_rate"] == round(100.0 * total["closed_resolved"] / total["closed"], 1)
    shifted: dict[int, list[datetime]] = {}  # forecast: the 7 days before today, each shifted onto today
    for c in contacts.values():
        ago = window.day_start - c.contact.received_at
        if c.dedup is not DedupVerdict.NOT_A_CONTACT and timedelta(0) < ago <= timedelta(days=7):
            back = math.ceil(ago / timedelta(days=1))
            shifted.setdefault(back, []).append(c.contact.received_at + timedelta(days=back))
    assert sorted(shifted) == [1, 2, 3, 4, 6] and total["history_days"] == 5  # days without contacts do not count
    assert total["forecast_day"] == round(sum(map(len, shifted.values())) / 5, 1)
    expected = round(sum(at < window.minute for day in shifted.values() for at in day) / 5, 1)
    assert total["forecast_to_now"] == expected
    assert total["volume_vs_forecast"] == (round(100 * (total["received"] - expected) / expected, 1) if expected else None)


def test_replayed_batch_is_stored_once(ch: Client, sink_settings: SinkSettings, count) -> None:
    events = generate(cases=30).events
    # the generator's upstream duplicates are random and its draws depend on the time of day (few
    # or none just after midnight UTC): re-emit one routed event explicitly
    events.append(next(e for e in events if isinstance(e, RoutedContactEvent)))
    write(ch, sink_settings, events)
    before = {t: count(f"SELECT count() FROM {t}") for t in ("contacts", "lifecycle", "sla_events", "cases", "contact_stats_1m")}
    write(ch, sink_settings, events)  # same batches, same tokens: a crash replay
    after = {t: count(f"SELECT count() FROM {t}") for t in before}
    assert after == before
    routed = [e for e in events if isinstance(e, RoutedContactEvent)]
    assert before["contacts"] == len({e.data.contact_id for e in routed}) < len(routed)  # re-emits stored once


def test_contact_routed_again_in_a_later_batch_is_stored_once(ch: Client, sink_settings: SinkSettings, count) -> None:
    protect = Protector(sink_settings.pii_policy, sink_settings.pii_key.get_secret_value())
    writer = Writer(ch, sink_settings.group_id)
    a, b = (generate(cases=3, seed=s).of(RoutedContactEvent) for s in (21, 22))

    def batch(events: list) -> dict:
        tables: dict[str, list] = {}
        for event in events:
            for table, row in BUILDERS[by_event_type()[event.type]](event.encode(), protect):
                tables.setdefault(table, []).append(row)
        return tables

    writer.write([("t/0/0-9", batch(a))])
    writer.write([("t/0/10-19", batch(b + a[:2]))])  # an agent re-emitted two of batch one's contacts
    writer.write([("t/0/10-19", batch(b + a[:2]))])  # and the sink crashed before committing: same batch again
    distinct = len({e.data.contact_id for e in a + b})
    assert count("SELECT count() FROM contacts") == distinct == count("SELECT uniqExact(event_id) FROM contacts")
    assert count("SELECT count() FROM contact_text") == distinct


def test_a_batch_replayed_in_another_block_is_verified_and_stored_once(ch: Client, sink_settings: SinkSettings,
                                                                      count) -> None:
    """Batches ready together share one block per table; after a restart a replayed batch may come
    with other batches (another block, another token): the tables that hold it drop its rows, those
    that missed it (a crash between two tables' inserts) get them, first sightings still apply."""
    protect = Protector(sink_settings.pii_policy, sink_settings.pii_key.get_secret_value())
    writer = Writer(ch, sink_settings.group_id)
    a, b, c = (generate(cases=3, seed=s).of(RoutedContactEvent) for s in (41, 42, 43))

    def batch(events: list, only: str | None = None) -> dict:
        tables: dict[str, list] = {}
        for event in events:
            for table, row in BUILDERS[by_event_type()[event.type]](event.encode(), protect):
                if only in (None, table):
                    tables.setdefault(table, []).append(row)
        return tables

    writer.write([("r/0/0-9", batch(a)), ("r/1/0-9", batch(b + a[:1]))])  # one block per table, a[0] routed twice
    writer.write([("r/2/0-9", batch(c + b[:1], only="contacts"))])  # crashed after contacts, before contact_text
    # the restart replays r/1 and r/2 from their plans, together with a fresh batch of new contacts
    d = generate(cases=2, seed=44).of(RoutedContactEvent)
    writer.write([("r/1/0-9", batch(b + a[:1])), ("r/2/0-9", batch(c + b[:1])), ("r/3/0-9", batch(d))],
                 verify={"r/1/0-9", "r/2/0-9"})
    distinct = len({e.data.contact_id for e in a + b + c + d})
    assert count("SELECT count() FROM contacts") == distinct == count("SELECT uniqExact(event_id) FROM contacts")
    assert count("SELECT count() FROM contact_text") == distinct
    first_seen_in_r2 = {e.data.contact_id for e in c} - {e.data.contact_id for e in a + b}
    assert count("SELECT count() FROM contact_text WHERE sink_batch = 'r/2/0-9'") == len(first_seen_in_r2) > 0


def test_first_sightings_with_ids_that_need_escaping(ch: Client, sink_settings: SinkSettings, count) -> None:
    """Contact ids outside the plain alphabet take the parameter-bound lookup: still stored once."""
    protect = Protector(sink_settings.pii_policy, sink_settings.pii_key.get_secret_value())
    writer = Writer(ch, sink_settings.group_id)
    events = generate(cases=2, seed=31).of(RoutedContactEvent)[:2]
    odd = ["it's {odd}\\id", "plain-id-1"]
    rows: dict[str, list] = {}
    for event, contact_id in zip(events, odd):
        event.data.contact_id = contact_id
        for table, row in BUILDERS[by_event_type()[event.type]](event.encode(), protect):
            rows.setdefault(table, []).append(row)
    writer.write([("odd/0/0-1", {t: [dict(r) for r in rs] for t, rs in rows.items()})])
    writer.write([("odd/0/2-3", {t: [dict(r) for r in rs] for t, rs in rows.items()})])  # routed again later
    assert count("SELECT count() FROM contacts WHERE event_id IN ('it''s {odd}\\\\id', 'plain-id-1')") == 2
    assert count("SELECT count() FROM contact_text WHERE event_id IN ('it''s {odd}\\\\id', 'plain-id-1')") == 2
