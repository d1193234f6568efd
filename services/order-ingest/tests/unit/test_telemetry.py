"""The polling metrics as Prometheus exposes them."""

from __future__ import annotations

from order_ingest.adapters.telemetry import PrometheusTelemetry
from prometheus_client import CollectorRegistry


def test_event_lags_observe_one_sample_per_order_never_below_zero() -> None:
    registry = CollectorRegistry()
    telemetry = PrometheusTelemetry(registry)

    telemetry.event_lags("s1", [0.5, 7.0, -2.0])
    telemetry.event_lags("s1", [4000.0])
    telemetry.event_lags("s2", [])

    def sample(name: str, store_id: str, **labels: str) -> float | None:
        return registry.get_sample_value(
            f"kervan_order_ingest_event_lag_seconds_{name}", {"store_id": store_id, **labels}
        )

    assert sample("count", "s1") == 4
    assert sample("sum", "s1") == 0.5 + 7.0 + 0.0 + 4000.0  # a clock step back counts as 0
    assert sample("bucket", "s1", le="1.0") == 2
    assert sample("bucket", "s1", le="10.0") == 3
    assert sample("bucket", "s1", le="+Inf") == 4
    assert sample("count", "s2") is None  # no sample, no series
