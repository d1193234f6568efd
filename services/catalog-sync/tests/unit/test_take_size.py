"""A round takes whole batches, so a large backlog never leaves part-filled requests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from catalog_sync.app.pusher import PushSettings, take_size

from kervan_marketplaces import Capabilities, capabilities_of


@dataclass
class _Adapter:
    capabilities: Capabilities


@pytest.mark.parametrize(
    ("platform", "take_limit", "expected"),
    [
        ("hepsiburada", 2000, 4000),  # one upload of 4,000, not two of 2,000
        ("hepsiburada", 4001, 8000),
        ("trendyol", 2000, 2000),
        ("trendyol", 1500, 2000),
        ("tsoft", 2000, 2000),
        ("amazon_tr", 2000, 2000),  # per-item platforms: groups of per_item_group (20)
        ("ideasoft", 30, 40),
    ],
)
def test_take_is_a_whole_number_of_the_largest_batches(
    platform: str, take_limit: int, expected: int
) -> None:
    adapter = _Adapter(capabilities_of(platform))
    settings = PushSettings(take_limit=take_limit, per_item_group=20)
    assert take_size(adapter, settings) == expected  # type: ignore[arg-type]
