"""The oversell window: an order on store A to the new stock arriving at stores B-F.

The whole loop, each part in its own process: marketplace-sim (documented rate limits on),
order-ingest polling every store, catalog-sync pushing, the reference inventory playing the
seller's inventory (it acknowledges each movement with a new absolute level), Kafka and
PostgreSQL between them.

Stores: `--stores` (default 50) spread over the six platforms in groups of six, one store
per platform, every store of a group on one warehouse (store i: platform i mod 6, warehouse
i div 6; 50 stores = 8 full groups and one of two). Update type `stock`.

Orders: `--rate` per minute (default 200) for `--seconds` (default 60), round-robin over
the stores whose poll interval is the setting, each on a SKU of its warehouse that no other
order touches, so its effect is one exact value (initial - 1) at every other store of the
group. Amazon stores take no orders here, only stock: Amazon documents getOrders at one
request per minute, so order-ingest polls them every 60 s and their window is a minute by
the platform's rule, not Kervan's; they are still among the B-F stores that must receive.

Window of an order = the last time, over the other stores of its group, that the simulator
*received* the new stock (the push record's `at` on the simulator's wall clock, read from
`GET /_sim/accounts/{id}/listings/{sku}` afterwards) minus the time the bench asked the
simulator to create the order. Target: p99 <= order-ingest's poll interval + 2 s.
Also shown, same run: the order-ingest part (creation -> StockDeducted on Kafka, read by this
process) and the catalog-sync part (StockDeducted -> stock received at every other store), so
the figure can be compared with its floor (the poll wait). Poll interval: `--poll-interval`
(default 2 s; every platform but Amazon documents order-list limits of >= 1.6 requests/s).

Checked too: no store ever receives less than initial - (orders on that SKU), i.e. no movement
counted twice (the reference inventory's acknowledgements must not lower it again).

Servers: KERVAN_TEST_KAFKA_BOOTSTRAP + KERVAN_TEST_POSTGRES_DSN, else KERVAN_KAFKA_BOOTSTRAP +
KERVAN_POSTGRES_DSN, else Kafka and PostgreSQL started by kervan_devstack (stopped at the end).

Usage: `uv run python bench/bench_oversell.py [--stores 50] [--rate 200] [--seconds 60]
[--poll-interval 2]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from marketplace_sim.testing import TEST_ACCOUNTS

from benchkit import free_port, infrastructure, percentile, scratch_database
from kervan_contracts import topics
from kervan_contracts.catalog.v1 import PriceChanged, ProductUpserted, StockLevelChanged
from kervan_contracts.credentials.v1 import ApiStatus, ApiStatusChanged
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Platform
from kervan_contracts.money import Money
from kervan_contracts.stores.v1 import (
    AutoUpdateType,
    OrderSettings,
    ProductSettings,
    StoreCreated,
    StoreSnapshot,
    StoreStatus,
)
from kervan_marketplaces import (
    AdapterFactory,
    IntegratorIdentity,
    MarketplaceSettings,
    simulator_urls,
)
from kervan_servicekit import ensure_topics
from kervan_testkit.events import publish_events

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = [p.value for p in Platform]
INITIAL_STOCK = 100
PRICE_LIST = "pl-main"
REDIRECT = "https://kervan.example/callback"
DEDUCTED = "inventory.stock.deducted"
# Platforms whose documented order-list limit forces a longer poll interval than the setting.
SLOW_ORDER_POLL = {"amazon_tr"}


def marketplace_settings(sim: str) -> MarketplaceSettings:
    """Every platform's URLs pointed at the simulator, the simulator's LWA application."""
    return MarketplaceSettings(
        urls=simulator_urls(sim),
        simulator_origins=[sim],
        check_dns=False,
        integrator=IntegratorIdentity(
            trendyol_integrator_name="Kervan",
            amazon_lwa_client_id="amzn1.application-oa2-client.kervan-sim",  # type: ignore[arg-type]
            amazon_lwa_client_secret="kervan-sim-lwa-secret",  # type: ignore[arg-type]
            amazon_application_id="amzn1.sp.solution.kervan-sim",
            oauth_redirect_uri=REDIRECT,
        ),
    )


# -- servers ---------------------------------------------------------------------------------


@dataclass
class Children:
    """Child processes started by the bench; stopped in reverse order."""

    work: Path
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start a child; its output goes to `<work>/<name>.log`."""
        log = (self.work / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append((name, process))

    async def wait_ready(self, name: str, url: str, within: float = 90.0) -> None:
        """Poll `url` until it answers 2xx; fail early when the child died."""
        process = dict(self.processes)[name]
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).is_success:
                        return
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = (self.work / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} did not become ready:\n{tail}")
                await asyncio.sleep(0.2)  # polling a start, not synchronisation

    def stop_all(self) -> None:
        """SIGTERM each child, newest first; SIGKILL after 20 s."""
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _name, process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- stores ----------------------------------------------------------------------------------


