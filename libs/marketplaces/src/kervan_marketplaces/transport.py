"""One HTTP call to a platform: rate limit, retry, timeout, no redirects, typed errors.

Adapters describe *what* to call; `PlatformHttp.send` does the rest the same way everywhere:
take a token from the (store, endpoint) bucket before every attempt, send with redirects off,
map the answer to a typed error, retry transient failures and throttling (honouring
`Retry-After`), and never retry an auth or request rejection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from kervan_marketplaces.errors import (
    AuthRejected,
    MarketplaceError,
    RateLimited,
    RequestRejected,
    Transient,
    UnsafeBaseUrl,
)
from kervan_marketplaces.ratelimit import LimiterRegistry, Rate
from kervan_marketplaces.retry import RetryPolicy, call_with_retry, parse_retry_after
from kervan_marketplaces.urls import ensure_public_resolution

Classifier = Callable[[httpx.Response], MarketplaceError | None]


@dataclass(frozen=True)
class Endpoint:
    """A rate-limited operation of a platform (bucket name and documented rate)."""

    name: str
    rate: Rate


class AuthProvider(Protocol):
    """Adds auth headers to a request and may renew them once after a rejection."""

    async def headers(self, http: PlatformHttp) -> dict[str, str]:
        """Headers to send (may fetch or refresh a token)."""
        ...

    async def renew(self, http: PlatformHttp) -> bool:
        """Called after an auth rejection; True if new credentials make one more try worthwhile."""
        ...


def error_code_and_message(response: httpx.Response) -> tuple[str | None, str | None]:
    """Best-effort platform error code and message from the varied body shapes."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        text = response.text.strip()
        return None, text[:300] or None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = {"errors": body}
    if not isinstance(body, dict):
        return None, None
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        code = (
            first.get("code") or first.get("errorCode") or first.get("key") or first.get("reason")
        )
        return _text(code), _text(first.get("message") or first.get("reason"))
    code = (
        body.get("errorCode")
        or body.get("code")
        or body.get("exception")
        or body.get("error")
        or body.get("name")
    )
    message = (
        body.get("errorMessage")
        or body.get("message")
        or body.get("error_description")
        or body.get("description")
    )
    return _text(code), _text(message)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)[:300]


