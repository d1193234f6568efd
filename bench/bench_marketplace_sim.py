"""Benchmark: order-page requests per second served by marketplace-sim.

Starts the simulator with uvicorn on a free loopback port (a child process), seeds a Trendyol
account with orders through the control API, then hammers getShipmentPackages with keep-alive
HTTP/1.1 connections for a bounded time. For comparison it does the same against a trivial
Starlette app returning a fixed JSON body of the same size, in the same run and on the same
machine, and prints both figures and their ratio.

    uv run python bench/bench_marketplace_sim.py [--seconds 5] [--connections 32] [--orders 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import orjson
import uvicorn
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(args: list[str], port: int) -> Iterator[None]:
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
        yield
    finally:
        process.terminate()
        process.wait(timeout=15)


def control(port: int, path: str, body: object) -> object:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


async def one_connection(
    port: int, paths: list[str], stop_at: float, counts: list[int], statuses: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
    i = 0
    while time.monotonic() < stop_at:
        path = paths[i % len(paths)]
        i += 1
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        statuses[status] = statuses.get(status, 0) + 1
        counts[0] += 1
    writer.close()


async def hammer(
    port: int, paths: list[str], seconds: float, connections: int
) -> tuple[float, dict[int, int]]:
    counts = [0]
    statuses: dict[int, int] = {}
    warm_stop = time.monotonic() + 0.5
    await asyncio.gather(*(one_connection(port, paths, warm_stop, [0], {}) for _ in range(4)))
    start = time.monotonic()
    stop_at = start + seconds
    await asyncio.gather(
        *(one_connection(port, paths, stop_at, counts, statuses) for _ in range(connections))
    )
    return counts[0] / (time.monotonic() - start), statuses


def run_sim(port: int) -> None:
    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def run_baseline(port: int, size: int) -> None:

    body = orjson.dumps({"content": "x" * max(0, size - 15)})

    async def fixed(request: Request) -> Response:
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route(ORDERS_PATH, fixed)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--serve-sim", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-baseline", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sim:
        run_sim(args.serve_sim)
        return
    if args.serve_baseline:
        run_baseline(*args.serve_baseline)
        return

    sim_port = free_port()
    with serve(["--serve-sim", str(sim_port)], sim_port):
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
        pages = max(1, args.orders // args.page_size)
        paths = [
            f"{ORDERS_PATH}?page={p % min(pages, 199)}&size={args.page_size}" for p in range(pages)
        ]
        sample = urllib.request.Request(f"http://127.0.0.1:{sim_port}{paths[0]}", headers=HEADERS)
        with urllib.request.urlopen(sample, timeout=10) as response:
            page_bytes = len(response.read())
        sim_rps, sim_statuses = asyncio.run(hammer(sim_port, paths, args.seconds, args.connections))

    base_port = free_port()
    with serve(["--serve-baseline", str(base_port), str(page_bytes)], base_port):
        base_rps, _ = asyncio.run(hammer(base_port, [ORDERS_PATH], args.seconds, args.connections))

    print(f"orders seeded: {args.orders}, page size: {args.page_size}, page bytes: {page_bytes}")
    print(f"statuses: {sim_statuses}")
    print(f"marketplace-sim order pages: {sim_rps:,.0f} req/s")
    print(f"baseline fixed JSON ({page_bytes} B): {base_rps:,.0f} req/s")
    print(f"ratio sim/baseline: {sim_rps / base_rps:.2f}")
    if set(sim_statuses) != {200}:
        raise SystemExit("non-200 responses from the simulator")


if __name__ == "__main__":
    main()