@dataclass
class BenchStore:
    """One store: platform, simulator account, credentials, warehouse group."""

    store_id: str
    platform: str
    group: int
    account: str = ""
    credentials: dict[str, str] = field(default_factory=dict)

    @property
    def warehouse(self) -> str:
        """The warehouse every store of the group shares."""
        return f"wh-{self.group}"


def unique_credentials(platform: str, tag: str, index: int) -> tuple[str, dict[str, str]]:
    """(seller id, credentials) of a simulator account no other store shares: the simulator
    tells accounts apart by their credentials (and IdeaSoft/T-Soft by the store domain)."""
    seller, base = TEST_ACCOUNTS[platform]
    creds: dict[str, str] = {}
    for name, value in base.items():
        if name == "seller_id":  # Trendyol: numeric
            creds[name] = str(800_000 + index * 37 + int(tag[:3], 16) % 37)
        elif name == "selling_partner_id":
            creds[name] = f"A{tag.upper()}{index:04d}"
        elif name == "store_domain":
            creds[name] = f"s{index}-{tag}.{value}"
        else:
            creds[name] = f"{value}{tag}{index}"
    identity = {
        "trendyol": "seller_id",
        "hepsiburada": "merchant_id",
        "amazon_tr": "selling_partner_id",
        "ideasoft": "store_domain",
        "tsoft": "store_domain",
    }.get(platform)
    return (creds[identity] if identity else f"{seller}-{tag}{index}"), creds


