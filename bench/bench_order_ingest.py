"""order-ingest end to end: simulator → PostgreSQL → Kafka `StockDeducted` seen by a consumer.

50 Trendyol stores (one simulator account each, rate limits off) are announced to the service
over Kafka (`StoreCreated` + a valid `ApiStatusChanged`), exactly as store-registry and
credential-vault would. Then two phases:

1. Throughput: a burst of orders (default 20,000, one line each) is created in the simulator
   across the stores; the clock runs from the first creation call until a consumer has seen
   one `StockDeducted` per order. Orders/s = orders / that time.
2. Latency: orders trickle in (default 100/s for 15 s, five per creation call, round-robin
   over the stores); for each, the time from its creation call to its `StockDeducted`
   reaching the consumer. Target: p99 <= poll interval + 1 s
   (the jitter of the schedule widens the worst gap to interval x (1 + jitter)).

Baseline, same run and machine: the same rows (order snapshot + line, batches of the same
size, the same pool size and 50 concurrent writers) inserted with asyncpg, then the very event
bytes the service published produced with aiokafka (acks=all) to fresh topics, until the
consumer has seen every `StockDeducted`. No polling, no parsing, no domain logic, no outbox.
It runs twice: with aiokafka's default 16 KiB batch per partition (as it always did) and with
the relay's 512 KiB (a full 16 KiB batch makes the next send wait for the broker, and every
`StockDeducted` of the bench shares one key). Ratio = service orders/s / the faster baseline's
(target >= 0.5; >= 2,000 orders/s on 2 cores); both are printed.

Also printed, to see a change in the service's own cost through the noise of a shared
machine: this process's CPU per order over the burst (the replica, its consumer, the creation
calls) and over each baseline (its writers and consumer), the PostgreSQL backends' CPU per
order over the same spans (the bench database's connections, from /proc), the orders the
replica read (re-reads included) and the polls by outcome.

Everything runs on uvloop, as the service does in production (uvicorn picks it, and
uvicorn[standard] installs it).

Not inside the measured time: order-ingest reads every stretch of time once more after it has
settled (`ORDER_INGEST_OVERLAP_SECONDS`, 300 s by default; see the service README), i.e. each
order is read a second time about five minutes later. In steady state that re-read costs one
page read and one locked compare per order, no writes and no events.

The service runs in this process (its own event loop shares the process with the consumer;
the simulator runs as a child process) so that it can use in-memory credentials. With
`--replicas N` (N > 1) the other N - 1 replicas run as child processes
(`services/order-ingest/tests/chaos/launcher.py`: the real service with credentials from the
environment), on the same database and topics: the stores are shared out by their leases, as
operators would run the service on a machine with more than one core. The burst starts once
every replica holds its share.

Servers: KERVAN_KAFKA_BOOTSTRAP / KERVAN_POSTGRES_DSN when set, otherwise Kafka and
PostgreSQL started by kervan_devstack (ports auto, state dir under .devstack/, stopped at the end).

Usage: `uv run python bench/bench_order_ingest.py [--orders 20000] [--stores 50]
[--poll-interval 2] [--trickle-rate 100] [--trickle-seconds 15] [--replicas 1] [--profile FILE]`
(`--profile`: cProfile of this process's replica during the burst).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from order_ingest.adapters.credentials import StaticCredentialsSource
from order_ingest.bootstrap import build_app
from order_ingest.settings import OrderIngestSettings, OrderOutboxSettings
from pydantic import SecretStr

from benchkit import free_port, infrastructure, percentile, scratch_database
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
from kervan_contracts.topics import TopicSpec
from kervan_marketplaces import (
    AdapterFactory,
    IntegratorIdentity,
    MarketplaceSettings,
    simulator_urls,
)
from kervan_servicekit import (
    KafkaSettings,
    PostgresSettings,
    configure_logging,
    ensure_topics,
)
from kervan_servicekit.outbox import PRODUCER_BATCH_BYTES
from kervan_testkit.events import publish_events

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "services" / "order-ingest" / "tests" / "chaos" / "launcher.py"
DEDUCTED = "inventory.stock.deducted"
BATCH = 100
POOL = 10
AIOKAFKA_BATCH_BYTES = 16 * 1024
"""aiokafka's default batch per partition (what the baseline used to produce with)."""
SCHEMA = "order_ingest"


