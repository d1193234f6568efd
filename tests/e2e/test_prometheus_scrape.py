"""A real scrape: Debian's Prometheus on loopback scrapes the running local system.

The system is the session's shared `system` fixture (conftest.py). A Prometheus of this module's
own gets a scrape config generated from the stack's free ports (1 s interval) plus the shipped
alert rules, and the tests ask its HTTP API what an operator's dashboard and alerts would see:
every service's target up, each service's key series under the right job with the demo stores'
label values, every dashboard query and every alert rule evaluating against real series.

Not scraped: reference-inventory (the demo's stand-in for the seller's ERP answers 404 on
/metrics) and kafka-exporter's broker-side lag (no exporter in the local stack; the services'
own `consumer_lag_messages` gauges are scraped and checked).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kervan_testkit import wait_until

# pytest-timeout counts fixture setup, and the first test here may start the shared system.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
SHIPPED_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "kervan-overview.json"

JOBS: dict[str, str] = {
    "store-registry": "KERVAN_STORE_REGISTRY_URL",
    "credential-vault": "KERVAN_CREDENTIAL_VAULT_URL",
    "order-ingest": "KERVAN_ORDER_INGEST_URL",
    "catalog-sync": "KERVAN_CATALOG_SYNC_URL",
    "marketplace-sim": "KERVAN_SIM_URL",
}
"""Scrape job (named as in deploy/prometheus/prometheus.yml) -> variable holding its base URL."""

KEY_SERIES: dict[str, tuple[str, ...]] = {
    "store-registry": (
        # RED of the admin API: the demo seed created its stores through it.
        'kervan_store_registry_http_requests_total{route="/v1/stores",status="201"}',
        "kervan_store_registry_http_request_duration_seconds_bucket",
        # The API status column is fed by kervan.api-status.v1.
        'kervan_store_registry_received_processed_messages_total{handler="kervan.api-status.v1",'
        'status="acked"} > 0',
        "kervan_store_registry_outbox_published_total > 0",
        "kervan_store_registry_outbox_lag_seconds",
        "kervan_store_registry_build_info",
        'kervan_store_registry_consumer_lag_messages{topic="kervan.api-status.v1"}',
    ),
    "credential-vault": (
        'kervan_credential_vault_checks_total{outcome="valid"}',
        # The demo's "Demo trendyol (wrong key)" store.
        'kervan_credential_vault_checks_total{platform="trendyol",outcome="auth_rejected"} > 0',
        'kervan_credential_vault_received_processed_messages_total{status="acked"} > 0',
        "kervan_credential_vault_outbox_published_total > 0",
        "kervan_credential_vault_outbox_lag_seconds",
        "kervan_credential_vault_build_info",
        # The wrong-key store again, as the per-store status gauge the alert reads.
        'kervan_credential_vault_store_api_status{platform="trendyol",status="invalid"} == 1',
        'kervan_credential_vault_store_api_status{status="valid"} == 1',
        'kervan_credential_vault_consumer_lag_messages{topic="kervan.stores.v1"}',
    ),
    "order-ingest": (
        'kervan_order_ingest_polls_total{outcome="ok"} > 0',
        "kervan_order_ingest_last_successful_poll_timestamp_seconds",
        "kervan_order_ingest_orders_ingested_total > 0",
        "kervan_order_ingest_poll_duration_seconds_bucket",
        "kervan_order_ingest_outbox_published_total > 0",
        "kervan_order_ingest_outbox_lag_seconds",
        "kervan_order_ingest_build_info",
        'kervan_order_ingest_consumer_lag_messages{topic="kervan.stores.v1"}',
        'kervan_order_ingest_consumer_lag_messages{topic="kervan.api-status.v1"}',
    ),
    "catalog-sync": (
        'kervan_catalog_sync_items_pushed_total{outcome="accepted"} > 0',
        "kervan_catalog_sync_push_latency_seconds_bucket",
        "kervan_catalog_sync_backlog",
        'kervan_catalog_sync_received_processed_messages_total{handler="kervan.catalog.v1",'
        'status="acked"} > 0',
        "kervan_catalog_sync_outbox_lag_seconds",
        "kervan_catalog_sync_build_info",
        'kervan_catalog_sync_consumer_lag_messages{topic="kervan.catalog.v1"}',
        'kervan_catalog_sync_consumer_lag_messages{topic="kervan.stock-movements.v1"}',
    ),
    "marketplace-sim": ('kervan_marketplace_sim_requests_total{status="200"} > 0',),
}
"""Per job: series (as PromQL) that must have at least one sample once the demo has run."""

MAY_BE_EMPTY = (
    "rate_limited",  # no 429 outlasts the adapters' retries in the demo
    "_exceptions_total",  # no handler raises in the demo
    "_consumer_retries_total",
    "dead_lettered",  # nothing is dead-lettered in the demo
    "kafka_consumergroup_lag",  # kafka-exporter: not part of the local stack
    "changes(",  # needs a push accepted while this Prometheus scrapes
)
"""Dashboard queries whose result may legitimately be empty in the demo (by a fragment)."""

DEADLINE = 120.0  # order-ingest's first poll of each store comes within one 30 s poll interval


@dataclass(frozen=True, slots=True)
class Prometheus:
    """A running Prometheus: its API base URL, process and log file."""

    api: str
    process: subprocess.Popen[bytes]
    log: Path

    def check_alive(self) -> None:
        """Fail with the log's tail if the server exited (rather than waiting for a deadline)."""
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            pytest.fail(f"prometheus exited with {self.process.returncode}: {tail}")

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` evaluates to now (a query error fails the test)."""
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.api}/query", params={"query": expr})
        body = response.json()
        assert body["status"] == "success", f"{expr}: {body.get('error')}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def get(self, path: str, **params: Any) -> Any:
        """`data` of a successful API response."""
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.api}/{path}", params=params)
        response.raise_for_status()
        return response.json()["data"]

    async def wait_for(self, expr: str, timeout: float = DEADLINE) -> list[dict[str, Any]]:
        """Poll `expr` until it returns at least one series."""
        found: list[dict[str, Any]] = []

        async def has_series() -> bool:
            self.check_alive()
            found[:] = await self.query(expr)
            return bool(found)

        await wait_until(has_series, timeout=timeout, what=f"a series for {expr}")
        return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _scrape_config(system: dict[str, str]) -> dict[str, Any]:
    """The shipped config's Kervan jobs, pointed at the running stack's ports."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": job,
                "static_configs": [{"targets": [system[url_env].removeprefix("http://")]}],
            }
            for job, url_env in JOBS.items()
        ],
    }


@pytest.fixture(scope="module")
async def prometheus(
    system: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Prometheus]:
    """Debian's Prometheus on a free loopback port, scraping the shared system every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: run scripts/ensure-tools.sh (Debian's prometheus)")
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(_scrape_config(system)))
    port = _free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(api=f"http://127.0.0.1:{port}/api/v1", process=process, log=log)
    try:

        async def ready() -> bool:
            server.check_alive()
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"http://127.0.0.1:{port}/-/ready")
            except httpx.TransportError:
                return False
            return response.status_code == 200

        await wait_until(ready, timeout=30, what="prometheus ready")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _store_statuses(system: dict[str, str]) -> dict[str, str | None]:
    """API status of every store, as store-registry shows it (None before the first event)."""
    async with httpx.AsyncClient() as client:
        response = await client.get(
            system["KERVAN_STORE_REGISTRY_URL"] + "/v1/stores",
            params={"limit": 100},
            headers={"Authorization": f"Bearer {system['KERVAN_ADMIN_TOKEN']}"},
        )
    response.raise_for_status()
    stores = response.json()["items"]
    return {s["id"]: (s["api_status"] or {}).get("status") for s in stores}


async def _valid_store_ids(system: dict[str, str]) -> set[str]:
    """Ids of the stores whose API status store-registry shows as valid."""
    return {sid for sid, status in (await _store_statuses(system)).items() if status == "valid"}


def _labels(result: list[dict[str, Any]], name: str) -> set[str]:
    return {series["metric"].get(name, "") for series in result}


def test_the_scraped_jobs_are_the_shipped_ones() -> None:
    """Job names are what the dashboard and the alerts group by: use the shipped ones."""
    shipped = yaml.safe_load(SHIPPED_CONFIG.read_text())["scrape_configs"]
    assert {job["job_name"] for job in shipped} == {*JOBS, "kafka-exporter"}


async def test_every_service_target_is_up(prometheus: Prometheus) -> None:
    async def all_up() -> bool:
        prometheus.check_alive()
        return _labels(await prometheus.query("up == 1"), "job") == set(JOBS)

    await wait_until(all_up, timeout=30, what=f"up == 1 for {sorted(JOBS)}")
    targets = (await prometheus.get("targets"))["activeTargets"]
    health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
    assert health == dict.fromkeys(JOBS, ("up", ""))


@pytest.mark.parametrize("job", sorted(JOBS))
async def test_each_service_exposes_its_key_series(prometheus: Prometheus, job: str) -> None:
    for expr in KEY_SERIES[job]:
        result = await prometheus.wait_for(expr)
        # Each series is scraped from the service that owns it, not relayed by another one.
        assert _labels(result, "job") == {job}, expr


async def test_every_valid_demo_store_has_poll_and_push_series(
    prometheus: Prometheus, system: dict[str, str]
) -> None:
    valid = await _valid_store_ids(system)
    assert len(valid) >= 6, "the demo seeds a valid store per platform"

    async def per_store(expr: str) -> set[str]:
        found: set[str] = set()

        async def covers_every_store() -> bool:
            prometheus.check_alive()
            found.clear()
            found.update(_labels(await prometheus.query(expr), "store_id"))
            return valid <= found

        try:
            await wait_until(covers_every_store, timeout=DEADLINE, what=expr)
        except AssertionError:
            pytest.fail(f"{expr}: no series for stores {sorted(valid - found)}")
        return found

    # Pulls: a recent successful poll of every valid store, and its orders counted.
    recent_poll = "time() - kervan_order_ingest_last_successful_poll_timestamp_seconds < 600"
    assert await per_store(recent_poll) == valid
    assert await per_store('kervan_order_ingest_polls_total{outcome="ok"} > 0') == valid
    assert await per_store("kervan_order_ingest_orders_ingested_total > 0") == valid
    # Pushes: catalog-sync's outcomes and backlog per store.
    assert await per_store("sum by (store_id) (kervan_catalog_sync_items_pushed_total)") == valid
    assert await per_store("kervan_catalog_sync_backlog") == valid


async def test_status_gauge_agrees_with_store_registry(
    prometheus: Prometheus, system: dict[str, str]
) -> None:
    """Every store's gauge shows the status store-registry lists; the wrong-key one is invalid.

    It is also the dashboard's store picker, so stores that are never polled (invalid ones)
    can still be picked.
    """
    statuses: dict[str, str | None] = {}
    shown: dict[str, str | None] = {}

    async def agrees() -> bool:
        prometheus.check_alive()
        result = await prometheus.query("kervan_credential_vault_store_api_status == 1")
        shown.clear()
        shown.update({s["metric"]["store_id"]: s["metric"]["status"] for s in result})
        statuses.clear()
        statuses.update(await _store_statuses(system))
        return shown == statuses

    try:
        await wait_until(agrees, timeout=DEADLINE, what="the status gauge")
    except AssertionError:
        pytest.fail(f"gauge {shown} != store-registry {statuses}")
    assert "invalid" in statuses.values(), "the demo seeds a store with a wrong key"
    picker = await prometheus.get(
        "label/store_id/values", **{"match[]": "kervan_credential_vault_store_api_status"}
    )
    assert set(picker) == set(statuses)


async def test_consumer_lag_is_exported_for_every_consumer(prometheus: Prometheus) -> None:
    """Each service reports its partitions' lag, and the demo's consumers keep up.

    The demo keeps producing, so a partition may be a record or two behind at one scrape;
    each must have been fully caught up (0) at some scrape of the last minute.
    """
    consumers = ("store-registry", "credential-vault", "order-ingest", "catalog-sync")
    lag = '{__name__=~"kervan_.+_consumer_lag_messages"}'
    result = await prometheus.wait_for(lag)

    async def caught_up() -> bool:
        prometheus.check_alive()
        result[:] = await prometheus.query(f"min_over_time({lag}[1m])")
        return _labels(result, "job") == set(consumers) and all(
            float(series["value"][1]) == 0 for series in result
        )

    try:
        await wait_until(caught_up, timeout=DEADLINE, what="consumer lag 0 for every service")
    except AssertionError:
        pytest.fail(f"lag series: {[(s['metric'], s['value'][1]) for s in result]}")
    assert all(series["metric"]["group"] for series in result)


def _dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression) of every dashboard query, Grafana variables filled in."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                expr = re.sub(r"\$__rate_interval\b", "1m", target["expr"])
                expr = re.sub(r"\$__range\b", "1h", expr)
                expr = re.sub(r"\$\{?store\}?", ".*", expr)
                queries.append((panel["title"], expr))

    walk(dashboard["panels"])
    return queries


async def test_every_dashboard_query_returns_real_series(prometheus: Prometheus) -> None:
    queries = _dashboard_queries()
    expected = [
        (title, expr) for title, expr in queries if not any(f in expr for f in MAY_BE_EMPTY)
    ]
    assert len(expected) >= 15, "most panels must be checked, not excused"
    empty: list[str] = []

    async def every_panel_has_data() -> bool:
        prometheus.check_alive()
        empty.clear()
        for title, expr in queries:
            result = await prometheus.query(expr)  # every query must evaluate without error
            if not result and (title, expr) in expected:
                empty.append(title)
        return not empty

    try:
        await wait_until(every_panel_has_data, timeout=DEADLINE, what="dashboard data")
    except AssertionError:
        pytest.fail(f"panels without data: {sorted(set(empty))}")


async def test_alert_rules_evaluate_against_real_series(prometheus: Prometheus) -> None:
    rules: list[dict[str, Any]] = []

    async def evaluated() -> bool:
        prometheus.check_alive()
        groups = (await prometheus.get("rules"))["groups"]
        rules[:] = [rule for group in groups for rule in group["rules"]]
        # A rule shows "unknown" until its first evaluation.
        return bool(rules) and all(rule["health"] != "unknown" for rule in rules)

    await wait_until(evaluated, timeout=30, what="every alert rule evaluated")
    # "err" would be a query that only fails on real data, e.g. a many-to-many match.
    assert {r["name"]: (r["health"], r.get("lastError", "")) for r in rules} == {
        r["name"]: ("ok", "") for r in rules
    }
    shipped = yaml.safe_load(RULES.read_text())["groups"]
    assert len(rules) == sum(len(group["rules"]) for group in shipped)


@pytest.mark.parametrize("job", sorted(JOBS))
def test_live_metrics_page_passes_promtool(system: dict[str, str], job: str) -> None:
    """The pages with real label values (tests/deploy lints pages without samples)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: run scripts/ensure-tools.sh (Debian's prometheus)")
    page = httpx.get(system[JOBS[job]] + "/metrics").text
    assert f"kervan_{job.replace('-', '_')}_" in page
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=page, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
