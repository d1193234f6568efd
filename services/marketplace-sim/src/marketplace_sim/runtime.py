"""The request pipeline shared by every platform: base detection, auth, faults, limits, logs."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from starlette.requests import Request
from starlette.responses import Response

from marketplace_sim.clock import Clock
from marketplace_sim.faults import FaultBook
from marketplace_sim.metrics import SimMetrics
from marketplace_sim.ratelimit import BucketDecision, RateLimit, TokenBuckets
from marketplace_sim.settings import SimSettings
from marketplace_sim.state import Account, EndpointStats, SimState

SANDBOX_SUFFIX = "-sandbox"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialised with orjson."""
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def text_response(text: str, status: int, headers: dict[str, str] | None = None) -> Response:
    """A plain-text response (some platforms answer errors this way)."""
    return Response(text, status, headers, media_type="text/plain")


@dataclass(slots=True)
class AuthResult:
    """What an authenticator found: the account (if it could tell) and a rejection, if any."""

    account: Account | None
    rejection: Response | None = None


@dataclass(slots=True)
class Call:
    """Everything a platform handler needs about the current request."""

    request: Request
    sim: Simulator
    account: Account | None
    now: float
    base: str
    path_params: dict[str, str]
    headers_out: dict[str, str] = field(default_factory=dict)

    @property
    def acct(self) -> Account:
        """The authenticated account (handlers behind an authenticator only)."""
        if self.account is None:
            raise RuntimeError("endpoint has no authenticated account")
        return self.account

    @property
    def now_ms(self) -> int:
        """Current simulator time in epoch milliseconds."""
        return int(self.now * 1000)

    def json(self, data: Any, status: int = 200) -> Response:
        """JSON response carrying the headers collected so far (rate-limit headers)."""
        return json_response(data, status, self.headers_out or None)

    def raw_json(self, body: bytes, status: int = 200) -> Response:
        """An already serialised JSON body with the headers collected so far."""
        return Response(body, status, self.headers_out or None, media_type="application/json")


