"""store-registry under load: 32 concurrent connections from wrk against the real service.

Measures p50/p99 of GET /v1/stores (list), GET /v1/stores/{id} and PUT .../settings/orders
with `wrk` (C, one thread, closed loop: each connection sends its next request when the answer
to the previous one arrived), and the time from sending a write to its event being on Kafka.
A C load generator keeps the client's CPU share small; client, service, PostgreSQL and Kafka
still share the machine's cores.

Write → event: every PUT carries `X-Correlation-ID: wrk-<phase>-<store>-<send time in µs>`,
which the service copies into the event's envelope. The bench topic is created (before the
service starts) with the production spec plus `message.timestamp.type=LogAppendTime`, so each
record's timestamp is the moment the broker appended it; after the phase the bench reads the
topic and takes append time minus send time for every event of the measured phase.

Baselines measured in the same run: GET /healthz with the same wrk settings (HTTP stack with no
work) and the store lookup as a bare asyncpg query at the same concurrency from Python (the
database share). Ratios to /healthz are printed next to each call.

Servers: endpoints from KERVAN_KAFKA_BOOTSTRAP / KERVAN_POSTGRES_DSN when set, otherwise Kafka
and PostgreSQL started by kervan_devstack (state dir under the system temp dir, stopped at the
end). The service runs as `python -m store_registry` in its own process(es).

Usage: `uv run python bench/bench_store_registry.py [--seconds 10] [--concurrency 32]
[--workers 2] [--only-writes]` (needs `wrk` on PATH: `apt-get install wrk`). Exit status 1
when a target is missed or a request failed. `--only-writes` skips the GET phases (to profile
the writes: `py-spy record --subprocesses --pid <service pid>`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from benchkit import free_port, infrastructure, percentile, scratch_database
from kervan_contracts.topics import TOPICS
from kervan_servicekit.topics import ensure_topics

TOKEN = "bench-admin-" + secrets.token_hex(8)
AUTH = {"Authorization": f"Bearer {TOKEN}"}

ROOT = Path(__file__).resolve().parents[1]


def ms(seconds: float) -> float:
    """Seconds as milliseconds."""
    return seconds * 1000


GET_TARGET_MS, WRITE_TARGET_MS, EVENT_TARGET_MS = 25.0, 50.0, 500.0
SHUTDOWN: list[tuple[float, int]] = []
"""(seconds to exit after SIGTERM, exit code)."""

# wrk runs each script in its own LuaJIT state. `done` prints the figures as one JSON line.
_LUA_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d,'
    .. ' "p99_us": %d, "max_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""
_LUA_STATIC = _LUA_DONE
# GET of one store, cycling through the ids listed in the file given as the first argument.
_LUA_GET = (
    """
local ids, n, i = {}, 0, 0
local token = os.getenv("BENCH_TOKEN")
function init(args)
  for line in io.lines(args[1]) do n = n + 1; ids[n] = line:match("^(%S+)") end
end
function request()
  i = i % n + 1
  return wrk.format("GET", "/v1/stores/" .. ids[i], {["Authorization"] = "Bearer " .. token})
end
"""
    + _LUA_DONE
)
# PUT of the Orders tab with the real If-Match of each store. Lines of the file: "<id> <version>".
# A store is only ever in flight on one connection (free list), so writes never race each other
# into a 412; the answer's ETag (found through the echoed correlation id) is the next If-Match.
# Every write flips the warehouse, so every write is a change with an event.
_LUA_PUT = (
    """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_us()  -- as digits: a double would print as 1.7e+15
  ffi.C.gettimeofday(tv, nil)
  return string.format("%d%06d", tonumber(tv.tv_sec), tonumber(tv.tv_usec))