async def create_account(
    sim: httpx.AsyncClient, factory: AdapterFactory, store: BenchStore, tag: str, index: int
) -> None:
    """The store's simulator account (documented limits on) and its credentials."""
    seller_id, creds = unique_credentials(store.platform, tag, index)
    response = await sim.post(
        "/_sim/accounts",
        json={"platform": store.platform, "seller_id": seller_id, "credentials": creds},
    )
    response.raise_for_status()
    store.account = str(response.json()["account_id"])
    if store.platform == "ideasoft":  # the authorisation-code flow against the sim's panel
        adapter: Any = factory.create(
            "ideasoft", store_id=store.store_id, seller_id=seller_id, credentials=creds
        )
        url = adapter.authorize_url(redirect_uri=REDIRECT, state="bench")
        location = (await sim.get(url, follow_redirects=False)).headers["location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        tokens = await adapter.exchange_code(code=code, redirect_uri=REDIRECT)
        creds.update({k: v.get_secret_value() for k, v in tokens.items()})
    store.credentials = creds


def snapshot(store: BenchStore) -> StoreSnapshot:
    """Active, order transfer and stock deduction on, product update `stock`."""
    at = datetime.now(UTC) - timedelta(days=1)
    return StoreSnapshot(
        store_id=store.store_id,
        title=f"Bench {store.store_id}",
        platform=Platform(store.platform),
        status=StoreStatus.ACTIVE,
        test_mode=False,
        products=ProductSettings(
            default_price_list_id=PRICE_LIST,
            product_update_enabled=True,
            auto_update_type=AutoUpdateType.STOCK,
        ),
        orders=OrderSettings(
            order_transfer_enabled=True,
            stock_deduction_enabled=True,
            default_warehouse_id=store.warehouse,
        ),
        version=1,
        created_at=at,
        updated_at=at,
    )


# -- child mode: one service with in-memory credentials --------------------------------------


def serve_child(service: str, config_path: Path) -> int:
    """Run order-ingest or catalog-sync in this process (credentials from the config file)."""
    from pydantic import SecretStr  # noqa: PLC0415  (child only)

    from kervan_servicekit import (  # noqa: PLC0415
        KafkaSettings,
        PostgresSettings,
        configure_logging,
        run_service,
    )

    config = json.loads(config_path.read_text())
    config_path.unlink()  # it holds credentials: read once, then gone
    factory = AdapterFactory(marketplace_settings(config["sim"]))
    kafka = KafkaSettings(bootstrap=config["bootstrap"])
    if service == "order-ingest":
        from order_ingest.adapters.credentials import StaticCredentialsSource  # noqa: PLC0415
        from order_ingest.bootstrap import build_app as build_oi  # noqa: PLC0415
        from order_ingest.settings import OrderIngestSettings  # noqa: PLC0415

        oi = OrderIngestSettings(
            service_name=config["name"],
            log_level="WARNING",
            http_port=config["port"],
            postgres=PostgresSettings(dsn=SecretStr(config["dsn"]), schema_name="order_ingest"),
            kafka=kafka,
            poll_interval_seconds=config["poll_interval"],
            initial_lookback_hours=1.0,
            retest_url="",
        )
        configure_logging(oi.service_name, oi.log_level)
        app = build_oi(
            oi, factory=factory, credentials=StaticCredentialsSource(config["credentials"])
        )
        health = app.state.health
    else:
        from catalog_sync.adapters.marketplace import CredentialsSource  # noqa: PLC0415
        from catalog_sync.bootstrap import build_app as build_cs  # noqa: PLC0415
        from catalog_sync.settings import CatalogSyncSettings  # noqa: PLC0415

        cs = CatalogSyncSettings(
            service_name=config["name"],
            log_level="WARNING",
            http_port=config["port"],
            postgres=PostgresSettings(dsn=SecretStr(config["dsn"]), schema_name="catalog_sync"),
            kafka=kafka,
        )
        configure_logging(cs.service_name, cs.log_level)
        app = build_cs(
            cs, factory=factory, credentials=CredentialsSource(static=config["credentials"])
        )
        health = app.state.health
    run_service(app, port=config["port"], health=health)
    return 0


def start_service(
    children: Children,
    service: str,
    *,
    name: str,
    port: int,
    dsn: str,
    bootstrap: str,
    sim: str,
    stores: list[BenchStore],
    poll_interval: float,
) -> None:
    """Write the child's configuration (0600, deleted by the child) and start it."""
    path = children.work / f"{service}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(
            {
                "name": name,
                "port": port,
                "dsn": dsn,
                "bootstrap": bootstrap,
                "sim": sim,
                "poll_interval": poll_interval,
                "credentials": {s.store_id: s.credentials for s in stores},
            },
            handle,
        )
    children.start(service, [__file__, "--serve", service, str(path)])


# -- the watcher of StockDeducted ------------------------------------------------------------


@dataclass
class DeductedWatcher:
    """Reads kervan.stock-movements.v1 from its end; (store, order number) -> first seen."""

    bootstrap: str
    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Assign every partition at its current end."""
        spec = topics.TOPICS[topics.STOCK_MOVEMENTS]
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        parts = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for part in parts:
            await consumer.position(part)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    if event["event_type"] == DEDUCTED:
                        data = event["data"]
                        self.seen.setdefault((data["store_id"], data["order_number"]), now)

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


# -- the run ---------------------------------------------------------------------------------


@dataclass
class PlannedOrder:
    """One order of the measured phase."""

    number: str
    store: BenchStore
    sku: str
    created_at: float = 0.0


def plan(stores: list[BenchStore], count: int) -> tuple[list[PlannedOrder], dict[int, list[str]]]:
    """Orders round-robin over the stores that take orders, each on a fresh SKU of its group;
    returns them and the SKUs of each group."""
    takers = [s for s in stores if s.platform not in SLOW_ORDER_POLL]
    per_group: dict[int, list[str]] = {s.group: [] for s in stores}
    orders = []
    for n in range(count):
        store = takers[n % len(takers)]
        skus = per_group[store.group]
        sku = f"OV-{store.group}-{len(skus):04d}"
        skus.append(sku)
        orders.append(PlannedOrder(f"OV{n:06d}", store, sku))
    return orders, per_group


async def each(limit: int, coros: list[Any]) -> list[Any]:
    """Run coroutines with at most `limit` at a time."""
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


STARTED = time.perf_counter()


def note(what: str) -> None:
    """A progress line with the time since the start (set-up phases take minutes)."""
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {what}", flush=True)


async def wait_for(what: str, check: Any, within: float, every: float = 0.5) -> None:
    """Poll an async predicate until true or fail with `what`."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(every)
    note(f"done: {what}")


