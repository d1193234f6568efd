"""catalog-sync pushing SKU changes to six stores (one per platform) on marketplace-sim.

(a) Push efficiency. Six stores, one per platform, each with the simulator's documented rate
    limits ON. Every store gets N changed SKUs (stock changes, update type `stock`); the
    per-item platforms (Amazon, IdeaSoft) get M (`--per-item-items`), because at their
    documented rates 100,000 items take 5.5 h (Amazon, 5/s) and 17 h (IdeaSoft, 1.6/s). The
    service's own push loop (`PushLoop`, PostgreSQL ledger, the adapters of libs/marketplaces)
    runs in this process until every item has settled. Figures, read from the simulator's
    per-account counters (`GET /_sim/accounts/{id}/requests`):
      - push requests ÷ theoretical minimum (ceil(items ÷ max batch), or items for per-item
        platforms): target 1.00;
      - responses 429: target 0; identical repeats: target 0;
      - wall time ÷ the rate-limit bound (per store: the time the documented bucket of its
        push endpoint needs for that many requests after its burst; the bound of the run is
        the largest): target ≤ 1.1. The adapters pace 3% under the documented rates
        (`RATE_MARGIN`, see below), so 1.03 is the floor.
    Scale: seeding the simulator's listings (one control call per listing) runs at roughly
    50-100 listings/s on 2 shared cores, so the default N = 100,000 takes over an hour to
    seed; `--items 5000 --per-item-items 80` runs in about 5 minutes.
    Baseline, same run: the same stores receive new values for the same SKUs straight through
    the adapters (optimal batches, no database, no ledger), and its wall time is measured
    the same way. Ratio = service wall ÷ baseline wall.
(c) Memory. A fresh database holds S SKUs (`--memory-skus`, default 1,000,000) with a price
    and a stock level each, and six stores; K SKUs per store (`--memory-dirty`) are queued.
    A child process runs catalog-sync's push loop over them (simulator accounts without
    rate limits) and reports its peak RSS (ru_maxrss); a second child only starts the same
    components without work (baseline). Target ≤ 300 MB.

Servers: KERVAN_POSTGRES_DSN (superuser) when set, otherwise PostgreSQL started by
kervan_devstack. The simulator runs as a child process.

Usage: `uv run python bench/bench_catalog_sync.py [--items 100000] [--per-item-items 100]
[--memory-skus 1000000] [--memory-dirty 500] [--skip-push] [--skip-memory]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
from catalog_sync.adapters.marketplace import CredentialsSource, FactoryAdapterProvider
from catalog_sync.adapters.postgres import PostgresUnitOfWorkFactory
from catalog_sync.app.pusher import PushContext, PushSettings
from catalog_sync.app.scheduler import LoopSettings, PushLoop
from catalog_sync.bootstrap import migration_set, utc_now
from marketplace_sim.testing import TEST_ACCOUNTS
from pydantic import SecretStr

from kervan_contracts.identifiers import Platform
from kervan_marketplaces import (
    AdapterFactory,
    IntegratorIdentity,
    MarketplaceSettings,
    PlatformUrls,
    capabilities_of,
)
from kervan_marketplaces.models import PriceStockItem
from kervan_servicekit import PostgresSettings, create_pool, migrate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "catalog_sync"
REDIRECT = "https://kervan.example/callback"
BATCH_DELAY_SECONDS = 0.2
FOLLOW_INTERVAL = timedelta(seconds=0.25)
PER_ITEM_GROUP = 20
# The adapters pace themselves at the documented rate; requests reach the simulator with a few
# ms of jitter, so pacing at exactly the limit occasionally lands a request just early (one
# 429 per few hundred). Both the service and the baseline run 3% under the documented rates;
# the bound below is computed from the documented rates themselves.
RATE_MARGIN = 0.97

# The endpoint (bucket) each platform's stock push goes through: in the adapters' documented
# limits (`capabilities_of(p).rate_limits`) and in the simulator's per-account counters.
PUSH_LIMIT = {
    "trendyol": "trendyol.price_inventory",
    "hepsiburada": "hepsiburada.uploads",
    "n11": "n11.tasks",
    "amazon_tr": "amazon.patchListingsItem",
    "ideasoft": "ideasoft.products",
    "tsoft": "tsoft.products",
}
# The same endpoint as the simulator names it in its per-account counters.
SIM_PUSH_ENDPOINT = {
    "trendyol": "updatePriceAndInventory",
    "hepsiburada": "stock-uploads",
    "n11": "priceStockUpdate",
    "amazon_tr": "patchListingsItem",
    "ideasoft": "putProduct",
    "tsoft": "updateProducts",
}
# Fields identifying a simulator account: suffixed so each run has its own accounts.
IDENTITY_FIELD = {
    "trendyol": "seller_id",
    "hepsiburada": "merchant_id",
    "n11": "app_key",
    "amazon_tr": "selling_partner_id",
    "ideasoft": "store_domain",
    "tsoft": "store_domain",
}
PER_ITEM = {"amazon_tr", "ideasoft"}


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A superuser PostgreSQL DSN: KERVAN_POSTGRES_DSN, or a devstack PostgreSQL."""
    dsn = os.environ.get("KERVAN_POSTGRES_DSN")
    if dsn:
        yield dsn
        return
    from kervan_devstack import Devstack  # noqa: PLC0415  (only when no endpoint is given)

    state_dir = ROOT / ".devstack" / f"bench-catalog-sync-{secrets.token_hex(4)}"
    state_dir.mkdir(parents=True)
    state_dir.chmod(0o755)
    stack = Devstack(state_dir, ports="auto")
    try:
        yield stack.up(["postgres"]).postgres_dsn
    finally:
        stack.down(["postgres"])
        shutil.rmtree(state_dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def database(admin_dsn: str) -> AsyncIterator[str]:
    """A fresh database with catalog-sync's schema, dropped afterwards."""
    name = f"bench_cs_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    dsn = urlsplit(admin_dsn)._replace(path=f"/{name}").geturl()
    try:
        await migrate(dsn, SCHEMA, migration_set())
        yield dsn
    finally:
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@contextlib.asynccontextmanager
async def simulator() -> AsyncIterator[str]:
    """marketplace-sim in a child process (documented limits on); yields its base URL."""
    port = free_port()
    env = {**os.environ, "MARKETPLACE_SIM_BATCH_DELAY_SECONDS": str(BATCH_DELAY_SECONDS)}
    process = subprocess.Popen(  # noqa: ASYNC220  (started once, stopped below)
        [sys.executable, "-m", "marketplace_sim", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
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
                await asyncio.sleep(0.1)  # polling the start, not synchronisation
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def marketplace_settings(sim: str) -> MarketplaceSettings:
    """Every platform's URLs pointed at the simulator."""
    urls = {}
    for platform in Platform:
        name = platform.value
        roles = ("oms", "listing", "catalog") if name == "hepsiburada" else ("api",)
        prod = dict.fromkeys(roles, f"{sim}/{name}")
        sandbox = dict.fromkeys(roles, f"{sim}/{name}-sandbox")
        if name == "amazon_tr":
            for table, base in ((prod, f"{sim}/amazon_tr"), (sandbox, f"{sim}/amazon_tr-sandbox")):
                table["lwa"] = f"{base}/auth/o2/token"
                table["consent"] = f"{base}/apps/authorize/consent"
        urls[name] = PlatformUrls(production=prod, sandbox=sandbox)
    return MarketplaceSettings(
        urls=urls,
        simulator_origins=[sim],
        check_dns=False,
        rate_limit_scale=RATE_MARGIN,
        integrator=IntegratorIdentity(
            trendyol_integrator_name="Kervan",
            amazon_lwa_client_id="amzn1.application-oa2-client.kervan-sim",  # type: ignore[arg-type]
            amazon_lwa_client_secret="kervan-sim-lwa-secret",  # type: ignore[arg-type]
            amazon_application_id="amzn1.sp.solution.kervan-sim",
            oauth_redirect_uri=REDIRECT,
        ),
    )


@dataclass
class Store:
    """One bench store: its platform, simulator account, credentials and item count."""

    store_id: str
    platform: str
    account: str
    seller_id: str
    credentials: dict[str, str]
    items: int
    product_ids: dict[str, str]


def sku(i: int) -> str:
    """The i-th bench SKU."""
    return f"B-{i:07d}"


async def create_store(
    client: httpx.AsyncClient,
    factory: AdapterFactory,
    platform: str,
    tag: str,
    items: int,
    *,
    rate_limits: bool,
) -> Store:
    """A simulator account with `items` listings, and the credentials catalog-sync uses."""
    seller_id, base = TEST_ACCOUNTS[platform]
    credentials = dict(base)
    field = IDENTITY_FIELD[platform]
    credentials[field] = f"{tag}-{credentials[field]}"
    if field == "seller_id":
        seller_id = credentials[field] = str(900_000 + int(secrets.token_hex(2), 16))
    elif platform == "amazon_tr":
        seller_id = credentials[field] = f"A{secrets.token_hex(6).upper()}"
    else:
        seller_id = credentials[field]
    body = {
        "platform": platform,
        "seller_id": seller_id,
        "credentials": credentials,
        "rate_limits": rate_limits,
    }
    response = await client.post("/_sim/accounts", json=body)
    response.raise_for_status()
    account = str(response.json()["account_id"])
    if platform == "ideasoft":
        credentials.update(await ideasoft_tokens(client, factory, credentials))
    product_ids = await seed_listings(client, account, items)
    store_id = f"{tag}-{platform.replace('_', '-')}"
    return Store(store_id, platform, account, seller_id, credentials, items, product_ids)


async def ideasoft_tokens(
    client: httpx.AsyncClient, factory: AdapterFactory, credentials: dict[str, str]
) -> dict[str, str]:
    """IdeaSoft: the authorisation-code flow against the simulator's panel."""
    adapter: Any = factory.create(
        "ideasoft",
        store_id="consent",
        seller_id=credentials["store_domain"],
        credentials=credentials,
    )
    url = adapter.authorize_url(redirect_uri=REDIRECT, state="bench")
    response = await client.get(url, follow_redirects=False)
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    tokens = await adapter.exchange_code(code=code, redirect_uri=REDIRECT)
    return {name: value.get_secret_value() for name, value in tokens.items()}


async def seed_listings(client: httpx.AsyncClient, account: str, items: int) -> dict[str, str]:
    """Listings B-0000000.. with stock 0; returns SKU → product id."""
    gate = asyncio.Semaphore(32)
    product_ids: dict[str, str] = {}

    async def one(i: int) -> None:
        async with gate:
            body = {"barcode": sku(i), "price": "100.00", "stock": 0}
            response = await client.put(f"/_sim/accounts/{account}/listings/{sku(i)}", json=body)
            response.raise_for_status()
            product_ids[sku(i)] = str(response.json()["shown"]["product_id"])

    await asyncio.gather(*(one(i) for i in range(items)))
    return product_ids


async def seed_catalogue(
    pool: asyncpg.Pool, skus: int, stores: list[Store], *, dirty: Mapping[str, int]
) -> None:
    """The projection: `skus` products with a price and a stock level; stores; queue."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO products (sku, title, barcode, event_at) "
            "SELECT 'B-' || lpad(i::text, 7, '0'), 'Bench product ' || i, "
            "'B-' || lpad(i::text, 7, '0'), $2 FROM generate_series(0, $1 - 1) AS i",
            skus,
            now,
        )
        await conn.execute(
            "INSERT INTO prices (sku, price_list_id, sale_price, list_price, currency, event_at) "
            "SELECT sku, 'pl-main', 100, 120, 'TRY', event_at FROM products"
        )
        await conn.execute(
            "INSERT INTO stock_levels (warehouse_id, sku, level, as_of) "
            "SELECT 'wh-1', sku, 1 + (hashtext(sku) & 63), $1 FROM products",
            now,
        )
        for store in stores:
            await conn.execute(
                "INSERT INTO stores (store_id, platform, active, test_mode, "
                "product_update_enabled, update_type, price_list_id, warehouse_id, version) "
                "VALUES ($1, $2, true, false, true, 'stock', 'pl-main', 'wh-1', 1)",
                store.store_id,
                store.platform,
            )
            await conn.execute(
                "INSERT INTO api_status (store_id, status, checked_at) VALUES ($1, 'valid', $2)",
                store.store_id,
                now - timedelta(minutes=5),
            )
            # The listing map counts as read already: (a) measures pushes, not the one-off
            # read of a store's product list before its first push (app/listings.py).
            await conn.execute(
                "INSERT INTO listing_imports (store_id, imported_at, outcome) "
                "VALUES ($1, $2, 'imported')",
                store.store_id,
                now,
            )
            if store.platform == "ideasoft":
                await conn.executemany(
                    "INSERT INTO listings (store_id, sku, platform_sku, product_id, source, "
                    "updated_at) VALUES ($1, $2, $3, $3, 'bench', $4)",
                    [(store.store_id, s, p, now) for s, p in store.product_ids.items()],
                )
            await conn.execute(
                "INSERT INTO dirty_skus (store_id, sku, marked_at, due_at) "
                "SELECT $1, sku, $2, $2 FROM products ORDER BY sku LIMIT $3",
                store.store_id,
                now,
                dirty[store.store_id],
            )
        await conn.execute("ANALYZE")


async def counters(client: httpx.AsyncClient, store: Store) -> dict[str, int]:
    """The simulator's counters of a store's account: push requests, 429s, repeats."""
    response = await client.get(f"/_sim/accounts/{store.account}/requests")
    response.raise_for_status()
    data = response.json()
    push = data["by_endpoint"].get(SIM_PUSH_ENDPOINT[store.platform], {})
    return {
        "total": int(data["total"]),
        "push": int(push.get("count", 0)),
        "throttled": int(data["throttled"]),
        "repeats": int(data["identical_repeats"]),
        **{f"endpoint:{k}": int(v["count"]) for k, v in data["by_endpoint"].items()},
    }


def minimum_requests(store: Store) -> int:
    """Fewest push requests the platform's batch size allows."""
    size = capabilities_of(store.platform).max_items_per_request["price_stock"]
    return math.ceil(store.items / size)


def rate_bound_seconds(store: Store) -> float:
    """Least time the documented bucket of the push endpoint needs for the minimum."""
    limit = next(
        x
        for x in capabilities_of(store.platform).rate_limits
        if x.endpoint == PUSH_LIMIT[store.platform]
    )
    extra = max(0, minimum_requests(store) - limit.burst)
    return extra * limit.per_seconds / limit.requests


def push_context(dsn: str, sim: str, client: httpx.AsyncClient, stores: list[Store]) -> Any:
    """A context manager giving (PushContext, pool) wired to the simulator."""

    @contextlib.asynccontextmanager
    async def manager() -> AsyncIterator[tuple[PushContext, asyncpg.Pool]]:
        pool = await create_pool(PostgresSettings(dsn=SecretStr(dsn), schema_name=SCHEMA))
        factory = AdapterFactory(marketplace_settings(sim), client=client)
        credentials = CredentialsSource(static={s.store_id: s.credentials for s in stores})
        ctx = PushContext(
            uow=PostgresUnitOfWorkFactory(pool, SCHEMA),
            adapters=FactoryAdapterProvider(factory, credentials),
            clock=utc_now,
            settings=PushSettings(follow_interval=FOLLOW_INTERVAL, per_item_group=PER_ITEM_GROUP),
        )
        try:
            yield ctx, pool
        finally:
            await pool.close()

    return manager()


async def run_push_loop(ctx: PushContext, pool: asyncpg.Pool, *, limit_seconds: float) -> float:
    """Run the service's push loop until the queue is empty and every batch settled."""
    loop = PushLoop(ctx, LoopSettings(tick_seconds=0.05))
    started = time.perf_counter()
    await loop.start()
    try:
        deadline = time.monotonic() + limit_seconds
        while True:
            left = await pool.fetchval(
                "SELECT (SELECT count(*) FROM dirty_skus) + (SELECT count(*) FROM push_batches "
                "WHERE status <> 'completed')"
            )
            if left == 0:
                return time.perf_counter() - started
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} items/batches still open after {limit_seconds}s")
            await asyncio.sleep(0.05)  # polling the database for completion
    finally:
        await loop.stop()


async def run_baseline(sim: str, client: httpx.AsyncClient, stores: list[Store]) -> float:
    """The same SKUs, new quantities, straight through the adapters in optimal batches."""
    factory = AdapterFactory(marketplace_settings(sim), client=client)

    async def one(store: Store) -> None:
        adapter = factory.create(
            store.platform,
            store_id=store.store_id,
            seller_id=store.seller_id,
            credentials=store.credentials,
        )
        size = capabilities_of(store.platform).max_items_per_request["price_stock"]
        if store.platform in PER_ITEM:
            size = PER_ITEM_GROUP
        handles = []
        for start in range(0, store.items, size):
            items = [
                PriceStockItem(
                    sku=sku(i),
                    barcode=sku(i),
                    platform_sku=store.product_ids.get(sku(i))
                    if store.platform == "ideasoft"
                    else None,
                    quantity=100 + (i % 7),
                )
                for i in range(start, min(store.items, start + size))
            ]
            handles.append(await adapter.push_price_stock(items))
        for handle in handles:
            while True:
                result = await adapter.batch_result(handle)
                if result.done:
                    break
                await asyncio.sleep(FOLLOW_INTERVAL.total_seconds())  # follow interval

    started = time.perf_counter()
    await asyncio.gather(*(one(store) for store in stores))
    return time.perf_counter() - started


async def bench_push(admin_dsn: str, items: int, per_item_items: int) -> dict[str, Any]:
    """Part (a)."""
    async with simulator() as sim, httpx.AsyncClient(base_url=sim, timeout=60) as client:
        factory = AdapterFactory(marketplace_settings(sim), client=client)
        tag = f"a{secrets.token_hex(2)}"
        t0 = time.perf_counter()
        stores = [
            await create_store(
                client,
                factory,
                p.value,
                tag,
                per_item_items if p.value in PER_ITEM else items,
                rate_limits=True,
            )
            for p in Platform
        ]
        print(f"seeded simulator listings in {time.perf_counter() - t0:.1f}s", flush=True)
        async with database(admin_dsn) as dsn:
            conn = await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA})
            try:
                dirty = {s.store_id: s.items for s in stores}
                await seed_catalogue(_single(conn), items, stores, dirty=dirty)
            finally:
                await conn.close()
            before = {s.store_id: await counters(client, s) for s in stores}
            bound = max(rate_bound_seconds(s) for s in stores)
            async with push_context(dsn, sim, client, stores) as (ctx, pg):
                wall = await run_push_loop(ctx, pg, limit_seconds=max(600.0, bound * 3))
                outcomes = dict(
                    await pg.fetch("SELECT outcome, count(*) FROM push_fields GROUP BY outcome")
                )
            after = {s.store_id: await counters(client, s) for s in stores}
        await asyncio.sleep(3)  # let the simulator's buckets refill before the baseline
        base_before = {s.store_id: await counters(client, s) for s in stores}
        baseline = await run_baseline(sim, client, stores)
        base_after = {s.store_id: await counters(client, s) for s in stores}

    rows = []
    for s in stores:
        b, a = before[s.store_id], after[s.store_id]
        rows.append(
            {
                "store": s.platform,
                "items": s.items,
                "push_requests": a["push"] - b["push"],
                "minimum": minimum_requests(s),
                "ratio": (a["push"] - b["push"]) / minimum_requests(s),
                "all_requests": a["total"] - b["total"],
                "throttled": a["throttled"] - b["throttled"],
                "identical_repeats": a["repeats"] - b["repeats"],
                "bound_s": round(rate_bound_seconds(s), 2),
                "by_endpoint": {
                    k.split(":", 1)[1]: v - b.get(k, 0)
                    for k, v in a.items()
                    if k.startswith("endpoint:") and v - b.get(k, 0)
                },
                "baseline_push_requests": base_after[s.store_id]["push"]
                - base_before[s.store_id]["push"],
                "baseline_throttled": base_after[s.store_id]["throttled"]
                - base_before[s.store_id]["throttled"],
            }
        )
    return {
        "stores": rows,
        "outcomes": {str(k): int(v) for k, v in outcomes.items()},
        "wall_s": round(wall, 2),
        "rate_limit_bound_s": round(bound, 2),
        "wall_over_bound": round(wall / bound, 3) if bound else None,
        "baseline_wall_s": round(baseline, 2),
        "wall_over_baseline": round(wall / baseline, 3),
    }