def default_classifier(platform: str) -> Classifier:
    """Map an HTTP answer to a typed error (None = success)."""

    def classify(response: httpx.Response) -> MarketplaceError | None:
        status = response.status_code
        if 200 <= status < 300:
            return None
        code, message = error_code_and_message(response)
        if 300 <= status < 400:
            return RequestRejected(
                "platform answered with a redirect; redirects are never followed",
                code="unexpected_redirect",
                platform=platform,
                status=status,
            )
        if status == 401:
            return AuthRejected(
                "credentials rejected",
                code="auth_rejected",
                platform=platform,
                status=status,
                detail=message or code,
            )
        if status == 403:
            return AuthRejected(
                "access forbidden",
                code="forbidden",
                platform=platform,
                status=status,
                detail=message or code,
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is None:
                retry_after = parse_retry_after(response.headers.get("x-ratelimit-reset"))
            return RateLimited(
                "throttled",
                retry_after=retry_after,
                platform=platform,
                code=code or "rate_limited",
                detail=message,
            )
        if status == 408 or status >= 500:
            return Transient(
                "platform unavailable",
                code=f"http_{status}",
                platform=platform,
                status=status,
                detail=message or code,
            )
        return RequestRejected(
            "request rejected",
            code=code or f"http_{status}",
            platform=platform,
            status=status,
            detail=message,
        )

    return classify


class PlatformHttp:
    """Sends requests for one store of one platform."""

    def __init__(
        self,
        *,
        platform: str,
        store_key: str,
        client: httpx.AsyncClient,
        limiters: LimiterRegistry,
        retry: RetryPolicy,
        timeout: httpx.Timeout,
        classify: Classifier | None = None,
        rate_scale: float = 1.0,
        dns_exempt_origins: frozenset[str] = frozenset(),
        check_dns: bool = True,
        resolver: Callable[[str, int], Awaitable[None]] = ensure_public_resolution,
    ) -> None:
        self.platform = platform
        self.store_key = store_key
        self._client = client
        self._limiters = limiters
        self._retry = retry
        self._timeout = timeout
        self._classify = classify or default_classifier(platform)
        self._rate_scale = rate_scale
        self._dns_exempt = dns_exempt_origins
        self._check_dns = check_dns
        self._resolver = resolver
        self._resolved: dict[str, float] = {}
        self.requests_sent = 0

    def bucket_rate(self, endpoint: Endpoint) -> Rate:
        """The rate applied to `endpoint` (documented rate times the scale)."""
        return endpoint.rate.scaled(self._rate_scale)

    async def send(
        self,
        endpoint: Endpoint,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: AuthProvider | None = None,
        classify: Classifier | None = None,
    ) -> httpx.Response:
        """Send with limits and retries; return the 2xx response or raise a typed error.

        The body is one of `json_body`, `form` or raw `content` (with its own Content-Type in
        `headers`, e.g. an upload to a pre-signed document URL).
        """
        renewed = False
        while True:
            try:
                return await call_with_retry(
                    self._retry,
                    lambda: self._attempt(
                        endpoint,
                        method,
                        url,
                        params=params,
                        json_body=json_body,
                        form=form,
                        content=content,
                        headers=headers,
                        auth=auth,
                        classify=classify,
                    ),
                )
            except AuthRejected:
                # One renewal (token refresh / re-login) per call, never a loop.
                if auth is None or renewed or not await auth.renew(self):
                    raise
                renewed = True

    async def _attempt(
        self,
        endpoint: Endpoint,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        form: Mapping[str, str] | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        auth: AuthProvider | None,
        classify: Classifier | None,
    ) -> httpx.Response:
        request_url = httpx.URL(url)
        await self._check_host(request_url)
        all_headers = dict(headers or {})
        if auth is not None:
            all_headers.update(await auth.headers(self))
        bucket = self._limiters.bucket(self.store_key, endpoint.name, self.bucket_rate(endpoint))
        await bucket.acquire()
        self.requests_sent += 1
        try:
            response = await self._client.request(
                method,
                request_url,
                params=_clean_params(params),
                json=json_body,
                data=form,
                content=content,
                headers=all_headers,
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.TimeoutException as exc:
            raise Transient("timed out", code="timeout", platform=self.platform) from exc
        except httpx.TransportError as exc:
            raise Transient(
                "connection failed", code="connection_error", platform=self.platform
            ) from exc
        self._learn_rate(response, bucket_key=endpoint)
        error = (classify or self._classify)(response)
        if error is None:
            return response
        if isinstance(error, RateLimited):
            bucket.penalise(error.retry_after)
        raise error

    def _learn_rate(self, response: httpx.Response, bucket_key: Endpoint) -> None:
        # Amazon tells the applied rate per operation; follow it (never above the burst we know).
        announced = response.headers.get("x-amzn-ratelimit-limit")
        if not announced:
            return
        try:
            per_second = float(announced)
        except ValueError:
            return
        if per_second > 0:
            bucket = self._limiters.bucket(
                self.store_key, bucket_key.name, self.bucket_rate(bucket_key)
            )
            current = bucket.rate
            scaled = per_second * self._rate_scale
            if abs(current.per_second - scaled) > 1e-9:
                bucket.set_rate(Rate(per_second=scaled, burst=current.burst))

    async def _check_host(self, url: httpx.URL) -> None:
        if not self._check_dns:
            return
        origin = f"{url.scheme}://{url.netloc.decode('ascii').lower()}"
        if origin in self._dns_exempt:
            return
        if url.scheme != "https":
            raise UnsafeBaseUrl("scheme_not_allowed", "only https outside the simulator")
        host = url.host
        now = time.monotonic()
        if self._resolved.get(host, 0.0) > now:
            return
        await self._resolver(host, url.port or 443)
        self._resolved[host] = now + 60.0


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {k: v for k, v in params.items() if v is not None}