async def stock_histories(
    sim: httpx.AsyncClient, store: BenchStore, skus: list[str]
) -> dict[str, list[tuple[int, float]]]:
    """Per SKU, (value, at) of every stock push the simulator received, oldest first."""
    response = await sim.get(
        f"/_sim/accounts/{store.account}/listings", params=[("sku", s) for s in skus]
    )
    response.raise_for_status()
    return {
        sku: [(r["value"], r["at"]) for r in view["history"] if r["field"] == "stock"]
        for sku, view in response.json().items()
    }


async def run(args: argparse.Namespace) -> int:
    """Set up the loop, run the measured phase, print the figures."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    tag = secrets.token_hex(3)
    stores = [BenchStore(f"ov-{tag}-{i:03d}", PLATFORMS[i % 6], i // 6) for i in range(args.stores)]
    count = round(args.rate * args.seconds / 60)
    orders, skus_of = plan(stores, count)
    work = ROOT / ".devstack" / f"bench-oversell-run-{tag}"
    work.mkdir(parents=True, exist_ok=True)
    children = Children(work)
    t_setup = time.perf_counter()
    with infrastructure("oversell") as (bootstrap, admin_dsn):
        async with scratch_database(admin_dsn, "bench_ov") as dsn:
            try:
                note("servers up")
                await ensure_topics(bootstrap, list(topics.TOPICS.values()))
                sim_port, oi_port, cs_port, ri_port = (free_port() for _ in range(4))
                sim_url = f"http://127.0.0.1:{sim_port}"
                children.start(
                    "marketplace-sim",
                    ["-m", "marketplace_sim", "--port", str(sim_port), "--log-level", "warning"],
                )
                await children.wait_ready("marketplace-sim", f"{sim_url}/_sim/accounts")
                async with httpx.AsyncClient(base_url=sim_url, timeout=60) as sim:
                    factory = AdapterFactory(marketplace_settings(sim_url), client=sim)
                    await each(
                        8,
                        [create_account(sim, factory, s, tag, i) for i, s in enumerate(stores)],
                    )
                    await each(
                        32,
                        [
                            sim.put(
                                f"/_sim/accounts/{s.account}/listings/{sku}",
                                json={"barcode": sku, "price": "100.00", "stock": 0},
                            )
                            for s in stores
                            for sku in skus_of[s.group]
                        ],
                    )
                    note("simulator accounts and listings seeded")
                    common = {
                        "dsn": dsn,
                        "bootstrap": bootstrap,
                        "sim": sim_url,
                        "stores": stores,
                        "poll_interval": args.poll_interval,
                    }
                    start_service(
                        children, "order-ingest", name=f"oi-{tag}", port=oi_port, **common
                    )
                    start_service(
                        children, "catalog-sync", name=f"cs-{tag}", port=cs_port, **common
                    )
                    children.start(
                        "reference-inventory",
                        ["-m", "catalog_sync", "reference-inventory", "--port", str(ri_port)],
                        env={"KERVAN_KAFKA_BOOTSTRAP": bootstrap},
                    )
                    for name, port in (
                        ("order-ingest", oi_port),
                        ("catalog-sync", cs_port),
                        ("reference-inventory", ri_port),
                    ):
                        await children.wait_ready(name, f"http://127.0.0.1:{port}/readyz")
                    note("services ready")
                    # The catalogue first, then the stores: each store's initial sync is then
                    # one full resync (whole batches) rather than a trickle of one-SKU rounds.
                    await publish_events(bootstrap, *catalogue(skus_of), producer="bench")
                    db = await asyncpg.connect(dsn)
                    try:
                        await warm_up(db, bootstrap, stores, skus_of)
                    finally:
                        await db.close()
                    setup_s = time.perf_counter() - t_setup
                    print(
                        f"setup: {len(stores)} stores, "
                        f"{sum(len(v) for v in skus_of.values())} SKUs over "
                        f"{len(skus_of)} warehouses, initial sync done in {setup_s:.0f} s",
                        flush=True,
                    )
                    watcher = DeductedWatcher(bootstrap)
                    await watcher.start()
                    try:
                        await place_orders(sim, orders, args.rate)
                        result = await collect(sim, stores, orders, watcher, args)
                        await diagnose(dsn, orders, stores, watcher, result)
                    finally:
                        await watcher.stop()
            finally:
                children.stop_all()
    passed = report(result, args)
    if passed:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"service logs kept in {work}")
    return 0


def catalogue(skus_of: dict[int, list[str]]) -> list[EventPayload]:
    """Products, prices and stock levels of every bench SKU, as the seller's systems publish."""
    now = datetime.now(UTC)
    events: list[EventPayload] = []
    for group, skus in skus_of.items():
        for sku in skus:
            events.append(ProductUpserted(sku=sku, title=f"Bench {sku}", barcode=sku))
            events.append(
                PriceChanged(
                    sku=sku,
                    price_list_id=PRICE_LIST,
                    sale_price=Money.of("100.00", "TRY"),
                    list_price=Money.of("120.00", "TRY"),
                )
            )
            events.append(
                StockLevelChanged(
                    sku=sku, warehouse_id=f"wh-{group}", quantity=INITIAL_STOCK, as_of=now
                )
            )
    return events


