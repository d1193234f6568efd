"""The reference inventory's probes: ready only once the catalogue is replayed."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
from catalog_sync.tools.reference_inventory import serve_probes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_readyz_answers_503_until_ready_then_200_and_the_server_stops() -> None:
    port = free_port()
    ready, stop = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve_probes(port, ready, stop))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        deadline = time.monotonic() + 10
        while True:  # wait for the listener
            try:
                first = await client.get("/readyz")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "probe server did not start"
                await asyncio.sleep(0.05)
        ready.set()
        second = await client.get("/readyz")
        health = await client.get("/healthz")
    stop.set()
    await asyncio.wait_for(server, 10)

    assert (first.status_code, second.status_code, health.status_code) == (503, 200, 200)
    assert second.json() == {"status": "ready"}
