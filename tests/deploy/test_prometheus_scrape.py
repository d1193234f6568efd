"""A real scrape: Debian's Prometheus on loopback scrapes marketplace-sim and loads our rules.

Scope: the simulator only (it needs no Kafka/PostgreSQL/Vault, so this stays fast and runs
without servers). The real scrape of the whole local system is tests/e2e/test_prometheus_scrape.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kervan_testkit import wait_until

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
DEADLINE_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _poll(check: Callable[[], Any], what: str, process: subprocess.Popen[bytes]) -> Any:
    """Call `check` until it returns something truthy, failing at the deadline or on exit."""
    found: list[Any] = []

    async def holds() -> bool:
        if process.poll() is not None:
            pytest.fail(f"{what}: process exited with {process.returncode}")
        try:
            result = check()
        except httpx.HTTPError:
            return False
        found[:] = [result]
        return bool(result)

    await wait_until(holds, timeout=DEADLINE_SECONDS, what=what)
    return found[0]


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
async def simulator() -> AsyncIterator[str]:
    """marketplace-sim with its demo data on a free loopback port; yields its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "marketplace_sim", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _poll(lambda: httpx.get(f"{url}/healthz").status_code == 200, "simulator", process)
        yield url
    finally:
        _stop(process)


async def test_prometheus_scrapes_the_simulator_and_loads_the_rules(
    simulator: str, find_tool: Callable[[str], str], tmp_path: Path
) -> None:
    # A request the simulator answers 403 (no credentials) is counted like any other.
    assert httpx.get(f"{simulator}/trendyol/integration/order/sellers/1/orders").status_code == 403
    port = _free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "marketplace-sim",
                "static_configs": [{"targets": [simulator.removeprefix("http://")]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [
            find_tool("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api/v1"

    def query(expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{api}/query", params={"query": expr})
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    try:
        up = await _poll(lambda: query('up{job="marketplace-sim"} == 1'), "target up", process)
        assert up[0]["metric"]["job"] == "marketplace-sim"
        series = await _poll(
            lambda: query(
                'kervan_marketplace_sim_requests_total{platform="trendyol",status="403"}'
            ),
            "simulator series",
            process,
        )
        assert float(series[0]["value"][1]) >= 1

        def evaluated_alerts() -> list[dict[str, Any]]:
            groups = httpx.get(f"{api}/rules").json()["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            alerts = [rule for rule in rules if rule["type"] == "alerting"]
            # "unknown" until the first evaluation; "err" would mean a broken expression.
            return alerts if all(rule["health"] == "ok" for rule in alerts) else []

        alerts = await _poll(evaluated_alerts, "rules evaluated", process)
        assert len(alerts) == 7
    finally:
        _stop(process)
