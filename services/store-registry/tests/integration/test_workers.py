"""`STORE_REGISTRY_WORKERS=2`: the real entry point with two server processes on one port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from kervan_testkit import wait_until

from .conftest import ADMIN, ADMIN_TOKEN

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def two_workers(
    pg_dsn: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    env = {
        **os.environ,
        "KERVAN_POSTGRES_DSN": pg_dsn,
        "KERVAN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "KERVAN_ADMIN_TOKEN": ADMIN_TOKEN,
        "STORE_REGISTRY_HTTP_PORT": str(port),
        "STORE_REGISTRY_WORKERS": "2",
        "STORE_REGISTRY_LOG_LEVEL": "WARNING",
        "STORE_REGISTRY_STORES_TOPIC": unique_name("stores"),
        "STORE_REGISTRY_API_STATUS_TOPIC": unique_name("api_status"),
        "STORE_REGISTRY_CONSUMER_GROUP": unique_name("store_registry"),
    }
    process = subprocess.Popen([sys.executable, "-m", "store_registry"], env=env, cwd=ROOT)
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def test_two_workers_share_the_port_and_stop_together_on_sigterm(
    two_workers: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, base = two_workers
    async with httpx.AsyncClient(base_url=base, headers=ADMIN) as client:

        async def ready() -> bool:
            assert process.poll() is None, "the supervisor exited"
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(ready, timeout=60, what="store-registry ready")
        workers = psutil.Process(process.pid).children()
        assert len(workers) == 2
        # Both run the whole service: a write through one is read through either, and the
        # relay of one of them publishes (checked by the other tests); here: no errors.
        created = await client.post("/v1/stores", json={"title": "W", "platform": "n11"})
        assert created.status_code == 201
        for _ in range(10):  # new connections: the kernel spreads them over both workers
            async with httpx.AsyncClient(base_url=base, headers=ADMIN) as fresh:
                got = await fresh.get(f"/v1/stores/{created.json()['id']}")
                assert got.status_code == 200
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - started < 30
    assert not any(worker.is_running() for worker in workers)
