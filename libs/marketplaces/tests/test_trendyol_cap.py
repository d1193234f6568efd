"""Trendyol's record cap per filter (10,000 announced), on a mock gateway.

The simulator's cap is a fixed 10,000 and normalising 10,000 orders takes seconds, so the
gateway here answers by arithmetic and the adapter is built with the cap at 1,000: the same
halving, a tenth of the work.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from kervan_marketplaces import AdapterFactory

from .conftest import SIM, make_settings

CAP = 1_000  # the documented cap is 10,000; scaled down tenfold
RECORDS = 1_050
SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=14)
SINCE_MS = int(SINCE.timestamp() * 1000)
STEP_MS = int((UNTIL - SINCE).total_seconds() * 1000) // RECORDS


class Gateway:
    """getShipmentPackages over RECORDS packages modified evenly across two weeks."""

    def __init__(self, *, capped_count: bool) -> None:
        self.capped_count = capped_count
        self.calls: list[tuple[int, int, int]] = []
        self.refused = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params
        start, end = int(query["startDate"]), int(query["endDate"])
        page, size = int(query["page"]), int(query["size"])
        self.calls.append((start, end, page))
        if (page + 1) * size > CAP:
            self.refused += 1
            body = {"errors": [{"key": "too.many.requests", "message": "record limit"}]}
            return httpx.Response(429, json=body)
        # Records in [start, end): index i is modified at SINCE + i * STEP.
        first = max(0, math.ceil((start - SINCE_MS) / STEP_MS))
        last = min(RECORDS, math.ceil((end - SINCE_MS) / STEP_MS))
        total = max(0, last - first)
        shown = min(total, CAP) if self.capped_count else total
        lo = first + page * size
        content = [_package(i) for i in range(lo, min(last, lo + size))]
        return httpx.Response(
            200,
            content=json.dumps(
                {
                    "page": page,
                    "size": size,
                    "totalElements": shown,
                    "totalPages": math.ceil(shown / size),
                    "content": content,
                }
            ),
            headers={"content-type": "application/json"},
        )


def _package(index: int) -> dict[str, object]:
    modified = SINCE_MS + index * STEP_MS
    return {
        "id": 30_000_000 + index,
        "orderNumber": f"TY{index:08d}",
        "shipmentPackageStatus": "Created",
        "orderDate": modified + 3 * 3_600_000,
        "lastModifiedDate": modified,
        "currencyCode": "TRY",
        "totalPrice": 10,
        "lines": [{"id": index, "quantity": 1, "price": 10, "merchantSku": "S", "barcode": "B"}],
    }


@pytest.mark.parametrize("capped_count", [False, True], ids=["true-count", "capped-count"])
async def test_window_over_the_cap_is_halved_until_every_record_is_read(
    capped_count: bool,
) -> None:
    gateway = Gateway(capped_count=capped_count)
    async with httpx.AsyncClient(transport=httpx.MockTransport(gateway), base_url=SIM) as client:
        # The cap, not the pacing, is under test.
        factory = AdapterFactory(make_settings(rate_limit_scale=100.0), client=client)
        creds = {"api_key": "k", "api_secret": "s"}
        adapter = factory.create(
            "trendyol", store_id="cap", seller_id="1", credentials=creds, record_cap=CAP
        )
        adapter.clock = lambda: UNTIL + timedelta(hours=1)  # type: ignore[attr-defined]
        numbers = [o.order_number async for o in adapter.list_orders(SINCE, UNTIL)]

    assert len(numbers) == len(set(numbers)) == RECORDS  # every record, none twice
    assert gateway.refused == 0  # never asked past the cap
    windows = sorted({(start, end) for start, end, _ in gateway.calls})
    wide = (SINCE_MS, int(UNTIL.timestamp() * 1000))
    assert wide in windows  # looked once at the whole fortnight...
    halves = [w for w in windows if w != wide]
    assert len(halves) == 2  # ...then read it as two weeks of 525 each
    assert halves[0][1] == halves[1][0]  # contiguous, no gap
    pages_per_half = math.ceil(RECORDS / 2 / 200)
    assert len(gateway.calls) == 1 + 2 * pages_per_half
