"""Where the test servers come from.

Each server is resolved lazily, the first time a test asks for it, in this order:

1. an endpoint from the environment (``KERVAN_TEST_*``), used as-is after a reachability probe;
2. a testcontainers container, when a Docker engine answers quickly;
3. the devstack (real servers on free loopback ports, own state dir), stopped at session end.

A server that cannot be had raises :class:`InfraUnavailableError`; the plugin turns that into a test
failure, never a skip.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import asyncpg
import httpx
import psutil

from kervan_devstack import Devstack, DevstackError, Service
from kervan_devstack.kafka import kafka_ready
from kervan_devstack.settings import repo_root

log = logging.getLogger("kervan_testkit")

ENV_KAFKA = "KERVAN_TEST_KAFKA_BOOTSTRAP"
ENV_POSTGRES = "KERVAN_TEST_POSTGRES_DSN"
ENV_VAULT_ADDR = "KERVAN_TEST_VAULT_ADDR"
ENV_VAULT_TOKEN = "KERVAN_TEST_VAULT_TOKEN"  # noqa: S105 - a variable name, not a secret
#: ``0`` skips the Docker step (go straight to the devstack); ``1`` requires Docker.
ENV_USE_DOCKER = "KERVAN_TEST_DOCKER"
KV_MOUNT = "kervan"

Source = Literal["env", "testcontainers", "devstack"]
T = TypeVar("T")


class InfraUnavailableError(RuntimeError):
    """A test server could not be provided; the message says why."""


@dataclass(frozen=True, slots=True)
class VaultEndpoint:
    """A Vault-compatible server: address, token and the KV v2 mount Kervan uses."""

    addr: str
    token: str = field(repr=False)
    kv_mount: str = KV_MOUNT


@dataclass(frozen=True, slots=True)
class Resolved:
    """One resolved server and where it came from (for the session summary)."""

    service: Service
    source: Source
    where: str


def redact_dsn(dsn: str) -> str:
    """The DSN without its password, for logs."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def _run(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


def probe_kafka(bootstrap: str, timeout: float = 10.0) -> None:
    """Raise unless one of the bootstrap servers answers ApiVersions and Metadata."""
    hosts = [h.strip() for h in bootstrap.split(",") if h.strip()]
    if not hosts:
        raise InfraUnavailableError("empty Kafka bootstrap")
    for hostport in hosts:
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise InfraUnavailableError(f"Kafka bootstrap {hostport!r} is not host:port")
        if kafka_ready(int(port), timeout=timeout, host=host.strip("[]")):
            return
    raise InfraUnavailableError(f"no Kafka broker answered at {bootstrap}")


def probe_postgres(dsn: str, timeout: float = 10.0) -> None:
    """Raise unless ``SELECT 1`` works with this DSN."""

    async def check() -> None:
        conn = await asyncpg.connect(dsn, timeout=timeout)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    try:
        _run(check)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise InfraUnavailableError(
            f"PostgreSQL at {redact_dsn(dsn)} did not answer SELECT 1: {type(exc).__name__}: {exc}"
        ) from None


def prepare_vault(endpoint: VaultEndpoint, timeout: float = 10.0) -> None:
    """Raise unless the server is healthy and the token works; mount KV v2 if missing."""
    headers = {"X-Vault-Token": endpoint.token}
    try:
        with httpx.Client(base_url=endpoint.addr, headers=headers, timeout=timeout) as client:
            health = client.get("/v1/sys/health")
            if health.status_code != 200:
                raise InfraUnavailableError(
                    f"Vault at {endpoint.addr} is not active (sys/health HTTP {health.status_code})"
                )
            mounts = client.get("/v1/sys/mounts")
            if mounts.status_code != 200:
                raise InfraUnavailableError(
                    f"Vault at {endpoint.addr} rejected the token (HTTP {mounts.status_code})"
                )
            body = mounts.json()
            if f"{endpoint.kv_mount}/" not in body.get("data", body):
                created = client.post(
                    f"/v1/sys/mounts/{endpoint.kv_mount}",
                    json={"type": "kv", "options": {"version": "2"}},
                )
                if created.status_code not in (200, 204):
                    raise InfraUnavailableError(
                        f"could not mount KV v2 at {endpoint.kv_mount}/ on {endpoint.addr}"
                    )
    except httpx.HTTPError as exc:
        raise InfraUnavailableError(
            f"Vault at {endpoint.addr} did not answer: {type(exc).__name__}: {exc}"
        ) from None


