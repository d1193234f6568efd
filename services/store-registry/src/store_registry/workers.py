"""Several server processes on one port (`STORE_REGISTRY_WORKERS` > 1).

The parent binds the listening socket and forks the workers; each builds and runs the whole
service (`build_app` + servicekit's `run_service`) on that socket, and the kernel hands each
new connection to one of them. Sharing is safe by design: the outbox relay is elected by an
advisory lock (one publishes, the others stand by), the API status consumer is a consumer
group, and each worker has its own database pool.

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


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for the workers to accept on (uvicorn calls `listen`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _serve_worker(settings: StoreRegistrySettings, sock: socket.socket) -> None:
    # Runs in the forked child: the app, its pool, relay and consumer belong to this process.
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
    sock = listening_socket(settings.http_host, settings.http_port)
    # fork: the workers inherit the bound socket; nothing in this process runs a loop or
    # threads yet, so forking is safe.
    context = multiprocessing.get_context("fork")
    workers: list[BaseProcess] = [
        context.Process(
            target=_serve_worker, args=(settings, sock), name=f"store-registry-worker-{n}"
        )
        for n in range(settings.workers)
    ]
    for worker in workers:
        worker.start()
    sock.close()
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    logger.info("workers started", workers=settings.workers, port=settings.http_port)
    running = list(workers)
    failed = False
    while running:
        wait([worker.sentinel for worker in running])
        for worker in [w for w in running if not w.is_alive()]:
            running.remove(worker)
            if not stopping:
                # A worker died on its own: stop the rest and let the supervisor restart us.
                failed = True
                stopping = True
                logger.error("worker exited; stopping the others", exit_code=worker.exitcode)
                for other in running:
                    other.terminate()
    return 1 if failed else 0
