"""Chaos run: orders keep arriving while order-ingest, Kafka and PostgreSQL are killed.

`make chaos` (= `uv run pytest services/order-ingest -m chaos`; `make test` excludes the
marker through the root `addopts`). Scale with `ORDER_INGEST_CHAOS_ORDERS` (default 10,000)
and `ORDER_INGEST_CHAOS_STORES` (default 20).

Its own servers: Kafka and PostgreSQL from `kervan_devstack` in a state dir under
`.devstack/` (ports auto) so that they can be stopped and started; marketplace-sim and
order-ingest (tests/chaos/launcher.py) as child processes. While orders are created in rounds,
order-ingest is SIGKILLed 5 times (restarted each time), Kafka restarted once and PostgreSQL
restarted once. Then, once everything has drained, from the simulator, the database and the
whole `kervan.stock-movements.v1` topic read from the beginning:

- lost = simulator orders not stored (expected 0); stored twice = 0 (natural key);
- double-deducted = order lines with more than one distinct `StockDeducted` movement id, or
  whose stored deducted quantity differs from the event (expected 0);
- redeliveries = `StockDeducted` records beyond the first per movement id (allowed: the outbox
  relay publishes at least once; consumers dedupe by movement id). Printed, not asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from kervan_contracts import topics
from kervan_contracts.credentials.v1 import ApiStatus, ApiStatusChanged
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import (
    OrderSettings,
    ProductSettings,
    StoreCreated,
    StoreSnapshot,
    StoreStatus,
)
from kervan_devstack import Devstack
from kervan_testkit.events import publish_events

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[4]
LAUNCHER = Path(__file__).with_name("launcher.py")
SCHEMA = "order_ingest"
DEDUCTED = "inventory.stock.deducted"
ORDERS = int(os.environ.get("ORDER_INGEST_CHAOS_ORDERS", "10000"))
STORES = int(os.environ.get("ORDER_INGEST_CHAOS_STORES", "20"))
ROUNDS = 10


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until(condition: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    """Poll `condition` until true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(Exception):  # servers are being restarted under us
            if await condition():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.5)


@contextlib.contextmanager
def devstack() -> Iterator[Devstack]:
    """Kafka + PostgreSQL in a state dir of our own (PostgreSQL must reach it as its user)."""
    state_dir = ROOT / ".devstack" / f"chaos-order-ingest-{secrets.token_hex(4)}"
    state_dir.mkdir(parents=True)
    state_dir.chmod(0o755)
    stack = Devstack(state_dir, ports="auto")
    try:
        stack.up(["kafka", "postgres"])
        yield stack
    finally:
        stack.down(["kafka", "postgres"])
        shutil.rmtree(state_dir, ignore_errors=True)


@contextlib.contextmanager
def simulator() -> Iterator[str]:
    """marketplace-sim as a child process; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "marketplace_sim", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class Service:
    """order-ingest as a child process that can be SIGKILLed and started again."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0

    def start(self) -> None:
        """Start a new process (same replica id: a restart, as a container would)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(LAUNCHER)], env=self.env, cwd=ROOT, stdout=out, stderr=out
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, leases and outbox rows stay as they are."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        """Graceful stop at the end."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextlib.asynccontextmanager
async def running(service: Service) -> AsyncIterator[Service]:
    """Start the service; stop it at the end."""
    service.start()
    try:
        yield service
    finally:
        service.stop()


def snapshot(store_id: str) -> StoreSnapshot:
    """An active Trendyol store with order transfer and stock deduction on."""
    at = datetime.now(UTC) - timedelta(days=1)
    return StoreSnapshot(
        store_id=store_id,
        title=f"Chaos {store_id}",
        platform=Platform.TRENDYOL,
        status=StoreStatus.ACTIVE,
        test_mode=False,
        products=ProductSettings(),
        orders=OrderSettings(
            order_transfer_enabled=True,
            stock_deduction_enabled=True,
            default_warehouse_id="wh-chaos",
        ),
        version=1,
        created_at=at,
        updated_at=at,
    )


async def read_movements(bootstrap: str) -> list[dict[str, Any]]:
    """Every record of the stock-movements topic, from the beginning to the current end."""
    spec = topics.TOPICS[topics.STOCK_MOVEMENTS]
    parts = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
    # "earliest": assign() starts resetting positions at once with the reset policy, and with
    # aiokafka's "latest" that reset could win over seek_to_beginning(): every position at its
    # end and nothing read (seen: 10,000 records on the topic, 0 returned).
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        print(f"\n{spec.name} end offsets: {sum(ends.values())}")
        await consumer.seek_to_beginning(*parts)
        found: list[dict[str, Any]] = []
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                found.extend(json.loads(r.value) for r in records if r.value is not None)
        print(f"{spec.name} records read: {len(found)}")
        return found
    finally:
        await consumer.stop()