@contextlib.asynccontextmanager
async def simulator() -> AsyncIterator[str]:
    """marketplace-sim in a child process; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220  (started once, stopped below)
        [sys.executable, "-m", "marketplace_sim", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/_sim/accounts")).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("marketplace-sim did not start")
                await asyncio.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def marketplace_settings(sim: str) -> MarketplaceSettings:
    """Every platform's URLs pointed at the simulator."""
    return MarketplaceSettings(
        urls=simulator_urls(sim),
        simulator_origins=[sim],
        check_dns=False,
        integrator=IntegratorIdentity(trendyol_integrator_name="Kervan"),
    )


def store_snapshot(store_id: str) -> StoreSnapshot:
    """An active Trendyol store with order transfer and stock deduction on."""
    at = datetime.now(UTC) - timedelta(days=1)
    return StoreSnapshot(
        store_id=store_id,
        title=f"Bench {store_id}",
        platform=Platform.TRENDYOL,
        status=StoreStatus.ACTIVE,
        test_mode=False,
        products=ProductSettings(),
        orders=OrderSettings(
            order_transfer_enabled=True,
            stock_deduction_enabled=True,
            default_warehouse_id="wh-main",
        ),
        version=1,
        created_at=at,
        updated_at=at,
    )


@dataclass
class Watcher:
    """Reads two topics from their current end; remembers what it saw and when."""

    bootstrap: str
    orders_topic: TopicSpec
    movements_topic: TopicSpec
    deducted_at: dict[tuple[str, str], float] = field(default_factory=dict)
    """(store, order number) -> first time its StockDeducted was seen (perf_counter)."""
    arrivals: list[tuple[str, str]] = field(default_factory=list)
    """Orders in the order their first StockDeducted arrived (wait_for reads only the tail)."""
    deducted_ids: dict[str, int] = field(default_factory=dict)
    """movement id -> times seen (redeliveries show as > 1)."""
    raw: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    """(topic, key, value) of every record, for the baseline."""
    keep_raw: bool = False
    _task: asyncio.Task[None] | None = None
    _consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Assign every partition of both topics and seek to their end."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            parts = [
                TopicPartition(spec.name, p)
                for spec in (self.orders_topic, self.movements_topic)
                for p in range(spec.partitions)
            ]
        except BaseException:
            await consumer.stop()
            raise
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for part in parts:  # resolve the end offsets now, before anything is produced
            await consumer.position(part)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.perf_counter()
            for part, records in batches.items():
                for record in records:
                    if self.keep_raw:
                        self.raw.append((part.topic, record.key, record.value))
                    if part.topic != self.movements_topic.name:
                        continue
                    event = json.loads(record.value)
                    if event["event_type"] != DEDUCTED:
                        continue
                    data = event["data"]
                    self.deducted_ids[data["movement_id"]] = (
                        self.deducted_ids.get(data["movement_id"], 0) + 1
                    )
                    key = (data["store_id"], data["order_number"])
                    if key not in self.deducted_at:
                        self.deducted_at[key] = now
                        self.arrivals.append(key)

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def wait_for(self, numbers: set[tuple[str, str]], within: float) -> float:
        """Wait until every order in `numbers` was deducted; returns the last arrival time."""
        deadline = time.monotonic() + within
        missing = {key for key in numbers if key not in self.deducted_at}
        seen = len(self.arrivals)
        while True:
            # Only the arrivals since the last look are checked (this shares the service's CPU).
            missing.difference_update(self.arrivals[seen:])
            seen = len(self.arrivals)
            if not missing:
                return max(self.deducted_at[n] for n in numbers)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(missing)} of {len(numbers)} orders never deducted")
            await asyncio.sleep(0.05)


