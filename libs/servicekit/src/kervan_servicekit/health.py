"""Probes and metrics over ASGI: `/healthz`, `/readyz`, `/metrics`.

- `/healthz` (liveness) answers 200 while the process serves HTTP; it never checks
  dependencies, so a database outage does not make Kubernetes restart every pod.
- `/readyz` (readiness) runs named checks concurrently, each with a timeout, and answers 503
  naming the failed ones; it answers 503 once shutdown has begun. Informational checks
  (e.g. "is this replica the active outbox relay") are reported but never fail readiness.
- `/metrics` exposes the service's own `CollectorRegistry`.

Mount with `AsgiFastStream(broker, asgi_routes=health.asgi_routes())` or, for FastAPI/Starlette,
`app.router.routes.extend(health.starlette_routes())`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
from prometheus_client import CollectorRegistry, make_asgi_app
from starlette.routing import Route

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker
    from starlette.types import ASGIApp, Receive, Scope, Send

    from kervan_servicekit.outbox import OutboxRelay

Check = Callable[[], Awaitable[bool | None]]
"""A readiness check: fails by returning False or raising."""


@dataclass(frozen=True, slots=True)
class _NamedCheck:
    name: str
    check: Check
    informational: bool


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of one check."""

    name: str
    ok: bool
    informational: bool
    duration_seconds: float
    error: str | None = None


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class HealthEndpoints:
    """Liveness, readiness and metrics endpoints of one service."""

    def __init__(self, registry: CollectorRegistry, *, check_timeout: float = 2.0) -> None:
        self.registry = registry
        self.check_timeout = check_timeout
        self._checks: list[_NamedCheck] = []
        self._shutting_down = False
        self._metrics_app = make_asgi_app(registry)

    def add_check(self, name: str, check: Check, *, informational: bool = False) -> None:
        """Register a readiness check."""
        self._checks.append(_NamedCheck(name, check, informational))

    def begin_shutdown(self) -> None:
        """From now on `/readyz` answers 503 (called on SIGTERM, before anything stops)."""
        self._shutting_down = True

    @property
    def shutting_down(self) -> bool:
        """True once `begin_shutdown` was called."""
        return self._shutting_down

    async def _run(self, named: _NamedCheck) -> CheckResult:
        started = time.perf_counter()
        error: str | None = None
        try:
            async with asyncio.timeout(self.check_timeout):
                ok = (await named.check()) is not False
            if not ok:
                error = "check failed"
        except TimeoutError:
            ok, error = False, f"timed out after {self.check_timeout}s"
        except Exception as exc:
            # The type only: messages of driver errors can carry hosts, users or DSNs.
            ok, error = False, type(exc).__name__
        return CheckResult(
            named.name, ok, named.informational, round(time.perf_counter() - started, 4), error
        )

    async def readiness(self) -> tuple[bool, list[CheckResult]]:
        """Run every check concurrently; ready when no non-informational check failed."""
        results = list(await asyncio.gather(*(self._run(named) for named in self._checks)))
        ready = not self._shutting_down and all(r.ok or r.informational for r in results)
        return ready, results

    async def healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI app of `/healthz`."""
        await _send_json(send, 200, {"status": "alive"})

    async def readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI app of `/readyz`."""
        if self._shutting_down:
            await _send_json(send, 503, {"status": "shutting_down", "checks": {}})
            return
        ready, results = await self.readiness()
        body = {
            "status": "ready" if ready else "not_ready",
            "failed": [r.name for r in results if not r.ok and not r.informational],
            "checks": {
                r.name: {
                    "ok": r.ok,
                    "informational": r.informational,
                    "duration_seconds": r.duration_seconds,
                    **({"error": r.error} if r.error else {}),
                }
                for r in results
            },
        }
        await _send_json(send, 200 if ready else 503, body)

    async def metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI app of `/metrics` (Prometheus text format)."""
        await self._metrics_app(scope, receive, send)

    def asgi_routes(self) -> list[tuple[str, ASGIApp]]:
        """`(path, ASGI app)` pairs, as `AsgiFastStream(asgi_routes=...)` takes them."""
        return [("/healthz", self.healthz), ("/readyz", self.readyz), ("/metrics", self.metrics)]

    def starlette_routes(self) -> list[Route]:
        """Starlette routes for a FastAPI or Starlette app (hidden from OpenAPI)."""
        return [
            Route(path, endpoint=_RawAsgi(app), methods=["GET"], include_in_schema=False)
            for path, app in self.asgi_routes()
        ]


class _RawAsgi:
    """Makes Starlette treat a bound method as a raw ASGI app, not a request handler."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def kafka_check(broker: KafkaBroker, timeout: float = 2.0) -> Check:
    """Ready when the broker's admin client can describe the cluster."""

    async def check() -> bool:
        return bool(await broker.ping(timeout=timeout))

    return check


def postgres_check(pool: asyncpg.Pool) -> Check:
    """Ready when the pool can run `SELECT 1`."""

    async def check() -> bool:
        return bool(await pool.fetchval("SELECT 1") == 1)

    return check


def vault_check(addr: str, timeout: float = 2.0) -> Check:
    """Ready when Vault's `/v1/sys/health` says initialised and unsealed (200; 429 standby)."""

    async def check() -> bool:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(f"{addr.rstrip('/')}/v1/sys/health")
        return response.status_code in (200, 429, 473)

    return check


def relay_check(relay: OutboxRelay) -> Check:
    """Informational: is this replica's relay task running, and is it the active one."""

    async def check() -> bool:
        return relay.is_running and relay.is_active

    return check
