"""Money on the wire: decimal strings, never floats."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from kervan_contracts.envelope import ContractModel

DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,8})?$"
_DECIMAL_RE = re.compile(DECIMAL_PATTERN)


_PARSED: dict[str, Decimal] = {}
"""Amount texts already parsed: every order carries several, and prices repeat."""
_PARSED_MAX = 4096


def _parse_decimal(value: object) -> Decimal:
    if type(value) is str:
        known = _PARSED.get(value)
        if known is not None:
            return known  # Decimals are immutable: one object serves every equal text
    # Floats are refused outright: 0.1 + 0.2 style artefacts must never reach a price.
    # pydantic only turns ValueError into a ValidationError, hence no TypeError here.
    if isinstance(value, bool | float):
        raise ValueError("amounts must be decimal strings or Decimal, never floats")  # noqa: TRY004
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("amounts must be finite")
        text = _plain(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError("amounts must be decimal strings")  # noqa: TRY004
    if not _DECIMAL_RE.fullmatch(text):
        raise ValueError(
            "amount must be a plain decimal string such as '129.90' "
            "(optional '-', up to 18 integer digits and 8 decimals, no exponent)"
        )
    try:
        parsed = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes this
        raise ValueError("amount is not a decimal number") from exc
    if text is value and len(_PARSED) < _PARSED_MAX:
        _PARSED[text] = parsed
    return parsed


def _plain(value: Decimal) -> str:
    """Fixed-point text of a Decimal, keeping its scale: `Decimal('1E+2')` -> '100'."""
    text = format(value, "f")
    return "0" if text in {"-0", "+0"} else text


DecimalAmount = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal),
    PlainSerializer(_plain, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DECIMAL_PATTERN,
            "description": "Decimal number as a string, e.g. '129.90'; never a JSON number.",
        }
    ),
]
"""A decimal quantity of money or a rate; a `Decimal` in Python, a string on the wire."""

CurrencyCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 alphabetic currency code, e.g. `TRY`."),
]
"""ISO 4217 currency code (n11's 'TL' must be mapped to 'TRY' by the adapter)."""


class Money(ContractModel):
    """An amount in one currency."""

    model_config = ConfigDict(title="Money")

    amount: DecimalAmount = Field(description="Amount as a decimal string, e.g. '129.90'.")
    currency: CurrencyCode = Field(description="ISO 4217 currency code, e.g. `TRY`.")

    @classmethod
    def of(cls, amount: str | Decimal | int, currency: str) -> Money:
        """Build a Money from a decimal string (or Decimal) and a currency code."""
        return cls.model_validate({"amount": amount, "currency": currency})


def _not_negative(value: Money) -> Money:
    if value.amount < 0:
        raise ValueError("amount must not be negative")
    return value


NonNegativeMoney = Annotated[Money, AfterValidator(_not_negative)]
"""A Money that cannot be negative (prices, totals, line amounts)."""