@dataclass
class Stores:
    """The simulator accounts behind the bench stores."""

    sim: httpx.AsyncClient
    accounts: dict[str, str]
    """store id -> simulator account id."""


async def create_stores(sim: httpx.AsyncClient, count: int) -> tuple[Stores, dict[str, Any]]:
    """One rate-limit-free Trendyol account per store; returns them and their credentials."""
    accounts, credentials = {}, {}
    for i in range(count):
        seller = str(50_000 + i)
        creds = {"seller_id": seller, "api_key": f"bench-key-{i}", "api_secret": f"s-{i}"}
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
        store_id = f"bench-store-{i:03d}"
        accounts[store_id] = response.json()["account_id"]
        credentials[store_id] = creds
    return Stores(sim, accounts), credentials


async def wait_all_polled(api: httpx.AsyncClient, store_ids: list[str], within: float) -> None:
    """Every store eligible and polled successfully at least once."""
    deadline = time.monotonic() + within
    pending = list(store_ids)
    while pending:
        response = await api.get(f"/v1/stores/{pending[0]}/ingest")
        if response.status_code == 200 and response.json()["last_success_at"]:
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise RuntimeError(f"store {pending[0]} never polled: {response.text}")
        await asyncio.sleep(0.1)


async def burst(stores: Stores, total: int, prefix: str) -> set[tuple[str, str]]:
    """`total` one-line orders spread evenly over fresh stores; returns (store, number)s."""
    per_store = total // len(stores.accounts)

    async def one(account: str) -> None:
        response = await stores.sim.post(
            f"/_sim/accounts/{account}/orders/bulk",
            json={"count": per_store, "prefix": prefix, "spread_seconds": 0},
        )
        response.raise_for_status()

    await asyncio.gather(*(one(a) for a in stores.accounts.values()))
    # The bulk route numbers after the account's existing orders: none yet.
    return {(s, f"{prefix}{k:09d}") for s in stores.accounts for k in range(1, per_store + 1)}


TRICKLE_CLUSTER = 5
"""Orders per creation call in the latency phase."""


async def trickle(
    stores: Stores, rate: float, seconds: float, prefix: str, existing: dict[str, int]
) -> dict[tuple[str, str], float]:
    """Orders at `rate`/s round-robin over the stores; (store, number) -> creation time.

    Created `TRICKLE_CLUSTER` at a time through the bulk route (numbered after the account's
    `existing` orders, like the burst): one HTTP call per order from this process would cost
    the service, which shares the process, about as much CPU as its own work.
    """
    created: dict[tuple[str, str], float] = {}
    store_ids = list(stores.accounts)
    calls = int(rate * seconds) // TRICKLE_CLUSTER
    started = time.perf_counter()
    in_flight: set[asyncio.Task[None]] = set()
    # A few creation calls at a time: an unbounded queue inside httpx's connection pool costs
    # O(queued x connections) per request.
    slots = asyncio.Semaphore(8)

    async def one(n: int) -> None:
        store_id = store_ids[n % len(store_ids)]
        first = existing[store_id]
        existing[store_id] += TRICKLE_CLUSTER
        async with slots:
            at = time.perf_counter()
            response = await stores.sim.post(
                f"/_sim/accounts/{stores.accounts[store_id]}/orders/bulk",
                json={"count": TRICKLE_CLUSTER, "prefix": prefix, "spread_seconds": 0},
            )
        response.raise_for_status()
        for k in range(first + 1, first + TRICKLE_CLUSTER + 1):
            created[(store_id, f"{prefix}{k:09d}")] = at

    for n in range(calls):
        delay = started + n * TRICKLE_CLUSTER / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(n))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    return created