async def create_accounts(sim: httpx.AsyncClient) -> dict[str, tuple[str, dict[str, str]]]:
    """store id -> (simulator account, credentials), one rate-limit-free account per store."""
    accounts = {}
    for i in range(STORES):
        seller = str(70_000 + i)
        creds = {"seller_id": seller, "api_key": f"chaos-key-{i}", "api_secret": f"s-{i}"}
        response = await sim.post(
            "/_sim/accounts",
            json={
                "platform": "trendyol",
                "seller_id": seller,
                "credentials": creds,
                "rate_limits": False,
            },
        )
        response.raise_for_status()
        accounts[f"chaos-store-{i:03d}"] = (response.json()["account_id"], creds)
    return accounts


async def test_no_order_lost_and_no_line_deducted_twice_through_kills_and_restarts() -> None:
    with devstack() as stack, simulator() as sim_url:
        endpoints = stack.endpoints()
        bootstrap, dsn = endpoints.kafka_bootstrap, endpoints.postgres_dsn
        async with httpx.AsyncClient(base_url=sim_url, timeout=60) as sim:
            await wait_until(
                lambda: _ok(sim.get("/_sim/accounts")), within=60, what="marketplace-sim"
            )
            accounts = await create_accounts(sim)
            port = free_port()
            service = Service(
                env={
                    **os.environ,
                    "KERVAN_KAFKA_BOOTSTRAP": bootstrap,
                    "KERVAN_POSTGRES_DSN": dsn,
                    "KERVAN_POSTGRES_SCHEMA": SCHEMA,
                    "CHAOS_SIM_URL": sim_url,
                    "CHAOS_CREDENTIALS": json.dumps({s: c for s, (_, c) in accounts.items()}),
                    "ORDER_INGEST_HTTP_PORT": str(port),
                    "ORDER_INGEST_LOG_LEVEL": "WARNING",
                    "ORDER_INGEST_POLL_INTERVAL_SECONDS": "2",
                    "ORDER_INGEST_LEASE_RENEW_INTERVAL_SECONDS": "1",
                    "ORDER_INGEST_LEASE_TTL_SECONDS": "5",
                    "ORDER_INGEST_INITIAL_LOOKBACK_HOURS": "1",
                    "ORDER_INGEST_RETEST_URL": "",
                    "ORDER_INGEST_REPLICA_ID": "chaos-replica",
                    "ORDER_INGEST_OUTBOX__POLL_INTERVAL_SECONDS": "0.1",
                },
                log=stack.state_dir / "logs" / "order-ingest.log",
            )
            api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
            async with running(service), api:

                async def ready() -> bool:
                    return (await api.get("/readyz")).status_code == 200

                await wait_until(ready, within=180, what="order-ingest ready")
                payloads: list[EventPayload] = []
                for store_id in accounts:
                    payloads.append(StoreCreated(store=snapshot(store_id)))
                    payloads.append(
                        ApiStatusChanged(
                            store_id=store_id,
                            platform=Platform.TRENDYOL,
                            status=ApiStatus.VALID,
                            checked_at=datetime.now(UTC) - timedelta(minutes=1),
                            test_mode=False,
                        )
                    )
                await publish_events(bootstrap, *payloads, producer="chaos-test")

                per_round = ORDERS // (ROUNDS * STORES)
                kill_rounds = {1, 2, 4, 6, 8}
                for round_no in range(ROUNDS):
                    await asyncio.gather(
                        *(
                            _bulk(sim, account, per_round, f"R{round_no}-")
                            for account, _ in accounts.values()
                        )
                    )
                    # Let the service get into the middle of the round's pages before the fault.
                    await asyncio.sleep(1.0 + (round_no % 3))
                    if round_no in kill_rounds:
                        service.kill()
                        service.start()
                    if round_no == 3:
                        stack.down(["kafka"])
                        stack.up(["kafka"])
                    if round_no == 5:
                        stack.down(["postgres"])
                        stack.up(["postgres"])
                # The bulk route numbers an account's orders after those it already holds.
                expected = {
                    (store_id, f"R{r}-{r * per_round + i + 1:09d}")
                    for store_id in accounts
                    for r in range(ROUNDS)
                    for i in range(per_round)
                }
                for account, _ in accounts.values():
                    view = (await sim.get(f"/_sim/accounts/{account}")).json()
                    assert view["orders"] == per_round * ROUNDS

                async def drained() -> bool:
                    conn = await asyncpg.connect(dsn)
                    try:
                        stored = await conn.fetchval(
                            f"SELECT count(DISTINCT (store_id, order_number)) FROM {SCHEMA}.orders"
                        )
                        pending = await conn.fetchval(
                            f"SELECT count(*) FROM {SCHEMA}.outbox WHERE published_at IS NULL"
                        )
                    finally:
                        await conn.close()
                    return bool(stored >= len(expected) and pending == 0)

                await wait_until(drained, within=900, what="every order stored and published")

            conn = await asyncpg.connect(dsn)
            try:
                rows = await conn.fetch(f"SELECT store_id, order_number FROM {SCHEMA}.orders")
                # Units each line should have deducted: ordered minus cancelled at first sight.
                lines = await conn.fetch(
                    f"SELECT l.store_id, l.order_number, l.line_id, l.deducted_quantity, "
                    f"(x->>'quantity')::int - (x->>'cancelled_quantity')::int AS quantity "
                    f"FROM {SCHEMA}.order_lines l "
                    f"JOIN {SCHEMA}.orders o USING (store_id, order_number) "
                    f"CROSS JOIN jsonb_array_elements(o.snapshot->'lines') x "
                    f"WHERE x->>'line_id' = l.line_id"
                )
            finally:
                await conn.close()
            # The restarted servers must still be where the service was told they are.
            assert stack.endpoints().kafka_bootstrap == bootstrap
            assert stack.endpoints().postgres_dsn == dsn
            movements = await read_movements(bootstrap)

    stored = Counter((r["store_id"], r["order_number"]) for r in rows)
    lost = expected - stored.keys()
    stored_twice = [k for k, n in stored.items() if n > 1]
    deducted = [m["data"] for m in movements if m["event_type"] == DEDUCTED]
    records_per_id = Counter(d["movement_id"] for d in deducted)
    ids_per_line: dict[tuple[str, str, str], set[str]] = {}
    quantity_per_line: dict[tuple[str, str, str], int] = {}
    for d in deducted:
        line = (d["store_id"], d["order_number"], d["line_id"])
        ids_per_line.setdefault(line, set()).add(d["movement_id"])
        quantity_per_line[line] = d["quantity"]
    double_deducted = [line for line, ids in ids_per_line.items() if len(ids) > 1]
    db_deducted = {
        (r["store_id"], r["order_number"], r["line_id"]): r["deducted_quantity"]
        for r in lines
        if r["deducted_quantity"]
    }
    mismatched = [
        line
        for line in db_deducted.keys() | quantity_per_line.keys()
        if db_deducted.get(line) != quantity_per_line.get(line)
    ]
    undeducted = [
        (r["store_id"], r["order_number"], r["line_id"])
        for r in lines
        if r["deducted_quantity"] != r["quantity"]
    ]
    redeliveries = sum(n - 1 for n in records_per_id.values())
    print(
        f"\nchaos: {len(expected)} orders over {STORES} stores, order-ingest SIGKILLed "
        f"{service.kills}x, Kafka restarted 1x, PostgreSQL restarted 1x\n"
        f"  stored {len(stored)}, lost {len(lost)}, stored twice {len(stored_twice)}\n"
        f"  lines {len(lines)}, StockDeducted movement ids {len(records_per_id)}, "
        f"double-deducted {len(double_deducted)}, db/event mismatches {len(mismatched)}, "
        f"lines not deducted {len(undeducted)}\n"
        f"  StockDeducted records {len(deducted)}, redeliveries {redeliveries}"
    )
    assert service.kills == 5
    assert not lost
    assert not stored_twice
    assert not double_deducted
    assert not mismatched
    assert not undeducted
    assert len(records_per_id) == len(lines)


async def _ok(response: Awaitable[httpx.Response]) -> bool:
    return (await response).status_code == 200


async def _bulk(sim: httpx.AsyncClient, account: str, count: int, prefix: str) -> None:
    response = await sim.post(
        f"/_sim/accounts/{account}/orders/bulk",
        json={"count": count, "prefix": prefix, "spread_seconds": 0, "lines_per_order": 1},
    )
    response.raise_for_status()