def store_events(stores: list[BenchStore]) -> list[EventPayload]:
    """The stores and a valid API status each, as store-registry and credential-vault do."""
    now = datetime.now(UTC)
    events: list[EventPayload] = []
    for store in stores:
        events.append(StoreCreated(store=snapshot(store)))
        events.append(
            ApiStatusChanged(
                store_id=store.store_id,
                platform=Platform(store.platform),
                status=ApiStatus.VALID,
                checked_at=now - timedelta(minutes=1),
                test_mode=False,
            )
        )
    return events


async def warm_up(
    db: asyncpg.Connection,
    bootstrap: str,
    stores: list[BenchStore],
    skus_of: dict[int, list[str]],
) -> None:
    """Every store's product list read, every store polled once, the initial stock at every
    store (read from the services' tables: cheaper than asking the simulator thousands of
    times)."""

    async def count(sql: str) -> int:
        return int(await db.fetchval(sql))

    levels = sum(len(skus) for skus in skus_of.values())

    async def catalogued() -> bool:
        return await count("SELECT count(*) FROM catalog_sync.stock_levels") >= levels

    await wait_for("catalog-sync to hold the catalogue", catalogued, 120)
    await publish_events(bootstrap, *store_events(stores), producer="bench")

    async def known() -> bool:
        return await count("SELECT count(*) FROM catalog_sync.stores") == len(stores)

    await wait_for("catalog-sync to know every store", known, 120)
    # No listing map is set by hand: catalog-sync reads each store's product list before its
    # first push (IdeaSoft's product ids come from there).
    takers = sum(1 for s in stores if s.platform not in SLOW_ORDER_POLL)

    async def polled() -> bool:
        return (
            await count(
                "SELECT count(*) FROM order_ingest.ingest_state WHERE last_success_at IS NOT NULL"
            )
            >= takers
        )

    listings = sum(len(skus_of[s.group]) for s in stores)

    async def synced() -> bool:
        return (
            await count(
                "SELECT count(*) FROM catalog_sync.push_fields "
                f"WHERE field = 'stock' AND accepted_value = '{INITIAL_STOCK}'"
            )
            == listings
        )

    async def mapped() -> bool:
        return await count(
            "SELECT count(*) FROM catalog_sync.listing_imports "
            "WHERE outcome IN ('imported', 'unsupported')"
        ) == len(stores)

    await wait_for("a first poll of every store", polled, 120)
    await wait_for("the initial stock at every store", synced, 240)
    await wait_for("every store's product list read", mapped, 30)