async def backends_cpu(dsn: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to the bench's database (read
    from /proc: the server runs on this machine). Background processes (WAL writer,
    checkpointer) are not counted; backends write and flush their own WAL at commit."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    return _process_cpu([row["pid"] for row in rows])


def _process_cpu(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each process still running (/proc/<pid>/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """Backend CPU seconds between two `backends_cpu` readings (backends opened in between
    count from zero)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


async def baseline(
    dsn: str, bootstrap: str, records: list[tuple[str, bytes | None, bytes]], batch_bytes: int
) -> tuple[float, int, float, float]:
    """Same rows with asyncpg, same event bytes with aiokafka (`batch_bytes` per partition);
    returns (orders/s, orders, this process's CPU seconds and the PostgreSQL backends' over
    the timed part)."""
    suffix = secrets.token_hex(4)
    specs = {
        name: dataclasses.replace(topics.TOPICS[name], name=f"bench.baseline.{name}.{suffix}")
        for name in (topics.ORDERS, topics.STOCK_MOVEMENTS)
    }
    mapping = {name: spec.name for name, spec in specs.items()}
    await ensure_topics(bootstrap, list(specs.values()))
    # Per order: its snapshot (from OrderReceived) and its event records, grouped per store.
    snapshots: dict[tuple[str, str], dict[str, Any]] = {}
    events: dict[tuple[str, str], list[tuple[str, bytes | None, bytes]]] = {}
    per_store: dict[str, list[tuple[str, str]]] = {}
    for topic, key, value in records:
        data = json.loads(value)["data"]
        order = data.get("order")
        store_id = order["store_id"] if order else data["store_id"]
        number = order["order_number"] if order else data["order_number"]
        if (store_id, number) not in events:
            events[(store_id, number)] = []
            per_store.setdefault(store_id, []).append((store_id, number))
        events[(store_id, number)].append((mapping[topic], key, value))
        if order is not None:
            snapshots[(store_id, number)] = order
    orders = len(events)

    pool = await asyncpg.create_pool(dsn, min_size=POOL, max_size=POOL)
    await pool.execute(
        f"""
        CREATE TABLE base_orders_{suffix} (store_id text, order_number text, snapshot jsonb,
            first_seen_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (store_id, order_number));
        CREATE TABLE base_lines_{suffix} (store_id text, order_number text, line_id text,
            sku text, quantity int, deducted int,
            PRIMARY KEY (store_id, order_number, line_id));
        """
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=batch_bytes
    )
    await producer.start()
    watcher = Watcher(bootstrap, specs[topics.ORDERS], specs[topics.STOCK_MOVEMENTS])
    await watcher.start()
    numbers = set(events)
    try:
        pg_started = await backends_cpu(dsn)
        started, cpu_started = time.perf_counter(), time.process_time()

        async def writer(keys: list[tuple[str, str]]) -> None:
            for at in range(0, len(keys), BATCH):
                chunk = [(snapshots[k], events[k]) for k in keys[at : at + BATCH]]
                async with pool.acquire() as conn, conn.transaction():
                    await conn.executemany(
                        f"INSERT INTO base_orders_{suffix} (store_id, order_number, snapshot) "
                        "VALUES ($1, $2, $3::jsonb)",
                        [(o["store_id"], o["order_number"], json.dumps(o)) for o, _ in chunk],
                    )
                    await conn.executemany(
                        f"INSERT INTO base_lines_{suffix} VALUES ($1, $2, $3, $4, $5, $5)",
                        [
                            (o["store_id"], o["order_number"], x["line_id"], x["merchant_sku"], 1)
                            for o, _ in chunk
                            for x in o["lines"]
                        ],
                    )
                sends = [
                    await producer.send(topic, value, key=key)
                    for _, records in chunk
                    for topic, key, value in records
                ]
                await asyncio.gather(*sends)

        await asyncio.gather(*(writer(keys) for keys in per_store.values()))
        last = await watcher.wait_for(numbers, within=300)
        cpu = time.process_time() - cpu_started
        pg_cpu = cpu_since(pg_started, await backends_cpu(dsn))
        return orders / (last - started), orders, cpu, pg_cpu
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()


@contextlib.asynccontextmanager
async def other_replicas(
    count: int,
    *,
    bootstrap: str,
    dsn: str,
    sim_url: str,
    credentials: dict[str, Any],
    poll_interval: float,
) -> AsyncIterator[None]:
    """`count` more replicas of the service, each its own process with this one's settings."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(count):
            env = {
                **os.environ,
                "KERVAN_KAFKA_BOOTSTRAP": bootstrap,
                "KERVAN_POSTGRES_DSN": dsn,
                "KERVAN_POSTGRES_SCHEMA": SCHEMA,
                "KERVAN_POSTGRES_POOL_MAX_SIZE": str(POOL),
                "CHAOS_SIM_URL": sim_url,
                "CHAOS_CREDENTIALS": json.dumps(credentials),
                "ORDER_INGEST_HTTP_PORT": str(free_port()),
                "ORDER_INGEST_LOG_LEVEL": "WARNING",
                "ORDER_INGEST_POLL_INTERVAL_SECONDS": str(poll_interval),
                "ORDER_INGEST_LEASE_RENEW_INTERVAL_SECONDS": "1",
                "ORDER_INGEST_INITIAL_LOOKBACK_HOURS": "1",
                "ORDER_INGEST_RETEST_URL": "",
                "ORDER_INGEST_REPLICA_ID": f"bench-replica-{n + 2}",
                "ORDER_INGEST_OUTBOX__POLL_INTERVAL_SECONDS": "0.05",
            }
            processes.append(
                subprocess.Popen([sys.executable, str(LAUNCHER)], cwd=ROOT, env=env)  # noqa: ASYNC220
            )
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


async def wait_leases_shared(dsn: str, replicas: int, stores: int, within: float) -> None:
    """Every replica holds its fair share of the stores (at least share - 1 each)."""
    share = stores // replicas
    deadline = time.monotonic() + within
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            rows = await conn.fetch(
                f"SELECT owner, count(*) AS held FROM {SCHEMA}.store_leases "
                "WHERE expires_at > now() GROUP BY owner"
            )
            held = sorted(row["held"] for row in rows)
            if len(held) >= replicas and held[0] >= share - 1 and sum(held) == stores:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"leases never shared out between {replicas}: {held}")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def observations(api: httpx.AsyncClient) -> int:
    """Orders this replica has read so far (the count of its event-lag histogram: one per
    order per read, re-reads included)."""
    text = (await api.get("/metrics")).text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("kervan_order_ingest_event_lag_seconds_count")
        )
    )


