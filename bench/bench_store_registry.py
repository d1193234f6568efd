"""store-registry under load: 32 concurrent clients against the real service on loopback.

Measures p50/p99 of GET /v1/stores (list), GET /v1/stores/{id} and PUT .../settings/orders,
and the time from sending a write to reading its event from Kafka. Baselines measured in the
same run: GET /healthz over the same HTTP client (server + client overhead with no work) and
the store lookup as a bare asyncpg query at the same concurrency (the database share).

Servers: endpoints from KERVAN_KAFKA_BOOTSTRAP / KERVAN_POSTGRES_DSN when set, otherwise
Kafka and PostgreSQL started by kervan_devstack (state dir under the system temp dir, stopped
at the end). The service runs as `python -m store_registry` in its own process.

Usage: `uv run python bench/bench_store_registry.py [--requests 2000] [--concurrency 32]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

TOKEN = "bench-admin-" + secrets.token_hex(8)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[1]
SHUTDOWN: list[tuple[float, int]] = []
"""(seconds to exit after SIGTERM, exit code)."""


def percentile(samples: list[float], q: float) -> float:
    """q-th percentile (0..100) by nearest rank, in milliseconds."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index] * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def infrastructure() -> Iterator[tuple[str, str]]:
    """(kafka bootstrap, superuser postgres DSN)."""
    kafka, dsn = os.environ.get("KERVAN_KAFKA_BOOTSTRAP"), os.environ.get("KERVAN_POSTGRES_DSN")
    if kafka and dsn:
        yield kafka, dsn
        return
    from kervan_devstack import Devstack  # noqa: PLC0415  (only when no endpoints are given)

    state_dir = Path(tempfile.mkdtemp(prefix="kervan-bench-"))
    state_dir.chmod(0o755)  # PostgreSQL runs as its own user and must reach the data dir
    stack = Devstack(state_dir, ports="auto")
    endpoints = stack.up(["kafka", "postgres"])
    try:
        yield endpoints.kafka_bootstrap, endpoints.postgres_dsn
    finally:
        stack.down(["kafka", "postgres"])


