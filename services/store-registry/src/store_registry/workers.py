"""Several server processes on one port (`STORE_REGISTRY_WORKERS` > 1).

Each worker listens on a socket of its own bound to the port with `SO_REUSEPORT`, and the
kernel spreads new connections over them (by a hash of the connection's addresses). One
listening socket shared by all workers does not: whichever worker wakes first accepts every
pending connection, and a burst of keep-alive connections (a client's pool, the benchmark's
32) could all land on one worker while the other idles. The parent binds the port first
(with `SO_REUSEPORT`, without listening: it takes no connections), so a port in use fails
before anything forks. Each worker builds and runs the whole service (`build_app` +
servicekit's `run_service`) on its socket. Sharing is safe by design: the outbox relay is
elected by an advisory lock (one publishes, the others stand by), the API status consumer is
a consumer group, and each worker has its own database pool.

The parent only supervises: SIGTERM/SIGINT are passed on to every worker (each shuts down
gracefully: readiness off, relay, consumer, pool), and when one worker dies the others are
stopped and the parent exits non-zero, so the process manager restarts the whole service.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from kervan_servicekit.logging import get_logger
from kervan_servicekit.runtime import run_service
from store_registry.bootstrap import build_app
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
    # Runs in the forked child: the app, its pool, relay and consumer belong to this process.
    sock = port_socket(settings.http_host, port)
    app = build_app(settings)
    run_service(
        app,
        health=app.state.health,
        drain_seconds=settings.shutdown_drain_seconds,
        graceful_timeout=settings.kafka.graceful_timeout_seconds,
        sockets=[sock],
    )


def serve_workers(settings: StoreRegistrySettings) -> int:
    """Run `settings.workers` server processes on one port until they stop; exit status."""
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
