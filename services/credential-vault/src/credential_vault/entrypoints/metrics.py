"""`kervan_credential_vault_store_api_status`: every live store's API status as a gauge.

One series per store and status (`valid`, `invalid`, `unknown`): 1 for the current status,
0 for the others, so `{status="invalid"} == 1` selects the broken stores and the series stay
continuous when a status changes. The values mirror the `api_status` table, not the events
this process happened to handle: every replica reloads the table at start-up and then every
`status_metrics_interval_seconds`, so all replicas agree (within that interval) and a restart
shows the same statuses as before it. A check run in this process shows at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from credential_vault.domain.model import StatusRecord
from kervan_contracts.credentials.v1 import ApiStatus

logger = logging.getLogger("credential_vault.metrics")


class ApiStatusGauge(Collector):
    """The latest status per store, swapped in whole so a scrape never sees half a reload."""

    def __init__(self, prefix: str) -> None:
        """`prefix`: the service's metric prefix (`kervan_credential_vault`)."""
        self.name = f"{prefix}_store_api_status"
        self._records: dict[str, StatusRecord] = {}

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            self.name,
            "Latest marketplace API status of each store: 1 for the current status, 0 for "
            "the others.",
            labels=["store_id", "platform", "status"],
        )

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """The family without samples (lets the registry detect a name clash)."""
        return [self._family()]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """Three samples per live store."""
        family = self._family()
        for store_id, record in sorted(self._records.items()):
            for status in ApiStatus:
                family.add_metric(
                    [store_id, record.platform.value, status.value],
                    1.0 if record.status is status else 0.0,
                )
        return [family]

    def replace(self, records: Iterable[StatusRecord]) -> None:
        """Mirror the table: stores missing from `records` (deleted) disappear.

        A check this process committed after the table was read is newer than the read row
        and is kept (compared by `checked_at`).
        """
        fresh = {record.store_id: record for record in records}
        for store_id, loaded in fresh.items():
            known = self._records.get(store_id)
            if known is not None and known.checked_at > loaded.checked_at:
                fresh[store_id] = known
        self._records = fresh

    def record(self, status: StatusRecord) -> None:
        """A status this process just committed."""
        self._records = {**self._records, status.store_id: status}


async def refresh_forever(
    gauge: ApiStatusGauge,
    load: Callable[[], Awaitable[list[StatusRecord]]],
    interval: float,
) -> None:
    """Reload the gauge from the table every `interval` seconds (survives failed rounds)."""
    while True:
        await asyncio.sleep(interval)
        try:
            gauge.replace(await load())
        except Exception as exc:  # a database blip must not end the loop
            logger.warning(
                "reloading the API status gauge failed", extra={"error_type": type(exc).__name__}
            )
