"""Several server processes on one port (`STORE_REGISTRY_WORKERS` > 1).

The parent process listens on the port and accepts; each connection it accepts is passed to
the next worker in turn (round robin) over a Unix socket pair (`socket.send_fds`), and the
worker serves it as if it had accepted it itself (servicekit's `run_service(handed=...)`).
So connections are spread evenly: 32 keep-alive connections are 16 and 16. Before, each
worker listened on a `SO_REUSEPORT` socket of its own and the kernel spread connections by a
hash of their addresses: splits such as 21/12 of a benchmark's 32 connections, and the
busier worker's requests waited longer (an even earlier shared listening socket let the
worker that woke first take a whole burst: 3/29, once 32/0). The port is bound before
anything forks, so a port in use fails at once. Accepting costs the parent one `accept` and
one `sendmsg` per connection; keep-alive connections are taken once.

Each worker builds and runs the whole service (`build_app` + servicekit's `run_service`).
Sharing is safe by design: the outbox relay is elected by an advisory lock (one publishes,
the others stand by), the API status consumer is a consumer group, and each worker has its
own database pool.

The parent also supervises: on SIGTERM/SIGINT it passes the signal on to every worker (each
shuts down gracefully: readiness off, drain, relay, consumer, pool; connections arriving
meanwhile still reach a worker that serves), and
when one worker dies the others are stopped and the parent exits non-zero, so the process
manager restarts the whole service.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from kervan_servicekit.logging import get_logger
from kervan_servicekit.runtime import run_service
from store_registry.bootstrap import build_app
from store_registry.settings import StoreRegistrySettings

logger = get_logger("store_registry.workers")


ACCEPT_BACKLOG = 2048
_ACCEPT_WAKE_SECONDS = 0.5
"""How often the accepting thread looks whether it should stop."""


def port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port` (not listening yet)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _serve_worker(
    settings: StoreRegistrySettings, handed: socket.socket, inherited: list[socket.socket]
) -> None:
    # Runs in the forked child: the app, its pool, relay and consumer belong to this process.
    # The listening socket and the other workers' channel ends came along with the fork:
    # close them, or a dead worker's channel would stay open here and swallow connections.
    for sock in inherited:
        sock.close()
    app = build_app(settings)
    run_service(
        app,
        health=app.state.health,
        drain_seconds=settings.shutdown_drain_seconds,
        graceful_timeout=settings.kafka.graceful_timeout_seconds,
        sockets=[],
        handed=handed,
    )


class Dispatcher:
    """Accepts on the listening socket and passes each connection to the next worker."""

    def __init__(self, listener: socket.socket, channels: list[socket.socket]) -> None:
        self.listener = listener
        self.channels = channels
        self.stopping = threading.Event()
        self.handed = [0] * len(channels)
        """Connections passed to each worker so far."""
        self._next = 0
        self._thread = threading.Thread(target=self._run, name="accept", daemon=True)

    def start(self) -> None:
        """Accept from now on (in a thread of this process)."""
        self.listener.settimeout(_ACCEPT_WAKE_SECONDS)
        for channel in self.channels:
            # A worker that stopped reading (stuck, exiting) must not stall accepting: its
            # full channel is skipped like a closed one.
            channel.setblocking(False)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting; connections not accepted yet are refused when the socket closes."""
        self.stopping.set()
        self._thread.join(timeout=5 * _ACCEPT_WAKE_SECONDS)
        self.listener.close()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _address = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stopping.is_set():
                    return
                logger.warning("accept failed", exc_info=True)
                time.sleep(_ACCEPT_WAKE_SECONDS)
                continue
            with conn:
                self._hand(conn)

    def _hand(self, conn: socket.socket) -> None:
        # The next worker in turn; one whose channel fails (closed: it is exiting; full: it
        # does not keep up) is skipped.
        for _ in range(len(self.channels)):
            index = self._next
            self._next = (self._next + 1) % len(self.channels)
            self.handed[index] += 1  # counted before the worker can see it
            try:
                socket.send_fds(self.channels[index], [b"c"], [conn.fileno()])
            except OSError:
                self.handed[index] -= 1
                continue
            return
        # No worker takes it: closing it here refuses it (the supervisor is stopping).


def serve_workers(settings: StoreRegistrySettings) -> int:
    """Run `settings.workers` server processes on one port until they stop; exit status."""
    listener = port_socket(settings.http_host, settings.http_port)
    listener.listen(ACCEPT_BACKLOG)
    port: int = listener.getsockname()[1]
    # SOCK_SEQPACKET: one message per connection, never merged with the next.
    pairs = [
        socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(settings.workers)
    ]
    # fork: nothing in this process runs a loop or threads yet, so forking is safe.
    context = multiprocessing.get_context("fork")
    every = [listener, *(end for pair in pairs for end in pair)]
    children: list[BaseProcess] = [
        context.Process(
            target=_serve_worker,
            args=(settings, theirs, [sock for sock in every if sock is not theirs]),
            name=f"store-registry-worker-{n}",
        )
        for n, (_ours, theirs) in enumerate(pairs)
    ]
    for child in children:
        child.start()
    for _ours, theirs in pairs:
        theirs.close()
    dispatcher = Dispatcher(listener, [ours for ours, _theirs in pairs])
    dispatcher.start()
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        # Connections are still accepted and handed over while the workers drain; a worker
        # that stopped taking them is skipped, and once none takes them they are refused.
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
    dispatcher.stop()
    for ours, _theirs in pairs:
        ours.close()
    return 1 if failed else 0
