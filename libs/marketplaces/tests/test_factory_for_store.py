"""AdapterFactory.create_for_store: an adapter from a store's stored credentials alone."""

from __future__ import annotations

import pytest

from kervan_contracts.identifiers import Platform
from kervan_marketplaces import AdapterFactory


@pytest.mark.parametrize(
    ("credentials", "seller_id"),
    [
        ({"api_key": "k", "api_secret": "s", "seller_id": "123"}, "123"),
        ({"api_key": "k", "api_secret": "s", "merchant_id": "m-1"}, "m-1"),
        # the first field present in SELLER_ID_FIELDS' order wins, empty values are skipped
        (
            {
                "api_key": "k",
                "api_secret": "s",
                "seller_id": "",
                "app_key": "ak",
                "selling_partner_id": "A1",
            },
            "A1",
        ),
        ({"api_key": "k", "api_secret": "s"}, ""),
    ],
)
def test_seller_id_comes_from_the_first_naming_field(
    factory: AdapterFactory, credentials: dict[str, str], seller_id: str
) -> None:
    adapter = factory.create_for_store(
        Platform.TRENDYOL, store_id="st-1", credentials=credentials, test_mode=True
    )
    assert adapter.store.seller_id == seller_id  # type: ignore[attr-defined]
    assert adapter.store.store_id == "st-1"  # type: ignore[attr-defined]
    assert adapter.store.test_mode is True  # type: ignore[attr-defined]
    held = {k: v.get_secret_value() for k, v in adapter.store.credentials.items()}  # type: ignore[attr-defined]
    assert held == credentials
