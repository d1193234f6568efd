"""`STORE_REGISTRY_WORKERS=2`: the real entry point with two server processes on one port."""

from __future__ import annotations

import asyncio
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
from kervan_testkit.events import read_topic

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
) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    port = _free_port()
    stores_topic = unique_name("stores")
    env = {
        **os.environ,
        "KERVAN_POSTGRES_DSN": pg_dsn,
        "KERVAN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "KERVAN_ADMIN_TOKEN": ADMIN_TOKEN,
        "STORE_REGISTRY_HTTP_PORT": str(port),
        "STORE_REGISTRY_WORKERS": "2",
        "STORE_REGISTRY_LOG_LEVEL": "WARNING",
        "STORE_REGISTRY_STORES_TOPIC": stores_topic,
        "STORE_REGISTRY_API_STATUS_TOPIC": unique_name("api_status"),
        "STORE_REGISTRY_CONSUMER_GROUP": unique_name("store_registry"),
    }
    process = subprocess.Popen([sys.executable, "-m", "store_registry"], env=env, cwd=ROOT)
    try:
        yield process, f"http://127.0.0.1:{port}", stores_topic
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _sockets_by_pid(port: int, status: str) -> dict[int, int]:
    """Sockets on local `port` in `status` (LISTEN, ESTABLISHED), counted per owning process."""
    counts: dict[int, int] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == status and getattr(conn.laddr, "port", None) == port and conn.pid:
            counts[conn.pid] = counts.get(conn.pid, 0) + 1
    return counts


async def test_two_workers_share_the_port_and_stop_together_on_sigterm(
    two_workers: tuple[subprocess.Popen[bytes], str, str], kafka_bootstrap: str
) -> None:
    process, base, stores_topic = two_workers
    port = int(base.rsplit(":", 1)[1])
    async with httpx.AsyncClient(base_url=base, headers=ADMIN) as client:

        async def ready() -> bool:
            assert process.poll() is None, "the supervisor exited"
            try:
                # The supervisor hands new connections to the workers in turn: two fresh
                # connections reach both.
                answers = [
                    await client.get("/readyz", headers={"Connection": "close"}) for _ in range(2)
                ]
            except httpx.TransportError:
                return False
            return all(answer.status_code == 200 for answer in answers)

        await wait_until(ready, timeout=60, what="both workers ready")
        children = psutil.Process(process.pid).children()
        assert len(children) == 2
        # Only the supervisor listens; the workers serve what it accepted.
        assert _sockets_by_pid(port, "LISTEN") == {process.pid: 1}
        created = await client.post("/v1/stores", json={"title": "W", "platform": "n11"})
        assert created.status_code == 201
        store_id = created.json()["id"]
        # 32 keep-alive connections opened at once, as a client pool does: handed over in
        # turn, they are split evenly (the kernel's SO_REUSEPORT hash gave splits like
        # 21/12; a shared listening socket let the first worker to wake take them all).
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=base, headers=ADMIN, limits=limits) as pool:
            answers = await asyncio.gather(*(pool.get(f"/v1/stores/{store_id}") for _ in range(32)))
            assert {answer.status_code for answer in answers} == {200}
            serving = _sockets_by_pid(port, psutil.CONN_ESTABLISHED)
            per_worker = [serving.get(child.pid, 0) for child in children]
            assert sum(per_worker) >= 32, serving  # (+ the first client's keep-alive one)
            assert max(per_worker) - min(per_worker) <= 1, serving

        async def published() -> bool:
            return any(r.key == store_id for r in await read_topic(kafka_bootstrap, stores_topic))

        # The relay of one worker (elected by its advisory lock) publishes the write.
        await wait_until(published, timeout=30, what="StoreCreated on the stores topic")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - started < 30
    assert not any(child.is_running() for child in children)
