"""Process lifecycle: PostgreSQL pool, startup/shutdown order, and running under uvicorn.

Shutdown order on SIGTERM: readiness flips to 503 → (optional drain) → uvicorn stops
accepting → the outbox relay stops → the broker stops (consumers finish the message in hand
within `graceful_timeout`) → the pool and other resources close.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

import asyncpg
import uvicorn

from kervan_servicekit._http_protocol import CoalescingHttpToolsProtocol
from kervan_servicekit.migrations import quote_ident
from kervan_servicekit.settings import PostgresSettings

if TYPE_CHECKING:
    from faststream import FastStream
    from faststream.kafka import KafkaBroker
    from starlette.types import ASGIApp

    from kervan_servicekit.health import HealthEndpoints
    from kervan_servicekit.outbox import OutboxRelay

logger = logging.getLogger("kervan.servicekit.runtime")


def freeze_startup_heap(thresholds: tuple[int, int, int] | None = None) -> None:
    """Keep what start-up built out of every later garbage collection; optionally collect
    less often from then on (`gc.set_threshold`).

    The app, routes, schemas, validators and clients live as long as the process (about
    110,000 objects in store-registry): without this every full collection walks them all,
    pauses of up to 300 ms measured under load. Objects created afterwards are collected as
    usual. Call it once start-up is done (inside the lifespan, before serving).
    """
    gc.collect()
    gc.freeze()
    if thresholds is not None:
        gc.set_threshold(*thresholds)


async def keep_session(_conn: asyncpg.Connection) -> None:
    """Pool reset hook: nothing to undo.

    asyncpg's default reset runs `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` on every release: one more round trip per unit of work (a few per cent of a
    service's CPU under load). Kervan's pooled connections never take session advisory locks,
    LISTEN, SET or keep cursors: the outbox relay, the migrations and LISTEN use connections of
    their own. asyncpg still rolls back an open transaction and drops listeners before it calls
    this hook.
    """


async def create_pool(settings: PostgresSettings) -> asyncpg.Pool:
    """An asyncpg pool whose sessions use the service's schema as search_path and are handed
    back as they are (see `keep_session`)."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.dsn.get_secret_value(),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        command_timeout=settings.command_timeout_seconds,
        server_settings={"search_path": quote_ident(settings.schema_name)},
        reset=keep_session,
    )
    return pool


@dataclass
class Lifecycle:
    """What a service starts and stops, in the right order.

    Consumer services (AsgiFastStream / FastStream manage the broker): `lifecycle.install(app)`.
    REST services (FastAPI / Starlette): `FastAPI(lifespan=lifecycle.lifespan)`; the broker,
    if any, is then started and stopped here.
    """

    health: HealthEndpoints
    broker: KafkaBroker | None = None
    relay: OutboxRelay | None = None
    pool: asyncpg.Pool | None = None
    closers: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=tuple)

    async def start_background(self) -> None:
        """Start the relay (the broker is already connected)."""
        if self.relay is not None:
            await self.relay.start()

    async def stop_background(self) -> None:
        """Flip readiness, then stop the relay while the broker is still up."""
        self.health.begin_shutdown()
        if self.relay is not None:
            await self.relay.stop()

    async def close_resources(self) -> None:
        """Close the pool and the extra closers (after the broker stopped)."""
        for close in self.closers:
            try:
                await close()
            except Exception:
                logger.exception("closing a resource failed")
        if self.pool is not None:
            await asyncio.wait_for(self.pool.close(), timeout=10)

    def install(self, app: FastStream) -> None:
        """Register the hooks on a FastStream/AsgiFastStream app (it starts/stops the broker)."""
        app.after_startup(self.start_background)
        app.on_shutdown(self.stop_background)
        app.after_shutdown(self.close_resources)

    @asynccontextmanager
    async def lifespan(self, _app: Any = None) -> AsyncIterator[None]:
        """Lifespan for FastAPI/Starlette: start broker and relay, stop them in order."""
        if self.broker is not None:
            await self.broker.start()
        try:
            await self.start_background()
            yield
        finally:
            await self.stop_background()
            if self.broker is not None:
                await self.broker.stop()
            await self.close_resources()


class _Server(uvicorn.Server):
    """uvicorn server that marks the service not ready before it starts shutting down.

    With `handed`, it also serves connections another process accepted and passes over that
    Unix socket (one descriptor per message, `socket.send_fds`), as if it had accepted them.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        health: HealthEndpoints | None,
        drain: float,
        handed: socket.socket | None = None,
    ):
        super().__init__(config)
        self._health = health
        self._drain = drain
        self._draining = False
        self._handed = handed
        self._taking: set[asyncio.Task[Any]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self._handed is not None and self.started:
            self._handed.setblocking(False)
            asyncio.get_running_loop().add_reader(self._handed.fileno(), self._take_connections)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._stop_taking()
        await super().shutdown(sockets=sockets)

    def _stop_taking(self) -> None:
        if self._handed is not None and self._handed.fileno() >= 0:
            asyncio.get_running_loop().remove_reader(self._handed.fileno())
            self._handed.close()

    def _take_connections(self) -> None:
        assert self._handed is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                _data, fds, _flags, _address = socket.recv_fds(self._handed, 1, 1)
            except BlockingIOError:
                return
            except OSError:
                fds = []
            if not fds:  # the other end closed (the supervisor is gone) or failed
                self._stop_taking()
                return
            for fd in fds:
                conn = socket.socket(fileno=fd)
                if self.should_exit:
                    conn.close()
                    continue
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                task = loop.create_task(loop.connect_accepted_socket(self._protocol, conn))
                self._taking.add(task)
                task.add_done_callback(self._taking.discard)

    def _protocol(self) -> asyncio.Protocol:
        # What uvicorn's own `create_protocol` builds for a connection it accepted.
        config = self.config
        protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return protocol

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._health is not None:
            self._health.begin_shutdown()
        if self._drain > 0 and not self._draining:
            # Keep serving (readyz = 503) so load balancers drop this pod first; a second
            # signal exits at once.
            self._draining = True
            logger.info("draining before shutdown", extra={"drain_seconds": self._drain})
            asyncio.get_running_loop().call_later(self._drain, super().handle_exit, sig, frame)
            return
        super().handle_exit(sig, frame)


def run_service(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    health: HealthEndpoints | None = None,
    drain_seconds: float = 0.0,
    graceful_timeout: float = 30.0,
    sockets: list[socket.socket] | None = None,
    handed: socket.socket | None = None,
) -> None:
    """Run `app` under uvicorn with our JSON logging and SIGTERM handling (blocks).

    Call `configure_logging` first: uvicorn's own logging config is disabled so its lines
    go through the JSON handler. `sockets`: listening sockets bound by the caller (e.g. one
    socket shared by several worker processes); `host` and `port` are then not used.
    `handed`: a Unix socket over which a supervisor passes connections it accepted (then
    `sockets=[]`: this process listens on nothing itself).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(graceful_timeout),
        # A response's head and body leave in one write (see _http_protocol).
        http=CoalescingHttpToolsProtocol,
    )
    _Server(config, health, drain_seconds, handed).run(sockets=sockets)