async def place_orders(sim: httpx.AsyncClient, orders: list[PlannedOrder], rate: float) -> None:
    """Create the orders at `rate` per minute on the simulator."""
    started = time.perf_counter()
    tasks: set[asyncio.Task[None]] = set()

    async def one(order: PlannedOrder) -> None:
        order.created_at = time.time()
        response = await sim.post(
            f"/_sim/accounts/{order.store.account}/orders",
            json={
                "order_number": order.number,
                "lines": [{"sku": order.sku, "quantity": 1, "unit_price": "100.00"}],
            },
        )
        response.raise_for_status()

    for n, order in enumerate(orders):
        delay = started + n * 60 / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load, not synchronisation
        task = asyncio.create_task(one(order))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


@dataclass
class Result:
    """Measured samples."""

    windows: list[float]
    per_store: list[float]
    ingest: list[float]
    push: list[float]
    missing: int
    wrong_final: int
    orders: int
    by_platform: dict[str, list[float]]
    """Receiving store's platform -> creation -> that store received."""
    throttled: dict[str, int]
    """Platform -> responses 429 over the whole run (set-up included)."""
    arrived: dict[tuple[str, str], float]
    """(order number, receiving store) -> when the simulator received the new stock."""
    queued: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    pauses: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    """Orders whose stock did not reach every other store: number, platform, when."""


async def collect(
    sim: httpx.AsyncClient,
    stores: list[BenchStore],
    orders: list[PlannedOrder],
    watcher: DeductedWatcher,
    args: argparse.Namespace,
) -> Result:
    """Read, per order and other store of its group, when the new stock arrived."""
    others = {
        o.number: [s for s in stores if s.group == o.store.group and s is not o.store]
        for o in orders
    }
    skus_of_store = {
        s.store_id: [o.sku for o in orders if o.store.group == s.group] for s in stores
    }
    expected = INITIAL_STOCK - 1
    arrived: dict[tuple[str, str], float] = {}
    histories: dict[str, dict[str, list[tuple[int, float]]]] = {}
    deadline = time.monotonic() + args.poll_interval * 3 + 60

    async def read(store: BenchStore) -> None:
        histories[store.store_id] = await stock_histories(sim, store, skus_of_store[store.store_id])

    while True:
        await each(8, [read(s) for s in stores])
        for order in orders:
            for store in others[order.number]:
                for value, at in histories[store.store_id].get(order.sku, []):
                    if value <= expected:
                        arrived[(order.number, store.store_id)] = at
                        break
        done = len(arrived) == sum(len(v) for v in others.values())
        if done or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)  # polling the simulator for the last arrivals
    windows: list[float] = []
    per_store: list[float] = []
    ingest: list[float] = []
    push: list[float] = []
    by_platform: dict[str, list[float]] = {}
    lost: list[str] = []
    for order in orders:
        for store in others[order.number]:
            got = arrived.get((order.number, store.store_id))
            if got is not None:
                by_platform.setdefault(store.platform, []).append(got - order.created_at)
        times = [arrived.get((order.number, s.store_id)) for s in others[order.number]]
        if any(t is None for t in times):
            deducted = (order.store.store_id, order.number) in watcher.seen
            lost.append(
                f"{order.number} on {order.store.platform} at "
                f"{datetime.fromtimestamp(order.created_at, UTC):%H:%M:%S.%f} "
                f"(StockDeducted {'seen' if deducted else 'never seen'})"
            )
            continue
        last = max(t for t in times if t is not None)
        windows.append(last - order.created_at)
        per_store.extend(t - order.created_at for t in times if t is not None)
        seen = watcher.seen.get((order.store.store_id, order.number))
        if seen is not None:
            ingest.append(seen - order.created_at)
            push.append(last - seen)
    # No store of the group (store A included) ever shows less than initial - 1 on an ordered
    # SKU: the reference inventory's acknowledging levels did not take the sale off twice.
    wrong = sum(
        1
        for store in stores
        for sku in skus_of_store[store.store_id]
        if any(value < expected for value, _ in histories[store.store_id].get(sku, []))
    )
    missing = len(orders) - len(windows)
    throttled: dict[str, int] = {}
    for store in stores:
        log = (await sim.get(f"/_sim/accounts/{store.account}/requests")).json()
        throttled[store.platform] = throttled.get(store.platform, 0) + int(log["throttled"])
    return Result(
        windows,
        per_store,
        ingest,
        push,
        missing,
        wrong,
        len(orders),
        by_platform,
        throttled,
        arrived,
        lost=lost,
    )


