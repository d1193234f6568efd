"""Platform amounts become the contract's decimal text (at most 8 decimals, never negative)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kervan_marketplaces.base import amount_text, money


@pytest.mark.parametrize(
    ("given", "text"),
    [
        ("129.90", "129.90"),  # the scale of a non-whole amount is kept
        ("100.00", "100"),  # a whole amount loses its zeros
        ("1E+2", "100"),
        ("0.000", "0"),
        ("-0.00", "0"),
        ("-5", "0"),  # never negative
        ("1.123456785", "1.12345678"),  # 8 decimals, banker's rounding
        ("1.123456775", "1.12345678"),
        ("1.000000001", "1"),
        ("99999.999999999", "100000"),
        ("0.00000001", "0.00000001"),
        ("5E-10", "0"),
        ("123456789012345678", "123456789012345678"),
    ],
)
def test_amount_text(given: str, text: str) -> None:
    assert amount_text(Decimal(given)) == text
    assert money(Decimal(given), "TRY").amount == Decimal(text)


def test_amount_text_of_equal_amounts_keeps_each_scale() -> None:
    """Texts are remembered by the Decimal's own text: 129.9 and 129.90 are equal Decimals
    with the same hash, but each keeps its scale, in either order and repeatedly."""
    for _ in range(2):
        assert amount_text(Decimal("129.90")) == "129.90"
        assert amount_text(Decimal("129.9")) == "129.9"
        assert amount_text(Decimal("129.900")) == "129.900"
        assert amount_text(Decimal("1E+2")) == "100"
        assert amount_text(Decimal("100")) == "100"