Handler = Callable[[Call], Awaitable[Response]]
# Most platforms authenticate from headers (synchronous); T-Soft carries its token in the form
# body and token endpoints identify the account from their form, so async authenticators exist.
Authenticator = Callable[[Request, "Simulator"], AuthResult | Awaitable[AuthResult]]
ThrottleResponder = Callable[[BucketDecision, RateLimit | None], Response]
HeaderDecorator = Callable[[BucketDecision, RateLimit], dict[str, str]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One operation of a platform API."""

    name: str
    method: str
    path: str
    handler: Handler
    auth: Authenticator | None = None
    limit: RateLimit | None = None
    """`auth` runs before faults and limits, so whatever account it names (even on a
    rejection, or a token endpoint that only identifies the caller) gets account-scoped faults
    and has the request recorded in its log."""


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    """A platform's endpoints and how it answers throttling and server errors."""

    platform: str
    endpoints: list[Endpoint]
    throttled: ThrottleResponder
    server_error: Callable[[int], Response]
    limit_headers: HeaderDecorator | None = None


class Simulator:
    """Shared collaborators of all handlers: state, clock, settings, faults, limits, metrics."""

    def __init__(self, state: SimState, clock: Clock, settings: SimSettings) -> None:
        self.state = state
        self.clock = clock
        self.settings = settings
        self.faults = FaultBook(settings.random_seed)
        self.buckets = TokenBuckets()
        self.metrics = SimMetrics()
        self._request_counters: dict[tuple[str, str, int], Any] = {}

    def revoked(self, account: Account, now: float | None = None) -> bool:
        """True when a revoked-credentials fault covers the account."""
        at = self.clock.now() if now is None else now
        return bool(
            self.faults.active("revoked_credentials", account.platform, account.account_id, at)
        )

    def limits_enforced(self, account: Account | None) -> bool:
        """Per-account override first, then the global setting."""
        if account is not None and account.rate_limits is not None:
            return account.rate_limits
        return self.settings.rate_limits

    def wrap(
        self, spec: PlatformSpec, endpoint: Endpoint
    ) -> Callable[[Request], Awaitable[Response]]:
        """Turn an endpoint into a Starlette route function running the whole pipeline."""

        auth = endpoint.auth
        auth_is_async = auth is not None and inspect.iscoroutinefunction(auth)

        async def run(request: Request) -> Response:
            now = self.clock.now()
            base = (
                "sandbox"
                if request.scope.get("root_path", "").endswith(SANDBOX_SUFFIX)
                else "production"
            )
            account: Account | None = None
            response: Response | None = None
            if auth is not None:
                result = auth(request, self)
                found = (
                    await cast(Awaitable[AuthResult], result)
                    if auth_is_async
                    else cast(AuthResult, result)
                )
                account, response = found.account, found.rejection
            throttled = False
            if response is None:
                response, throttled = await self._faults_and_limits(spec, endpoint, account, now)
            if response is None:
                call = Call(request, self, account, now, base, dict(request.path_params))
                if account is not None:
                    account.settle(now)
                    call.headers_out.update(self._limit_headers(spec, endpoint, account, now))
                response = await endpoint.handler(call)
                # Token endpoints may find their account while handling; keep an identified
                # one when the handler refused (a refusal still counts against the account).
                account = call.account or account
            await self._record(
                request,
                spec,
                endpoint,
                account=account,
                base=base,
                status=response.status_code,
                throttled=throttled,
                now=now,
            )
            return response

        return run

    async def _faults_and_limits(
        self, spec: PlatformSpec, endpoint: Endpoint, account: Account | None, now: float
    ) -> tuple[Response | None, bool]:
        account_id = account.account_id if account is not None else None
        faults = self.faults
        for fault in faults.active("latency", spec.platform, account_id, now):
            await asyncio.sleep(fault.seconds)
        if faults.active("rate_limit_storm", spec.platform, account_id, now):
            return spec.throttled(BucketDecision(False, 0, 1.0), endpoint.limit), True
        for fault in faults.active("error_rate", spec.platform, account_id, now):
            if faults.roll(fault.rate):
                return spec.server_error(fault.status), False
        if endpoint.limit is not None and self.limits_enforced(account):
            decision = self.buckets.take((account_id or "-", endpoint.name), endpoint.limit, now)
            if not decision.allowed:
                response = spec.throttled(decision, endpoint.limit)
                return response, True
        return None, False

    def _limit_headers(
        self, spec: PlatformSpec, endpoint: Endpoint, account: Account, now: float
    ) -> dict[str, str]:
        if spec.limit_headers is None or endpoint.limit is None:
            return {}
        # Peek without consuming: the take already happened in _faults_and_limits.
        tokens = self.buckets.peek((account.account_id, endpoint.name), endpoint.limit, now)
        return spec.limit_headers(BucketDecision(True, tokens, 0.0), endpoint.limit)

    async def _record(
        self,
        request: Request,
        spec: PlatformSpec,
        endpoint: Endpoint,
        *,
        account: Account | None,
        base: str,
        status: int,
        throttled: bool,
        now: float,
    ) -> None:
        # Label children are looked up once per (endpoint, status): `labels()` takes a lock
        # and builds a tuple key on every call, measurable at a thousand requests a second.
        key = (spec.platform, endpoint.name, status)
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self.metrics.requests.labels(spec.platform, endpoint.name, str(status))
            self._request_counters[key] = counter
        counter.inc()
        if throttled:
            self.metrics.throttled.labels(spec.platform, endpoint.name).inc()
        if account is None:
            return
        log = account.requests
        stats = log.by_endpoint.get(endpoint.name)
        if stats is None:
            stats = log.by_endpoint[endpoint.name] = EndpointStats()
        stats.count += 1
        stats.statuses[status] += 1
        if throttled:
            stats.throttled += 1
        log.bases[base] += 1
        scope = request.scope
        method: str = scope["method"]
        path: str = scope["path"]
        body = await request.body() if method in {"POST", "PUT", "PATCH"} else b""
        # Raw scope values: building request.url costs more than the rest of this method.
        fingerprint = hash((method, path, scope.get("query_string", b""), body))
        if fingerprint in log.seen:
            log.identical_repeats += 1
        elif len(log.seen) < 100_000:
            log.seen.add(fingerprint)
        log.recent.append(
            {
                "at": now,
                "wall_time": time.time(),
                "method": method,
                "path": path,
                "endpoint": endpoint.name,
                "status": status,
                "base": base,
            }
        )