async def diagnose(
    dsn: str,
    orders: list[PlannedOrder],
    stores: list[BenchStore],
    watcher: DeductedWatcher,
    result: Result,
) -> None:
    """Split catalog-sync's part: StockDeducted seen -> batch written (consume, queue, plan)
    and batch written -> received (send); and which stores were paused, why."""
    db = await asyncpg.connect(dsn)
    try:
        rows = await db.fetch(
            "SELECT b.store_id, i.sku, min(b.created_at) AS written "
            "FROM catalog_sync.push_batches b JOIN catalog_sync.push_batch_items i "
            "USING (batch_id) WHERE i.sku LIKE 'OV-%' AND b.created_at > $1 "
            "GROUP BY b.store_id, i.sku",
            datetime.fromtimestamp(min(o.created_at for o in orders), UTC),
        )
        pauses = await db.fetch(
            "SELECT pause_reason, count(*) AS n FROM catalog_sync.store_sync "
            "WHERE pause_reason IS NOT NULL GROUP BY pause_reason"
        )
    finally:
        await db.close()
    written = {(r["store_id"], r["sku"]): r["written"].timestamp() for r in rows}
    for order in orders:
        seen = watcher.seen.get((order.store.store_id, order.number))
        if seen is None:
            continue
        for store in stores:
            if store.group != order.store.group or store is order.store:
                continue
            at = written.get((store.store_id, order.sku))
            got = result.arrived.get((order.number, store.store_id))
            if at is not None:
                result.queued.append(at - seen)
                if got is not None:
                    result.sent.append(got - at)
    result.pauses = {str(r["pause_reason"]): int(r["n"]) for r in pauses}


def report(result: Result, args: argparse.Namespace) -> bool:
    """Print the figures and PASS/MISS; True when every line passed."""
    target = args.poll_interval + 2.0
    load = os.getloadavg()
    print(
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; "
        f"{result.orders} orders at {args.rate:.0f}/min over {args.stores} stores, "
        f"poll interval {args.poll_interval:g} s (jitter ±20%)"
    )

    def line(name: str, samples: list[float]) -> str:
        if not samples:
            return f"{name}: no samples"
        return (
            f"{name}: p50 {percentile(samples, 50):.2f} s  p99 {percentile(samples, 99):.2f} s  "
            f"max {max(samples):.2f} s  (n={len(samples)})"
        )

    print(line("order-ingest part (creation -> StockDeducted on Kafka)", result.ingest))
    print(line("catalog-sync part (StockDeducted -> last of B-F received)", result.push))
    print(line("  StockDeducted -> batch written, per store", result.queued))
    print(line("  batch written -> received, per store", result.sent))
    print(f"  stores paused at the end: {result.pauses or 'none'}")
    print(line("per receiving store (creation -> that store received)", result.per_store))
    for platform, samples in sorted(result.by_platform.items()):
        print(line(f"  received at {platform} stores", samples))
    print(line("oversell window (creation -> every other store received)", result.windows))
    print(f"responses 429 per platform (whole run): {result.throttled}")
    ok = bool(result.windows) and result.missing == 0
    p99 = percentile(result.windows, 99) if result.windows else float("inf")
    print(
        f"oversell window p99 {p99:.2f} s; target <= poll interval {args.poll_interval:g} s "
        f"+ 2 s = {target:.1f} s  {'PASS' if ok and p99 <= target else 'MISS'}"
    )
    print(
        f"orders whose stock never reached every other store: {result.missing}  "
        f"{'PASS' if result.missing == 0 else 'MISS'}"
    )
    for text in result.lost[:10]:
        print(f"  not everywhere: {text}")
    print(
        f"listings ever below initial - sold (a movement counted twice): "
        f"{result.wrong_final}  {'PASS' if result.wrong_final == 0 else 'MISS'}"
    )
    return ok and p99 <= target and result.wrong_final == 0


def main() -> int:
    """Parse flags and run (or serve one service as a child)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="orders per minute")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured phase")
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve_child(args.serve[0], Path(args.serve[1]))
    if args.stores < 2:
        parser.error("--stores must be at least 2")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
