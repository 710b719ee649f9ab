"""The token bucket itself, on a fake clock (the HTTP behaviour is in test_webform.py)."""
from __future__ import annotations

from connectors.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_the_sustained_rate_with_an_honest_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=0.5, burst=2, clock=clock)  # one token every 2 s
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == 2.0
    clock.now += 1.0
    assert buckets.take("a") == 1.0  # half a token refilled, a refused try spends nothing
    clock.now += 1.0
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0  # other clients are not affected
    assert TokenBuckets.retry_after(0.2) == "1" and TokenBuckets.retry_after(2.5) == "3"


def test_memory_is_bounded_and_a_forgotten_client_gets_a_fresh_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=0.001, burst=1, capacity=2, clock=clock)
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    buckets.take("b")
    buckets.take("c")  # "a" is the least recently seen: forgotten
    assert len(buckets) == 2
    assert buckets.take("a") == 0.0
