"""freeze_startup_heap: start-up objects leave the collector's reach; thresholds only when asked."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kervan_servicekit import freeze_startup_heap


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_freezes_what_exists_and_keeps_thresholds_by_default() -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    built_at_startup = [[n] for n in range(1_000)]
    freeze_startup_heap()
    assert gc.get_freeze_count() >= len(built_at_startup)
    assert gc.get_threshold() == before


def test_sets_the_given_thresholds() -> None:
    freeze_startup_heap((50_000, 10, 10))
    assert gc.get_threshold() == (50_000, 10, 10)
    assert gc.get_freeze_count() > 0
