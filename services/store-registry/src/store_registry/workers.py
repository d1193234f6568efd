"""Several server processes on one port (`STORE_REGISTRY_WORKERS` > 1).

Each worker listens on a socket of its own bound to the port with `SO_REUSEPORT`, and the
kernel spreads new connections evenly over them (by a hash of the connection's addresses).
One listening socket shared by all workers would not: whichever worker wakes first accepts
every pending connection, and a burst of keep-alive connections (a load balancer's pool, 32
benchmark clients) could all land on one worker while the other idles. The parent binds the
port first (with `SO_REUSEPORT`, without listening: it takes no connections), so a port in
use fails before anything forks. Each worker runs the API and the API status consumer
(`build_app(relay=False)` + servicekit's `run_service`) on its socket; one more process runs
the outbox relay alone, so events are published without waiting behind requests in a
worker's event loop and no worker's requests wait behind a batch being published. Sharing
is safe by design: the relay is still elected by its advisory lock (a replica's relay stands
by), the API status consumer is a consumer group, and each worker has its own database pool.

The parent only supervises: SIGTERM/SIGINT are passed on to every child (workers shut down
gracefully: readiness off, consumer, pool; the relay finishes its batch), and when one child
dies the others are stopped and the parent exits non-zero, so the process manager restarts
the whole service.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from prometheus_client import CollectorRegistry

from kervan_servicekit.logging import get_logger
from kervan_servicekit.metrics import ServiceMetrics
from kervan_servicekit.runtime import run_service
from store_registry.bootstrap import build_app, build_relay
from store_registry.settings import StoreRegistrySettings

logger = get_logger("store_registry.workers")


def port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port` that other sockets of this user may bind too.

    Bound, not listening: uvicorn calls `listen` on a worker's socket; the parent's only
    holds the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _serve_worker(settings: StoreRegistrySettings, port: int) -> None:
    # Runs in the forked child: the app, its pool and consumer belong to this process.
    sock = port_socket(settings.http_host, port)
    app = build_app(settings, relay=False)
    run_service(
        app,
        health=app.state.health,
        drain_seconds=settings.shutdown_drain_seconds,
        graceful_timeout=settings.kafka.graceful_timeout_seconds,
        sockets=[sock],
    )


async def _relay_until_stopped(settings: StoreRegistrySettings) -> None:
    relay = build_relay(settings, ServiceMetrics(settings.service_name, CollectorRegistry()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await relay.start()
    await stop.wait()
    await relay.stop()


def _serve_relay(settings: StoreRegistrySettings) -> None:
    # Runs in the forked child: publishing never waits behind HTTP requests in an event
    # loop, and no worker's requests wait behind a batch being published.
    asyncio.run(_relay_until_stopped(settings))


def serve_workers(settings: StoreRegistrySettings) -> int:
    """Run `settings.workers` server processes on one port and the relay process until they
    stop; exit status."""
    # Held until the end: the port stays ours, and with port 0 every worker binds the one
    # the kernel picked here.
    reserved = port_socket(settings.http_host, settings.http_port)
    port: int = reserved.getsockname()[1]
    # fork: nothing in this process runs a loop or threads yet, so forking is safe.
    context = multiprocessing.get_context("fork")
    children: list[BaseProcess] = [
        context.Process(
            target=_serve_worker, args=(settings, port), name=f"store-registry-worker-{n}"
        )
        for n in range(settings.workers)
    ]
    children.append(
        context.Process(target=_serve_relay, args=(settings,), name="store-registry-relay")
    )
    for child in children:
        child.start()
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    logger.info("workers started", workers=settings.workers, port=port)
    running = list(children)
    failed = False
    while running:
        wait([child.sentinel for child in running])
        for child in [c for c in running if not c.is_alive()]:
            running.remove(child)
            if not stopping:
                # A child died on its own: stop the rest and let the supervisor restart us.
                failed = True
                stopping = True
                logger.error(
                    "process exited; stopping the others",
                    process=child.name,
                    exit_code=child.exitcode,
                )
                for other in running:
                    other.terminate()
    reserved.close()
    return 1 if failed else 0