def docker_available(timeout: int = 2) -> bool:
    """True when a Docker engine answers a ping within ``timeout`` seconds."""
    try:
        import docker  # noqa: PLC0415 - only imported when needed (slow import)

        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure means "no usable Docker"
        return False


def _start_reaper(state_dir: Path) -> subprocess.Popen[bytes]:
    """Have a detached watcher stop the devstack if this process dies without cleaning up."""
    me = psutil.Process()
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "kervan_devstack._reaper",
            str(me.pid),
            repr(me.create_time()),
            str(state_dir),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


class Infra:
    """Lazily resolved servers for one pytest session (or one test of the resolver)."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        state_root: Path | None = None,
        docker_check: Callable[[], bool] = docker_available,
    ) -> None:
        self._env = dict(os.environ if env is None else env)
        self._state_root = state_root
        self._docker_check = docker_check
        self._docker: bool | None = None
        self._devstack: Devstack | None = None
        self._reaper: subprocess.Popen[bytes] | None = None
        self._containers: list[Any] = []
        self._cache: dict[Service, object] = {}
        self._failures: dict[Service, str] = {}
        self.resolved: list[Resolved] = []

    # -- public -------------------------------------------------------------------------------

    def kafka_bootstrap(self) -> str:
        """Bootstrap servers of a working Kafka."""
        return str(self._get("kafka", self._resolve_kafka))

    def postgres_dsn(self) -> str:
        """Superuser DSN of a working PostgreSQL."""
        return str(self._get("postgres", self._resolve_postgres))

    def vault(self) -> VaultEndpoint:
        """A working Vault-compatible server with KV v2 at ``kervan/``."""
        value = self._get("bao", self._resolve_vault)
        assert isinstance(value, VaultEndpoint)
        return value

    def close(self) -> None:
        """Stop only what this object started (devstack servers, containers)."""
        for container in reversed(self._containers):
            with contextlib.suppress(Exception):
                container.stop()
        self._containers.clear()
        if self._devstack is not None:
            self._devstack.down()
            # The state dir is ours alone (unique name); drop it so runs do not pile up.
            shutil.rmtree(self._devstack.state_dir, ignore_errors=True)
            self._devstack = None

    # -- resolution -----------------------------------------------------------------------

    def _get(self, service: Service, resolve: Callable[[], object]) -> object:
        if service in self._cache:
            return self._cache[service]
        if service in self._failures:
            raise InfraUnavailableError(self._failures[service])
        try:
            value = resolve()
        except InfraUnavailableError as exc:
            self._failures[service] = str(exc)
            raise
        self._cache[service] = value
        return value

    def _note(self, service: Service, source: Source, where: str) -> None:
        self.resolved.append(Resolved(service, source, where))
        log.info("kervan-testkit: %s from %s (%s)", service, source, where)

    def _use_docker(self) -> bool:
        setting = self._env.get(ENV_USE_DOCKER, "auto")
        if setting == "0":
            return False
        if self._docker is None:
            self._docker = self._docker_check()
        if setting == "1" and not self._docker:
            raise InfraUnavailableError(f"{ENV_USE_DOCKER}=1 but no Docker engine answered")
        return self._docker

    def _stack(self) -> Devstack:
        if self._devstack is None:
            root = self._state_root or (repo_root() or Path.cwd()) / ".devstack"
            self._devstack = Devstack(root / f"pytest-{uuid.uuid4().hex[:12]}", ports="auto")
            self._devstack.state_dir.mkdir(parents=True, exist_ok=True)
            self._reaper = _start_reaper(self._devstack.state_dir)
        return self._devstack

    def _devstack_up(self, service: Service) -> Devstack:
        stack = self._stack()
        try:
            stack.up([service])
        except DevstackError as exc:
            raise InfraUnavailableError(f"devstack could not start {service}: {exc}") from None
        return stack

    def _resolve_kafka(self) -> str:
        bootstrap = self._env.get(ENV_KAFKA)
        if bootstrap:
            try:
                probe_kafka(bootstrap)
            except InfraUnavailableError as exc:
                raise InfraUnavailableError(f"{ENV_KAFKA}={bootstrap}: {exc}") from None
            self._note("kafka", "env", bootstrap)
            return bootstrap
        if self._use_docker():
            from testcontainers.community.kafka import KafkaContainer  # noqa: PLC0415 - Docker path only

            container = KafkaContainer().with_kraft()
            self._start_container(container, "Kafka")
            bootstrap = str(container.get_bootstrap_server())
            self._note("kafka", "testcontainers", bootstrap)
            return bootstrap
        bootstrap = self._devstack_up("kafka").endpoints().kafka_bootstrap
        self._note("kafka", "devstack", bootstrap)
        return bootstrap

    def _resolve_postgres(self) -> str:
        dsn = self._env.get(ENV_POSTGRES)
        if dsn:
            try:
                probe_postgres(dsn)
            except InfraUnavailableError as exc:
                raise InfraUnavailableError(f"{ENV_POSTGRES}: {exc}") from None
            self._note("postgres", "env", redact_dsn(dsn))
            return dsn
        if self._use_docker():
            from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415 - Docker path only

            container = PostgresContainer("postgres:17-alpine", driver=None)
            self._start_container(container, "PostgreSQL")
            dsn = str(container.get_connection_url())
            probe_postgres(dsn)
            self._note("postgres", "testcontainers", redact_dsn(dsn))
            return dsn
        dsn = self._devstack_up("postgres").endpoints().postgres_dsn
        self._note("postgres", "devstack", dsn)
        return dsn

    def _resolve_vault(self) -> VaultEndpoint:
        addr = self._env.get(ENV_VAULT_ADDR)
        if addr:
            token = self._env.get(ENV_VAULT_TOKEN)
            if not token:
                raise InfraUnavailableError(f"{ENV_VAULT_ADDR} is set but {ENV_VAULT_TOKEN} is not")
            endpoint = VaultEndpoint(addr=addr.rstrip("/"), token=token)
            try:
                prepare_vault(endpoint)
            except InfraUnavailableError as exc:
                raise InfraUnavailableError(f"{ENV_VAULT_ADDR}={addr}: {exc}") from None
            self._note("bao", "env", endpoint.addr)
            return endpoint
        if self._use_docker():
            from testcontainers.community.vault import VaultContainer  # noqa: PLC0415 - Docker path only

            container = VaultContainer("hashicorp/vault:1.18", root_token=uuid.uuid4().hex)
            self._start_container(container, "Vault")
            endpoint = VaultEndpoint(
                addr=str(container.get_connection_url()), token=container.root_token
            )
            prepare_vault(endpoint)
            self._note("bao", "testcontainers", endpoint.addr)
            return endpoint
        endpoints = self._devstack_up("bao").endpoints()
        endpoint = VaultEndpoint(
            addr=endpoints.vault_addr,
            token=endpoints.vault_token,
            kv_mount=endpoints.vault_kv_mount,
        )
        self._note("bao", "devstack", endpoint.addr)
        return endpoint

    def _start_container(self, container: Any, what: str) -> None:
        try:
            container.start()
        except Exception as exc:
            raise InfraUnavailableError(
                f"Docker answered but the {what} container did not start: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        self._containers.append(container)
