"""The backoff schedule: exponential, capped, jitter only ever adds."""

import pytest

from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.settings import RetrySettings


def test_minimum_delays_grow_exponentially_until_the_cap() -> None:
    policy = RetryPolicy(max_attempts=7, base_delay=0.5, max_delay=5.0, multiplier=2.0)
    assert [policy.minimum_delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_adds_between_zero_and_the_jitter_fraction() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0, jitter=0.5)
    assert policy.delay(2, rand=lambda: 0.0) == 2.0
    assert policy.delay(2, rand=lambda: 0.999) == pytest.approx(2.999)
    assert RetryPolicy(base_delay=1.0, jitter=0.0).delay(3, rand=lambda: 0.9) == 4.0


def test_random_delays_never_undercut_the_minimum() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay=0.1, max_delay=1.0, jitter=1.0)
    for attempt in range(1, 6):
        for _ in range(200):
            delay = policy.delay(attempt)
            minimum = policy.minimum_delay(attempt)
            assert minimum <= delay < 2 * minimum


def test_minimum_total_delay_sums_the_waits_between_attempts() -> None:
    # 4 attempts -> 3 waits: 0.2 + 0.4 + 0.8
    policy = RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=10.0)
    assert policy.minimum_total_delay() == pytest.approx(1.4)
    assert RetryPolicy(max_attempts=1).minimum_total_delay() == 0


def test_huge_attempt_numbers_stay_capped() -> None:
    assert RetryPolicy(base_delay=1.0, max_delay=30.0).minimum_delay(10_000) == 30.0


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_delay": -1.0}, {"jitter": -0.1}, {"multiplier": 0.5}],
)
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_built_from_settings() -> None:
    settings = RetrySettings(
        max_attempts=3, base_delay_seconds=0.25, max_delay_seconds=2, multiplier=3, jitter=0
    )
    policy = RetryPolicy.from_settings(settings)
    assert [policy.minimum_delay(n) for n in (1, 2, 3)] == [0.25, 0.75, 2.0]
    assert policy.max_attempts == 3
