"""Benchmark: order-page requests per second served by marketplace-sim.

Starts the simulator with uvicorn (uvloop + httptools) on a free loopback port in a child
process, seeds a Trendyol account with orders through the control API, then drives
getShipmentPackages with keep-alive HTTP/1.1 connections from separate load-generator
processes (so the client is not the bottleneck) for a bounded time. For comparison it does the
same against a trivial Starlette endpoint returning a fixed JSON body of the same size, in the
same run and on the same machine. It prints pages/s, p50/p99 latency, the server's CPU time per
request and the ratio to the baseline.

    uv run python bench/bench_marketplace_sim.py [--seconds 6] [--rounds 3] [--connections 32]
        [--workers 2] [--orders 10000] [--page-size 50] [--min-rps 0]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection

import orjson
import uvicorn
import uvloop
from marketplace_sim.app import create_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HEADERS = {
    "Authorization": "Basic " + base64.b64encode(b"bench-key:bench-secret").decode(),
    "User-Agent": "1001 - Bench",
}
ORDERS_PATH = "/trendyol/integration/order/sellers/1001/orders"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(args: list[str], port: int) -> Iterator[int]:
    """Run this script as a server child process; yields its pid once the port accepts."""
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def control(port: int, path: str, body: object) -> object:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"null")


# ---- load generator (runs in its own processes) -----------------------------------------


async def _connection(
    port: int, paths: list[str], offset: int, start_at: float, stop_at: float
) -> tuple[list[float], dict[int, int]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
    requests = [f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode() for path in paths]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    i = offset
    while True:
        began = time.perf_counter()
        if began >= stop_at:
            break
        writer.write(requests[i % len(requests)])
        i += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        if began >= start_at:  # requests started in the warm-up are not counted
            latencies.append(time.perf_counter() - began)
            status = int(head.split(b" ", 2)[1])
            statuses[status] = statuses.get(status, 0) + 1
    writer.close()
    return latencies, statuses


def _worker(port: int, paths: list[str], connections: int, index: int, out: Connection) -> None:
    """One load process: `connections` keep-alive connections for the window it is sent."""
    uvloop.install()
    out.send("ready")  # spawning and imports take a while on a loaded machine
    start_at, stop_at = out.recv()

    async def run() -> list[tuple[list[float], dict[int, int]]]:
        return await asyncio.gather(
            *(
                _connection(port, paths, (index * connections + c) * 7, start_at, stop_at)
                for c in range(connections)
            )
        )

    results = asyncio.run(run())
    latencies = [x for lat, _ in results for x in lat]
    statuses: dict[int, int] = {}
    for _, counts in results:
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    out.send((latencies, statuses))
    out.close()


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    server_cpu_ms: float | None


def drive(
    port: int, pid: int, paths: list[str], seconds: float, connections: int, workers: int
) -> LoadResult:
    """Spread `connections` over `workers` processes; measure after a 1 s warm-up."""
    context = multiprocessing.get_context("spawn")
    per_worker = max(1, connections // workers)
    pipes = []
    processes = []
    for index in range(workers):
        receive, send = context.Pipe()
        process = context.Process(target=_worker, args=(port, paths, per_worker, index, send))
        process.start()
        pipes.append(receive)
        processes.append(process)
    for receive in pipes:
        receive.recv()
    # perf_counter is system-wide monotonic on Linux, so processes share these instants.
    start_at = time.perf_counter() + 1.0  # warm-up the figures leave out
    stop_at = start_at + seconds
    for receive in pipes:
        receive.send((start_at, stop_at))
    time.sleep(max(0.0, start_at - time.perf_counter()))
    cpu_before = cpu_seconds(pid)
    time.sleep(max(0.0, stop_at - time.perf_counter()))
    cpu_after = cpu_seconds(pid)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    for receive, process in zip(pipes, processes, strict=True):
        lat, counts = receive.recv()
        process.join(timeout=30)
        latencies += lat
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    if not latencies:
        raise SystemExit("no request completed")
    cuts = statistics.quantiles(latencies, n=100)
    server_cpu = (
        (cpu_after - cpu_before) * 1000 / len(latencies)
        if cpu_before is not None and cpu_after is not None
        else None
    )
    return LoadResult(
        len(latencies) / seconds, cuts[49] * 1000, cuts[98] * 1000, statuses, server_cpu
    )


def median_result(results: list[LoadResult]) -> LoadResult:
    """Per-figure medians over rounds; statuses are summed."""
    statuses: dict[int, int] = {}
    for result in results:
        for status, n in result.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    cpu = [r.server_cpu_ms for r in results if r.server_cpu_ms is not None]
    return LoadResult(
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        statuses,
        statistics.median(cpu) if cpu else None,
    )


# ---- servers (child processes) ----------------------------------------------------------


def run_sim(port: int) -> None:
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


def run_baseline(port: int, size: int) -> None:
    body = orjson.dumps({"content": "x" * max(0, size - 15)})

    async def fixed(request: Request) -> Response:
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route(ORDERS_PATH, fixed)])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


def _line(name: str, result: LoadResult) -> str:
    cpu = f", server CPU {result.server_cpu_ms:.2f} ms/req" if result.server_cpu_ms else ""
    return (
        f"{name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms{cpu}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0, help="measured time per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--rounds", type=int, default=3, help="alternating sim/baseline rounds")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--min-rps", type=float, default=0.0, help="exit 1 below this figure")
    parser.add_argument("--serve-sim", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-baseline", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sim:
        run_sim(args.serve_sim)
        return
    if args.serve_baseline:
        run_baseline(*args.serve_baseline)
        return

    sim_port, base_port = free_port(), free_port()
    with serve(["--serve-sim", str(sim_port)], sim_port) as sim_pid:
        account = control(
            sim_port,
            "/_sim/accounts",
            {
                "platform": "trendyol",
                "seller_id": "1001",
                "credentials": {
                    "seller_id": "1001",
                    "api_key": "bench-key",
                    "api_secret": "bench-secret",
                },
                "rate_limits": False,
            },
        )
        account_id = account["account_id"]  # type: ignore[index]
        control(
            sim_port,
            f"/_sim/accounts/{account_id}/orders/bulk",
            {"count": args.orders, "spread_seconds": 6 * 86_400, "lines_per_order": 2},
        )
        # Every page of the default (last 7 days) window, within Trendyol's record cap.
        pages = min(max(1, args.orders // args.page_size), 10_000 // args.page_size)
        paths = [f"{ORDERS_PATH}?page={p}&size={args.page_size}" for p in range(pages)]
        sample = urllib.request.Request(f"http://127.0.0.1:{sim_port}{paths[0]}", headers=HEADERS)
        with urllib.request.urlopen(sample, timeout=10) as response:
            page_bytes = len(response.read())
        baseline_args = ["--serve-baseline", str(base_port), str(page_bytes)]
        with serve(baseline_args, base_port) as base_pid:
            # Rounds alternate simulator and baseline, so load from elsewhere on a shared
            # machine weighs on both alike; the figures are medians over the rounds.
            share = args.seconds / args.rounds
            sims, bases = [], []
            for _ in range(args.rounds):
                sims.append(drive(sim_port, sim_pid, paths, share, args.connections, args.workers))
                bases.append(
                    drive(base_port, base_pid, [ORDERS_PATH], share, args.connections, args.workers)
                )
    sim, base = median_result(sims), median_result(bases)
    ratios = sorted(s.rps / b.rps for s, b in zip(sims, bases, strict=True))

    print(
        f"orders seeded: {args.orders}, page size: {args.page_size}, page bytes: {page_bytes}, "
        f"{args.connections} connections from {args.workers} load processes, "
        f"{args.seconds:g} s each in {args.rounds} alternating rounds, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"statuses: {sim.statuses}")
    print(_line("marketplace-sim order pages", sim))
    print(_line(f"baseline fixed JSON ({page_bytes} B)", base))
    print(
        f"ratio sim/baseline: {statistics.median(ratios):.2f} "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    if set(sim.statuses) != {200}:
        raise SystemExit("non-200 responses from the simulator")
    if sim.rps < args.min_rps:
        raise SystemExit(f"below {args.min_rps:,.0f} order pages/s")


if __name__ == "__main__":
    main()
