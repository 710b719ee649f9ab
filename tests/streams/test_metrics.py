"""How the agents count: a batch's Tally reaches Prometheus when flushed, and the open-clocks
gauge reads the counts kept by before/after diffs (private registries, no worker)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from streams.metrics import Tally
from streams.sla.metrics import OpenClocks


def test_a_tally_adds_each_label_set_once_when_flushed() -> None:
    registry = CollectorRegistry()
    contacts = Counter("t_contacts_total", "t", ["dedup", "channel"], registry=registry)
    merges = Counter("t_merges_total", "t", registry=registry)
    tally = Tally()
    for _ in range(3):
        tally.inc(contacts, "new_case", "sms")
    tally.inc(contacts, "repeat", "email")
    tally.inc(merges)
    assert registry.get_sample_value("t_contacts_total", {"dedup": "new_case", "channel": "sms"}) is None

    tally.flush()
    assert registry.get_sample_value("t_contacts_total", {"dedup": "new_case", "channel": "sms"}) == 3
    assert registry.get_sample_value("t_contacts_total", {"dedup": "repeat", "channel": "email"}) == 1
    assert registry.get_sample_value("t_merges_total") == 1

    tally.inc(merges)
    tally.flush()
    tally.flush()  # nothing new: adds nothing
    assert registry.get_sample_value("t_merges_total") == 2


def test_open_clocks_gauge_follows_the_diffs_and_a_reset() -> None:
    registry = CollectorRegistry()
    gauge = OpenClocks(registry)
    running, breached = ("first_response", "q1", "running"), ("first_response", "q1", "breached")

    def value(key: tuple[str, str, str]) -> float | None:
        return registry.get_sample_value("intake_sla_open_clocks", dict(zip(("clock", "queue", "state"), key)))

    gauge.apply([], [running])
    gauge.apply([], [running])
    gauge.apply([running], [breached])  # one clock passed its deadline
    assert (value(running), value(breached)) == (1, 1)

    gauge.reset([breached, breached])  # after a rebalance: what the table now holds
    assert (value(running), value(breached)) == (0, 2), "a key no longer held reads 0, not its last value"
    assert b"# TYPE intake_sla_open_clocks gauge" in generate_latest(registry)