async def poll_outcomes(dsn: str) -> dict[str, int]:
    """Polls of every store by outcome (a failed poll re-reads its window at the next one)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(f"SELECT polls::text AS polls FROM {SCHEMA}.ingest_state")
    finally:
        await conn.close()
    totals: dict[str, int] = {}
    for row in rows:
        for outcome, count in json.loads(row["polls"]).items():
            totals[outcome] = totals.get(outcome, 0) + int(count)
    return dict(sorted(totals.items()))


async def run(args: argparse.Namespace) -> int:
    """Both phases and the baseline; prints the figures."""
    configure_logging("order-ingest", "WARNING")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # broker start-up chatter
    with infrastructure("order-ingest") as (bootstrap, admin_dsn):
        async with scratch_database(admin_dsn, "bench_oi") as dsn, simulator() as sim_url:
            await ensure_topics(
                bootstrap,
                [topics.TOPICS[t] for t in (topics.ORDERS, topics.STOCK_MOVEMENTS, topics.STORES)],
            )
            async with httpx.AsyncClient(base_url=sim_url, timeout=60) as sim:
                stores, credentials = await create_stores(sim, args.stores)
                settings = OrderIngestSettings(
                    service_name="order-ingest",
                    log_level="WARNING",
                    postgres=PostgresSettings(
                        dsn=SecretStr(dsn), schema_name=SCHEMA, pool_max_size=POOL
                    ),
                    kafka=KafkaSettings(bootstrap=bootstrap),
                    outbox=OrderOutboxSettings(poll_interval_seconds=0.05),
                    poll_interval_seconds=args.poll_interval,
                    lease_renew_interval_seconds=1.0,
                    initial_lookback_hours=1.0,
                    retest_url="",
                )
                app = build_app(
                    settings,
                    factory=AdapterFactory(marketplace_settings(sim_url)),
                    credentials=StaticCredentialsSource(credentials),
                )
                watcher = Watcher(
                    bootstrap,
                    topics.TOPICS[topics.ORDERS],
                    topics.TOPICS[topics.STOCK_MOVEMENTS],
                    keep_raw=True,
                )
                await watcher.start()
                async with (
                    _shutdown_noted(app.router.lifespan_context(app)),
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url="http://oi"
                    ) as api,
                    other_replicas(
                        args.replicas - 1,
                        bootstrap=bootstrap,
                        dsn=dsn,
                        sim_url=sim_url,
                        credentials=credentials,
                        poll_interval=args.poll_interval,
                    ),
                ):
                    snapshots: list[EventPayload] = []
                    for store_id in stores.accounts:
                        snapshots.append(StoreCreated(store=store_snapshot(store_id)))
                        snapshots.append(
                            ApiStatusChanged(
                                store_id=store_id,
                                platform=Platform.TRENDYOL,
                                status=ApiStatus.VALID,
                                checked_at=datetime.now(UTC) - timedelta(minutes=1),
                                test_mode=False,
                            )
                        )
                    await publish_events(bootstrap, *snapshots, producer="bench")
                    await wait_all_polled(api, list(stores.accounts), within=120)
                    await wait_leases_shared(dsn, args.replicas, args.stores, within=120)

                    pg_started = await backends_cpu(dsn)
                    profiler = _start_profiler(args.profile)
                    started, cpu_started = time.perf_counter(), time.process_time()
                    numbers = await burst(stores, args.orders, "BURST")
                    created_in = time.perf_counter() - started
                    last = await watcher.wait_for(numbers, within=600)
                    burst_cpu = time.process_time() - cpu_started
                    _stop_profiler(profiler, args.profile)
                    burst_pg_cpu = cpu_since(pg_started, await backends_cpu(dsn))
                    elapsed = last - started
                    throughput = len(numbers) / elapsed
                    print(
                        f"order-ingest end to end: {len(numbers)} orders over {args.stores} "
                        f"stores in {elapsed:.2f} s (simulator creation {created_in:.2f} s of "
                        f"it) = {throughput:,.0f} orders/s",
                        flush=True,
                    )

                    print(
                        f"this process's CPU during the burst (the replica, its consumer and "
                        f"the creation calls): {burst_cpu:.2f} s = "
                        f"{burst_cpu / len(numbers) * 1000:.3f} ms/order; PostgreSQL backends "
                        f"(every replica's): {burst_pg_cpu:.2f} s = "
                        f"{burst_pg_cpu / len(numbers) * 1000:.3f} ms/order",
                        flush=True,
                    )
                    print(
                        f"this replica's order observations (reads) so far: "
                        f"{await observations(api):,}; polls by outcome (all replicas): "
                        f"{await poll_outcomes(dsn)}",
                        flush=True,
                    )

                    # Each store holds its share of the burst; the bulk route numbers after it.
                    existing = dict.fromkeys(stores.accounts, args.orders // args.stores)
                    created = await trickle(
                        stores, args.trickle_rate, args.trickle_seconds, "TRICKLE", existing
                    )
                    await watcher.wait_for(set(created), within=120)
                    latencies = [watcher.deducted_at[key] - at for key, at in created.items()]
                    redelivered = sum(1 for c in watcher.deducted_ids.values() if c > 1)
                    print(
                        f"creation -> StockDeducted at {args.trickle_rate:.0f} orders/s: p50 "
                        f"{percentile(latencies, 50):.2f} s  p99 {percentile(latencies, 99):.2f} s"
                        f"  (n={len(latencies)})",
                        flush=True,
                    )
                await watcher.stop()
            burst_records = [r for r in watcher.raw if b"BURST" in r[2]]
            rates = {}
            for batch_bytes in (AIOKAFKA_BATCH_BYTES, PRODUCER_BATCH_BYTES):
                rates[batch_bytes] = await baseline(dsn, bootstrap, burst_records, batch_bytes)

    p50, p99, worst = (percentile(latencies, q) for q in (50, 99, 100))
    target_latency = args.poll_interval + 1.0
    for batch_bytes, (base_rate, base_orders, base_cpu, base_pg_cpu) in rates.items():
        print(
            f"baseline (asyncpg rows + aiokafka events, no logic; {batch_bytes // 1024} KiB "
            f"batches): {base_orders} orders = {base_rate:,.0f} orders/s;  ratio "
            f"{throughput / base_rate:.2f}; this process's CPU "
            f"{base_cpu / base_orders * 1000:.3f} ms/order, PostgreSQL backends' "
            f"{base_pg_cpu / base_orders * 1000:.3f} ms/order"
        )
    # Against the stronger baseline: the relay's own batch size.
    ratio = throughput / rates[PRODUCER_BATCH_BYTES][0]
    print(
        f"creation -> StockDeducted at {args.trickle_rate:.0f} orders/s: p50 {p50:.2f} s  "
        f"p99 {p99:.2f} s  max {worst:.2f} s  (n={len(latencies)}; poll interval "
        f"{args.poll_interval:.1f} s, jitter ±20%)"
    )
    print(f"StockDeducted movement ids seen more than once on Kafka: {redelivered}")
    print(f"load average during the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    checks = [
        (throughput >= 2000, f"throughput {throughput:,.0f} orders/s >= 2,000"),
        (ratio >= 0.5, f"ratio to baseline {ratio:.2f} >= 0.5"),
        (p99 <= target_latency, f"p99 {p99:.2f} s <= poll interval + 1 s = {target_latency:.1f} s"),
    ]
    for passed, text in checks:
        print(f"{'PASS' if passed else 'MISS'}  {text}")
    return 0


@contextlib.asynccontextmanager
async def _shutdown_noted(
    lifespan: contextlib.AbstractAsyncContextManager[Any],
) -> AsyncIterator[None]:
    """The service's lifespan; a slow shutdown is reported instead of losing the figures."""
    await lifespan.__aenter__()
    try:
        yield
    finally:
        try:
            await lifespan.__aexit__(None, None, None)
        except TimeoutError:
            print("note: the service's shutdown timed out (pool close)", flush=True)


def _start_profiler(path: str | None) -> Any:
    if not path:
        return None
    import cProfile  # noqa: PLC0415

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _stop_profiler(profiler: Any, path: str | None) -> None:
    if profiler is not None and path:
        profiler.disable()
        profiler.dump_stats(path)


def main() -> int:
    """Parse flags and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--trickle-rate", type=float, default=100.0)
    parser.add_argument("--trickle-seconds", type=float, default=15.0)
    parser.add_argument(
        "--replicas", type=int, default=1, help="replicas of the service (others in processes)"
    )
    parser.add_argument("--profile", default=None, help="cProfile output of the burst phase")
    # uvloop, as the service runs in production: uvicorn (`run_service`) picks it when it is
    # installed, and uvicorn[standard] installs it.
    return uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
