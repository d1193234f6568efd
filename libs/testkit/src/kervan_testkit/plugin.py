"""pytest plugin (entry point ``kervan_testkit``): real Kafka, PostgreSQL and Vault fixtures.

Servers start lazily, only when a test requests one of the fixtures, and are resolved as
described in :mod:`kervan_testkit.infra`. A server that cannot be had fails the test (never
skips it).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kervan_testkit.events import take_unawaited_checks
from kervan_testkit.infra import Infra, InfraUnavailableError, VaultEndpoint

_INFRA_KEY = pytest.StashKey[Infra]()

NewTopicFactory = Callable[..., Awaitable[str]]


def pytest_configure(config: pytest.Config) -> None:
    """Create the (still empty) resolver; nothing starts until a fixture asks."""
    config.stash[_INFRA_KEY] = Infra()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop whatever the session started (devstack servers, containers)."""
    infra = config.stash.get(_INFRA_KEY, None)
    if infra is not None:
        infra.close()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say where the servers came from, so a run's environment is never a guess."""
    infra = config.stash.get(_INFRA_KEY, None)
    if infra is None or not infra.resolved:
        return
    terminalreporter.write_line(
        "kervan-testkit: "
        + ", ".join(f"{r.service} from {r.source} ({r.where})" for r in infra.resolved)
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail a test that built a recorder assertion but forgot to ``await`` it."""
    take_unawaited_checks()
    result = yield
    forgotten = take_unawaited_checks()
    if forgotten:
        raise AssertionError(
            f"{', '.join(forgotten)}() of an event recorder was called but never awaited"
        )
    return result


def _provide(request: pytest.FixtureRequest, get: Callable[[Infra], Any]) -> Any:
    infra = request.config.stash[_INFRA_KEY]
    try:
        return get(infra)
    except InfraUnavailableError as exc:
        pytest.fail(f"kervan-testkit: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers (``host:port``) of a real Kafka for the whole session."""
    return str(_provide(request, Infra.kafka_bootstrap))


@pytest.fixture(scope="session")
def postgres_dsn(request: pytest.FixtureRequest) -> str:
    """Superuser DSN of a real PostgreSQL for the whole session."""
    return str(_provide(request, Infra.postgres_dsn))


@pytest.fixture(scope="session")
def vault_endpoint(request: pytest.FixtureRequest) -> VaultEndpoint:
    """A real Vault-compatible server (``.addr``, ``.token``, ``.kv_mount``)."""
    endpoint = _provide(request, Infra.vault)
    assert isinstance(endpoint, VaultEndpoint)
    return endpoint


def make_unique_name(prefix: str = "t") -> str:
    """``<prefix>_<12 hex>``: valid as topic, database, role and KV path name."""
    return f"{prefix}_{secrets.token_hex(6)}"


@pytest.fixture
def unique_name() -> Callable[..., str]:
    """Factory of unique names: ``unique_name("orders") -> "orders_1a2b3c4d5e6f"``."""
    return make_unique_name


def dsn_with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    return urlsplit(dsn)._replace(path=f"/{database}").geturl()


@pytest_asyncio.fixture(loop_scope="session")
async def pg_dsn(postgres_dsn: str) -> AsyncIterator[str]:
    """DSN of a fresh, uniquely named database; dropped after the test."""
    name = make_unique_name("test")
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield dsn_with_database(postgres_dsn, name)
    conn = await asyncpg.connect(postgres_dsn)
    try:
        # FORCE: a test that leaked a connection must not break clean-up (PG 13+).
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def wait_for_topic(
    admin: AIOKafkaAdminClient,
    topic: str,
    partitions: int,
    timeout: float = 15.0,  # noqa: ASYNC109 - a deadline for the whole poll, simplest as a number
) -> None:
    """Poll metadata until the topic shows all its partitions with leaders."""
    deadline = time.monotonic() + timeout
    while True:
        described = await admin.describe_topics([topic])
        info = described[0] if described else {}
        parts = info.get("partitions") or []
        if (
            info.get("error_code", 0) == 0
            and len(parts) == partitions
            and all(p.get("leader", -1) >= 0 for p in parts)
        ):
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"topic {topic} did not appear in metadata within {timeout}s")
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture(loop_scope="session")
async def new_topic(kafka_bootstrap: str) -> AsyncIterator[NewTopicFactory]:
    """Async factory: ``await new_topic(prefix="t", partitions=1, config=None) -> name``.

    The topic exists with all partition leaders elected when the call returns; topics are
    deleted after the test.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    created: list[str] = []

    async def factory(
        prefix: str = "t", partitions: int = 1, config: dict[str, str] | None = None
    ) -> str:
        name = make_unique_name(prefix)
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=dict(config or {}))])
        created.append(name)
        await wait_for_topic(admin, name, partitions)
        return name

    try:
        yield factory
    finally:
        with contextlib.suppress(Exception):
            if created:
                await admin.delete_topics(created)
        await admin.close()


@pytest.fixture
def vault_path(vault_endpoint: VaultEndpoint) -> Iterator[str]:
    """A unique KV path prefix (e.g. ``test_1a2b3c4d5e6f``) under the ``kervan/`` mount.

    Secrets written below it are deleted (all versions) after the test.
    """
    prefix = make_unique_name("test")
    yield prefix
    headers = {"X-Vault-Token": vault_endpoint.token}
    with (
        contextlib.suppress(httpx.HTTPError),
        httpx.Client(base_url=vault_endpoint.addr, headers=headers, timeout=5.0) as client,
    ):
        _delete_tree(client, vault_endpoint.kv_mount, prefix)


def _delete_tree(client: httpx.Client, mount: str, path: str) -> None:
    listed = client.request("LIST", f"/v1/{mount}/metadata/{path}")
    if listed.status_code == 200:
        for key in listed.json().get("data", {}).get("keys", []):
            child = f"{path}/{key.rstrip('/')}"
            if key.endswith("/"):
                _delete_tree(client, mount, child)
            else:
                client.delete(f"/v1/{mount}/metadata/{child}")
    client.delete(f"/v1/{mount}/metadata/{path}")
