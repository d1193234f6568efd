"""Every service's real /metrics page passes `promtool check metrics`."""

from __future__ import annotations

from collections.abc import Callable
from subprocess import CompletedProcess

import pytest

SERVICES = ("store-registry", "credential-vault", "order-ingest", "catalog-sync", "marketplace-sim")

Runner = Callable[..., CompletedProcess[str]]


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_page_passes_promtool_lint(
    service: str, metrics_pages: dict[str, str], promtool: str, sh: Runner
) -> None:
    page = metrics_pages[service]
    proc = sh(promtool, "check", "metrics", stdin=page)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The lint is only meaningful on a page that has the service's own families.
    prefix = "kervan_" + service.replace("-", "_") + "_"
    assert f"# TYPE {prefix}" in page


def test_promtool_lint_rejects_a_bad_page(promtool: str, sh: Runner) -> None:
    """The gate above can fail: promtool flags a non-base unit and a counter without _total."""
    bad = (
        "# HELP kervan_bad_latency_milliseconds x\n# TYPE kervan_bad_latency_milliseconds gauge\n"
        "kervan_bad_latency_milliseconds 1\n"
    )
    assert sh(promtool, "check", "metrics", stdin=bad).returncode != 0


def test_promql_scanner_finds_names_and_regexes(
    metric_refs_missing: Callable[[str, frozenset[str]], list[str]],
) -> None:
    exposed = frozenset({"kervan_a_total", "kervan_x_outbox_lag_seconds"})
    expr = (
        'sum by (job) (rate(kervan_a_total{store_id=~"$store"}[$__rate_interval])) '
        '/ on (job) max({__name__=~"kervan_.+_outbox_lag_seconds"}) + kervan_missing '
        '+ count({__name__=~"kervan_.+_nope"})'
    )
    assert metric_refs_missing(expr, exposed) == ["kervan_missing", "__name__=~kervan_.+_nope"]