@contextlib.asynccontextmanager
async def bench_database(admin_dsn: str) -> AsyncIterator[str]:
    name = f"bench_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield urlsplit(admin_dsn)._replace(path=f"/{name}").geturl()
    finally:
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@contextlib.asynccontextmanager
async def service(kafka: str, dsn: str, topic: str) -> AsyncIterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "KERVAN_KAFKA_BOOTSTRAP": kafka,
        "KERVAN_POSTGRES_DSN": dsn,
        "KERVAN_ADMIN_TOKEN": TOKEN,
        "STORE_REGISTRY_HTTP_PORT": str(port),
        "STORE_REGISTRY_LOG_LEVEL": "WARNING",
        "STORE_REGISTRY_STORES_TOPIC": topic,
        "STORE_REGISTRY_API_STATUS_TOPIC": f"{topic}.api-status",
        "STORE_REGISTRY_CONSUMER_GROUP": f"{topic}.group",
    }
    process = subprocess.Popen(  # noqa: ASYNC220  (started once, stopped below)
        [sys.executable, "-m", "store_registry"], env=env, cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("store-registry did not become ready")
                await asyncio.sleep(0.2)
        yield base
    finally:
        stopping = time.perf_counter()
        process.terminate()  # SIGTERM: graceful shutdown (readiness off, relay, consumer, pool)
        try:
            process.wait(timeout=30)
            SHUTDOWN.append((time.perf_counter() - stopping, process.returncode))
        except subprocess.TimeoutExpired:
            process.kill()


async def load(
    concurrency: int, total: int, call: Callable[[int, int], Awaitable[None]]
) -> list[float]:
    """`total` calls spread over `concurrency` workers; returns each call's latency (s)."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker(worker_id: int) -> None:
        for n in counter:
            started = time.perf_counter()
            await call(worker_id, n)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies


def report(name: str, samples: list[float], baseline: list[float] | None = None) -> str:
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    line = f"{name:<34} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   n={len(samples)}"
    if baseline:
        line += f"   x{p50 / percentile(baseline, 50):.1f} of baseline p50"
    return line


async def run(requests: int, concurrency: int) -> None:
    topic = f"bench.stores.{secrets.token_hex(4)}"
    with infrastructure() as (kafka, admin_dsn):
        async with bench_database(admin_dsn) as dsn, service(kafka, dsn, topic) as base:
            # aiohttp as the load generator: httpx's pool loses most of its throughput at 32
            # concurrent connections, which would measure the client instead of the service.
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(base, headers=AUTH, connector=connector) as client:

                async def call(method: str, path: str, **kwargs: Any) -> tuple[int, str, Any]:
                    async with client.request(method, path, **kwargs) as response:
                        body = await response.json(content_type=None)
                        if response.status >= 400:
                            raise RuntimeError(f"{method} {path}: {response.status} {body}")
                        return response.status, response.headers.get("ETag", ""), body

                await call("PUT", "/v1/warehouses/w1", json={"name": "Main"})
                await call("PUT", "/v1/warehouses/w2", json={"name": "Second"})
                stores = []
                for i in range(concurrency):
                    _, _, created = await call(
                        "POST", "/v1/stores", json={"title": f"Bench {i}", "platform": "trendyol"}
                    )
                    stores.append(created["id"])
                versions = dict.fromkeys(stores, 1)

                async def healthz(_w: int, _n: int) -> None:
                    await call("GET", "/healthz")

                async def list_stores(_w: int, _n: int) -> None:
                    await call("GET", "/v1/stores", params={"limit": "20"})

                async def get_store(_w: int, n: int) -> None:
                    await call("GET", f"/v1/stores/{stores[n % len(stores)]}")

                sent_at: dict[tuple[str, int], float] = {}

                async def update_settings(worker: int, _n: int) -> None:
                    store_id = stores[worker]  # one store per client: no 412s from each other
                    version = versions[store_id]
                    body = {
                        "order_transfer_enabled": True,
                        # flips with every version, so each write is a real change (an event)
                        "default_warehouse_id": "w1" if version % 2 else "w2",
                        "cargo_company_id": None,
                        "stock_deduction_enabled": True,
                    }
                    sent_at[store_id, version + 1] = time.perf_counter()
                    _, etag, _ = await call(
                        "PUT",
                        f"/v1/stores/{store_id}/settings/orders",
                        json=body,
                        headers={"If-Match": f'"{version}"'},
                    )
                    versions[store_id] = int(etag.strip('"'))

                for warmup in (healthz, list_stores, get_store):
                    await load(concurrency, 200, warmup)

                # Baseline 1: the bare database lookup behind GET, same concurrency.
                pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
                assert pool is not None

                async def bare_query(_w: int, n: int) -> None:
                    await pool.fetchrow(
                        "SELECT * FROM store_registry.stores WHERE id = $1",
                        stores[n % len(stores)],
                    )

                db_base = await load(concurrency, requests, bare_query)
                await pool.close()
                http_base = await load(concurrency, requests, healthz)
                listed = await load(concurrency, requests, list_stores)
                got = await load(concurrency, requests, get_store)

                # No group: every partition is assigned and reading starts at the current end.
                consumer = AIOKafkaConsumer(
                    topic, bootstrap_servers=kafka, auto_offset_reset="latest"
                )
                await consumer.start()
                while not consumer.assignment():  # noqa: ASYNC110  (aiokafka has no event for it)
                    await asyncio.sleep(0.05)
                for tp in consumer.assignment():
                    await consumer.position(tp)
                event_latencies: list[float] = []
                writes = requests // 2

                async def drain() -> None:
                    while len(event_latencies) < writes:
                        batches = await consumer.getmany(timeout_ms=100)
                        now = time.perf_counter()
                        for messages in batches.values():
                            for message in messages:
                                store = json.loads(message.value)["data"]["store"]
                                t0 = sent_at.get((store["store_id"], store["version"]))
                                if t0 is not None:
                                    event_latencies.append(now - t0)

                draining = asyncio.create_task(drain())
                updated = await load(concurrency, writes, update_settings)
                await asyncio.wait_for(draining, timeout=60)
                await consumer.stop()

    load_1m = os.getloadavg()[0]
    print(
        f"store-registry, {concurrency} concurrent clients, {requests} requests per phase "
        f"(load average {load_1m:.1f} on {os.cpu_count()} CPUs)"
    )
    print(report("baseline: asyncpg store lookup", db_base))
    print(report("baseline: GET /healthz", http_base))
    print(report("GET /v1/stores?limit=20", listed, http_base))
    print(report("GET /v1/stores/{id}", got, http_base))
    print(report("PUT /v1/stores/{id}/settings/orders", updated, http_base))
    print(report("write -> event on Kafka", event_latencies))
    if SHUTDOWN:
        seconds, code = SHUTDOWN[0]
        print(f"graceful shutdown after SIGTERM: {seconds:.2f} s, exit code {code}")
    print("targets: GET p99 <= 25 ms, write p99 <= 50 ms, write-to-event p99 <= 500 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.concurrency))


if __name__ == "__main__":
    main()