async def memory_child(dsn: str, sim: str, stores: list[Store], *, idle: bool) -> None:
    """In a child process: run the push loop (or start it idle); print peak RSS in KiB."""
    async with (
        httpx.AsyncClient(base_url=sim, timeout=60) as client,
        push_context(dsn, sim, client, stores) as (ctx, pool),
    ):
        if idle:
            await pool.fetchval("SELECT count(*) FROM stores")
        else:
            await run_push_loop(ctx, pool, limit_seconds=1800)
    print(json.dumps({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


async def bench_memory(admin_dsn: str, skus: int, dirty: int, work: Path) -> dict[str, Any]:
    """Part (c)."""
    async with simulator() as sim, httpx.AsyncClient(base_url=sim, timeout=60) as client:
        factory = AdapterFactory(marketplace_settings(sim), client=client)
        tag = f"m{secrets.token_hex(2)}"
        stores = [
            await create_store(client, factory, p.value, tag, dirty, rate_limits=False)
            for p in Platform
        ]
        async with database(admin_dsn) as dsn:
            t0 = time.perf_counter()
            conn = await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA})
            try:
                await seed_catalogue(
                    _single(conn), skus, stores, dirty={s.store_id: dirty for s in stores}
                )
            finally:
                await conn.close()
            print(f"seeded {skus:,} SKUs in {time.perf_counter() - t0:.1f}s", flush=True)
            stores_file = work / f"stores-{tag}.json"
            stores_file.write_text(json.dumps([s.__dict__ for s in stores]))
            try:
                results = {}
                for mode in ("idle", "work"):
                    t0 = time.perf_counter()
                    out = subprocess.run(  # noqa: ASYNC221  (a child measured on its own)
                        [sys.executable, __file__, "--memory-child", dsn, sim, str(stores_file)]
                        + (["--idle"] if mode == "idle" else []),
                        check=True,
                        capture_output=True,
                        text=True,
                        cwd=ROOT,
                    )
                    line = out.stdout.strip().splitlines()[-1]
                    results[mode] = (json.loads(line)["maxrss_kib"], time.perf_counter() - t0)
            finally:
                stores_file.unlink(missing_ok=True)
    idle_mb, work_mb = results["idle"][0] / 1024, results["work"][0] / 1024
    return {
        "skus": skus,
        "stores": len(stores),
        "queued_per_store": dirty,
        "peak_rss_mb": round(work_mb, 1),
        "baseline_idle_rss_mb": round(idle_mb, 1),
        "ratio_to_baseline": round(work_mb / idle_mb, 3),
        "push_seconds": round(results["work"][1], 1),
    }


def _single(conn: asyncpg.Connection) -> Any:
    class _One:
        def acquire(self) -> Any:
            @contextlib.asynccontextmanager
            async def hold() -> AsyncIterator[asyncpg.Connection]:
                yield conn

            return hold()

    return _One()


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="changed SKUs per batch store")
    parser.add_argument(
        "--per-item-items", type=int, default=100, help="changed SKUs on Amazon and IdeaSoft"
    )
    parser.add_argument("--memory-skus", type=int, default=1_000_000)
    parser.add_argument("--memory-dirty", type=int, default=500)
    parser.add_argument("--skip-push", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        dsn, sim, stores_file = args.memory_child
        stores = [Store(**s) for s in json.loads(Path(stores_file).read_text())]
        asyncio.run(memory_child(dsn, sim, stores, idle=args.idle))
        return 0
    report: dict[str, Any] = {}
    with postgres() as admin_dsn:
        if not args.skip_push:
            report["push"] = asyncio.run(bench_push(admin_dsn, args.items, args.per_item_items))
            print(json.dumps(report["push"], indent=2), flush=True)
        if not args.skip_memory:
            work = ROOT / ".devstack"
            work.mkdir(exist_ok=True)
            report["memory"] = asyncio.run(
                bench_memory(admin_dsn, args.memory_skus, args.memory_dirty, work)
            )
            print(json.dumps(report["memory"], indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