end
local ids, versions, free = {}, {}, {}
local phase = "run"
local token = os.getenv("BENCH_TOKEN")
function init(args)
  for line in io.lines(args[1]) do
    local id, version = line:match("^(%S+)%s+(%d+)")
    ids[#ids + 1] = id
    versions[#ids] = tonumber(version)
    free[#free + 1] = #ids
  end
  phase = args[2] or phase
end
function request()
  -- wrk calls request() once more to check the script; the store it takes is never freed,
  -- hence the spare stores.
  local k = table.remove(free)
  local v = versions[k]
  local body = '{"order_transfer_enabled":true,"default_warehouse_id":"'
    .. ((v % 2 == 1) and "w1" or "w2")
    .. '","cargo_company_id":null,"stock_deduction_enabled":true}'
  return wrk.format("PUT", "/v1/stores/" .. ids[k] .. "/settings/orders", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["If-Match"] = '"' .. v .. '"',
    ["X-Correlation-ID"] = "wrk-" .. phase .. "-" .. k .. "-" .. now_us(),
  }, body)
end
function response(status, headers, body)
  local cid = headers["x-correlation-id"] or headers["X-Correlation-ID"] or ""
  local k = tonumber(cid:match("^wrk%-[%a]+%-(%d+)%-"))
  if k == nil then return end
  local etag = headers["etag"] or headers["ETag"]
  if status == 200 and etag then versions[k] = tonumber(etag:match("(%d+)")) end
  free[#free + 1] = k
end
"""
    + _LUA_DONE
)


@dataclasses.dataclass(frozen=True)
class WrkResult:
    """One wrk run: latencies in ms."""

    requests: int
    seconds: float
    p50: float
    p90: float
    p99: float
    max: float
    errors: int
    service_cpu_ms: float = 0.0
    """CPU time the service's processes spent per request (ms)."""
    postgres_cpu_ms: float = 0.0
    """CPU time the database's server processes spent per request (ms)."""

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


async def create_bench_topic(kafka: str, topic: str) -> None:
    """The stores topic as the service would create it, but stamped with the append time."""
    spec = TOPICS["kervan.stores.v1"]
    config = {**spec.extra_config, "message.timestamp.type": "LogAppendTime"}
    await ensure_topics(kafka, [dataclasses.replace(spec, name=topic, extra_config=config)])


_BUCKET = "kervan_store_registry_http_request_duration_seconds_bucket{"
_PUT_LABELS = 'method="PUT",route="/v1/stores/{store_id}/settings/orders"'
_LE = re.compile(r'le="([^"]+)".*\} ([0-9.e+]+)$')


async def put_durations(base: str, workers: int) -> dict[str, float]:
    """The service's own histogram of settings PUTs (time inside the process), all workers.

    Each worker answers `/metrics` for itself; the supervisor hands fresh connections to the
    workers in turn, so `workers` fresh connections reach each once.
    """
    buckets: dict[str, float] = {}
    for _ in range(workers):
        async with httpx.AsyncClient(base_url=base) as client:
            text = (await client.get("/metrics", headers={"Connection": "close"})).text
        for metric_line in text.splitlines():
            if metric_line.startswith(_BUCKET) and _PUT_LABELS in metric_line:
                match = _LE.search(metric_line)
                if match:
                    buckets[match[1]] = buckets.get(match[1], 0.0) + float(match[2])
    return buckets


def subtract(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """Bucket counts of what happened between two scrapes."""
    return {le: count - before.get(le, 0.0) for le, count in after.items()}


def connections_per_process(port: int) -> list[int]:
    """Established connections to the local TCP `port`, per serving process (largest first)."""
    counts: dict[int, int] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if (
            conn.status == psutil.CONN_ESTABLISHED
            and conn.pid is not None
            and getattr(conn.laddr, "port", None) == port
        ):
            counts[conn.pid] = counts.get(conn.pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def listeners(port: int) -> int:
    """How many processes listen on the TCP `port`."""
    return len(
        {
            conn.pid
            for conn in psutil.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and getattr(conn.laddr, "port", None) == port
        }
    )


@contextlib.asynccontextmanager
async def service(
    kafka: str, dsn: str, topic: str, workers: int | None
) -> AsyncIterator[tuple[str, int]]:
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
    if workers is not None:
        env["STORE_REGISTRY_WORKERS"] = str(workers)
    process = subprocess.Popen(  # noqa: ASYNC220  (started once, stopped below)
        [sys.executable, "-m", "store_registry"], env=env, cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    # With several workers the supervisor hands new connections to them in
                    # turn: one fresh connection per worker, each answering, means all are up.
                    answers = [
                        await client.get("/readyz", headers={"Connection": "close"})
                        for _ in range(workers or 1)
                    ]
                    if listeners(port) >= 1 and all(a.status_code == 200 for a in answers):
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("store-registry did not become ready")
                await asyncio.sleep(0.2)
        yield base, process.pid
    finally:
        stopping = time.perf_counter()
        process.terminate()  # SIGTERM: graceful shutdown (readiness off, relay, consumer, pool)
        try:
            process.wait(timeout=30)
            SHUTDOWN.append((time.perf_counter() - stopping, process.returncode))
        except subprocess.TimeoutExpired:
            process.kill()


async def wrk(
    url: str,
    *,
    script: str,
    seconds: float,
    connections: int,
    args: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    """Run wrk (one thread, `connections` connections) and parse the JSON line of `done`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        handle.name,
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    if args:
        command += ["--", *args]
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "BENCH_TOKEN": TOKEN},
        )
        out, err = await process.communicate()
    finally:
        os.unlink(handle.name)
    for line in out.decode().splitlines():
        if line.startswith("WRK_RESULT "):
            raw = json.loads(line.removeprefix("WRK_RESULT "))
            return WrkResult(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                p50=raw["p50_us"] / 1000,
                p90=raw["p90_us"] / 1000,
                p99=raw["p99_us"] / 1000,
                max=raw["max_us"] / 1000,
                errors=raw["errors"],
            )
    raise RuntimeError(
        f"wrk printed no result (exit {process.returncode}): {out.decode()} {err.decode()}"
    )


async def python_load(
    concurrency: int, total: int, call: Callable[[int], Awaitable[None]]
) -> list[float]:
    """`total` calls spread over `concurrency` coroutines; returns each call's latency (s)."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for n in counter:
            started = time.perf_counter()
            await call(n)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def event_latencies(kafka: str, topic: str, phase: str) -> list[float]:
    """Append time minus send time (s) of every event the PUTs of `phase` produced."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        count = TOPICS["kervan.stores.v1"].partitions  # the bench created the topic so
        partitions = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        prefix = f"wrk-{phase}-"
        latencies: list[float] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
                    if record.value is None:
                        continue
                    correlation = json.loads(record.value).get("correlation_id") or ""
                    if not correlation.startswith(prefix):
                        continue
                    if record.timestamp_type != 1:
                        raise RuntimeError("the bench topic must use LogAppendTime")
                    sent_us = int(correlation.rsplit("-", 1)[1])
                    latencies.append(record.timestamp / 1000 - sent_us / 1e6)
        return latencies
    finally:
        await consumer.stop()


def _process_cpu(process: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        times = process.cpu_times()
        return float(times.user + times.system)
    return 0.0


async def cpu_seconds(service_pid: int, dsn: str) -> tuple[float, float]:
    """CPU seconds used so far by the service (with its workers) and the database's backends.

    Per-request CPU does not depend on what else the machine runs, unlike latency.
    """
    service = psutil.Process(service_pid)
    service_cpu = _process_cpu(service) + sum(
        _process_cpu(child) for child in service.children(recursive=True)
    )
    conn = await asyncpg.connect(dsn)
    try:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    database_cpu = 0.0
    for row in pids:
        with contextlib.suppress(psutil.Error):
            database_cpu += _process_cpu(psutil.Process(row["pid"]))
    return service_cpu, database_cpu


def line(name: str, result: WrkResult, baseline: WrkResult | None = None) -> str:
    text = (
        f"{name:<36} p50 {result.p50:7.2f} ms   p90 {result.p90:7.2f} ms   "
        f"p99 {result.p99:7.2f} ms   max {result.max:7.1f} ms   "
        f"{result.rate:6.0f} req/s   CPU/req service {result.service_cpu_ms:.2f} ms, "
        f"PostgreSQL {result.postgres_cpu_ms:.2f} ms"
    )
    if result.errors:
        text += f"   ERRORS={result.errors}"
    if baseline is not None and baseline.p50:
        text += f"   x{result.p50 / baseline.p50:.1f} of /healthz p50"
    return text


def verdict(name: str, value: float, target: float) -> tuple[bool, str]:
    ok = value <= target
    return ok, f"{'PASS' if ok else 'MISS'}  {name}: {value:.1f} ms (target <= {target:.0f} ms)"


async def run(seconds: float, concurrency: int, workers: int | None, only_writes: bool) -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    topic = f"bench.stores.{secrets.token_hex(4)}"
    warmup = min(3.0, seconds)
    with infrastructure("store-registry") as (kafka, admin_dsn):
        await create_bench_topic(kafka, topic)
        async with (
            contextlib.AsyncExitStack() as cleanup,
            scratch_database(admin_dsn, "bench") as dsn,
            service(kafka, dsn, topic, workers) as (base, service_pid),
            httpx.AsyncClient(base_url=base, headers=AUTH) as client,
        ):

            async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
                response = await client.request(method, path, **kwargs)
                if response.status_code >= 400:
                    raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
                return response

            await call("PUT", "/v1/warehouses/w1", json={"name": "Main"})
            await call("PUT", "/v1/warehouses/w2", json={"name": "Second"})
            # Twice as many stores as connections: the PUT script always finds an idle one.
            stores = []
            for i in range(2 * concurrency):
                created = await call(
                    "POST", "/v1/stores", json={"title": f"Bench {i}", "platform": "trendyol"}
                )
                stores.append(created.json()["id"])
            work = Path(tempfile.mkdtemp(prefix="bench-store-registry-"))
            cleanup.callback(shutil.rmtree, work, ignore_errors=True)
            ids_file = work / "stores.txt"

            async def write_versions() -> None:
                rows = []
                for store_id in stores:
                    etag = (await call("GET", f"/v1/stores/{store_id}")).headers["ETag"]
                    rows.append(f"{store_id} {etag.strip(chr(34))}\n")
                ids_file.write_text("".join(rows))

            await write_versions()

            port = int(base.rsplit(":", 1)[1])
            splits: dict[str, list[int]] = {}

            async def measure(path: str, script: str, duration: float, *args: str) -> WrkResult:
                before = await cpu_seconds(service_pid, dsn)

                async def split() -> None:
                    # How wrk's connections were spread over the workers: the busier
                    # worker's requests wait longer.
                    await asyncio.sleep(min(1.0, duration / 2))
                    splits[path] = await asyncio.to_thread(connections_per_process, port)

                sampler = asyncio.create_task(split())
                result = await wrk(
                    base + path,
                    script=script,
                    seconds=duration,
                    connections=concurrency,
                    args=[str(ids_file), *args],
                    headers=AUTH,
                )
                await sampler
                after = await cpu_seconds(service_pid, dsn)
                per_request = 1000 / max(1, result.requests)
                return dataclasses.replace(
                    result,
                    service_cpu_ms=(after[0] - before[0]) * per_request,
                    postgres_cpu_ms=(after[1] - before[1]) * per_request,
                )

            # Baseline 1: the bare database lookup behind GET, same concurrency, from Python.
            pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
            assert pool is not None

            async def bare_query(n: int) -> None:
                await pool.fetchrow(
                    "SELECT * FROM store_registry.stores WHERE id = $1", stores[n % len(stores)]
                )

            await python_load(concurrency, 500, bare_query)
            db_base = await python_load(concurrency, 5000, bare_query)
            await pool.close()

            phases = [
                ("/healthz", _LUA_STATIC),
                ("/v1/stores?limit=20", _LUA_STATIC),
                ("/v1/stores", _LUA_GET),
            ]
            results = []
            for path, script in phases[:1] if only_writes else phases:
                await measure(path, script, warmup)
                results.append(await measure(path, script, seconds))
            http_base, *reads = results
            await measure("/", _LUA_PUT, warmup, "warm")
            await write_versions()
            served_before = await put_durations(base, workers or 1)
            updated = await measure("/", _LUA_PUT, seconds, "run")
            served = subtract(await put_durations(base, workers or 1), served_before)
            events = await event_latencies(kafka, topic, "run")

    load_1m, load_5m, _ = os.getloadavg()
    print(
        f"store-registry, {concurrency} connections (wrk, closed loop), {seconds:.0f} s per call, "
        f"workers={workers if workers is not None else 'default'} "
        f"(load average {load_1m:.1f} / {load_5m:.1f} on {os.cpu_count()} CPUs)"
    )
    print(
        f"{'baseline: asyncpg store lookup':<36} p50 {ms(percentile(db_base, 50)):7.2f} ms   "
        f"p99 {ms(percentile(db_base, 99)):7.2f} ms   (Python client, pool of 10)"
    )
    print(line("baseline: GET /healthz", http_base))
    checks = []
    if reads:
        listed, got = reads
        print(line("GET /v1/stores?limit=20", listed, http_base))
        print(line("GET /v1/stores/{id}", got, http_base))
        checks += [
            verdict("GET /v1/stores/{id} p99", got.p99, GET_TARGET_MS),
            verdict("GET /v1/stores?limit=20 p99", listed.p99, GET_TARGET_MS),
        ]
    print(line("PUT /v1/stores/{id}/settings/orders", updated, http_base))
    print(
        "connections per worker during each call: "
        + ", ".join(
            f"{'PUT' if path == '/' else path} {'/'.join(map(str, split))}"
            for path, split in splits.items()
        )
    )
    total = served.get("+Inf", 0.0)
    if total:
        within = ", ".join(
            f"<= {float(le) * 1000:g} ms {served[le] / total:.1%}"
            for le in ("0.01", "0.025", "0.05", "0.1")
            if le in served
        )
        print(
            f"PUT time inside the service (its histogram, {total:.0f} writes; the rest of "
            f"wrk's figure is queues and scheduling outside it): {within}"
        )
    if events:
        print(
            f"{'write -> event on Kafka':<36} p50 {ms(percentile(events, 50)):7.2f} ms   "
            f"p99 {ms(percentile(events, 99)):7.2f} ms   events={len(events)} of "
            f"{updated.requests} writes"
        )
    if SHUTDOWN:
        stop_seconds, code = SHUTDOWN[0]
        print(f"graceful shutdown after SIGTERM: {stop_seconds:.2f} s, exit code {code}")
    checks += [
        verdict("PUT settings p99", updated.p99, WRITE_TARGET_MS),
        verdict(
            "write -> event p99",
            ms(percentile(events, 99)) if events else float("inf"),
            EVENT_TARGET_MS,
        ),
    ]
    failures = sum(r.errors for r in (http_base, *reads, updated))
    missing_events = updated.requests - len(events)
    for _, text in checks:
        print(text)
    if failures or missing_events > 0:
        print(f"MISS  failed requests: {failures}, writes without an event: {missing_events}")
    return 0 if all(ok for ok, _ in checks) and not failures and missing_events <= 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per call")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="STORE_REGISTRY_WORKERS of the service (default 2: one per CPU of the target host)",
    )
    parser.add_argument(
        "--only-writes",
        action="store_true",
        help="skip the GET phases (the /healthz baseline still runs): for profiling writes",
    )
    args = parser.parse_args()
    return asyncio.run(run(args.seconds, args.concurrency, args.workers, args.only_writes))


if __name__ == "__main__":
    sys.exit(main())
