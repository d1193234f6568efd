"""The function-scoped helpers give isolated resources."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from kervan_testkit.infra import VaultEndpoint

pytestmark = pytest.mark.integration

_seen_databases: list[str] = []


@pytest.mark.parametrize("run", ["first", "second"])
async def test_pg_dsn_is_a_fresh_private_database(run: str, pg_dsn: str, postgres_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        name = await conn.fetchval("SELECT current_database()")
        user_tables = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        await conn.execute("CREATE TABLE marker (run text)")
        await conn.execute("INSERT INTO marker VALUES ($1)", run)
    finally:
        await conn.close()
    assert user_tables == 0  # nothing left over from another test

    admin = await asyncpg.connect(postgres_dsn)
    try:
        assert name != await admin.fetchval("SELECT current_database()")
        existing = {r["datname"] for r in await admin.fetch("SELECT datname FROM pg_database")}
        admin_sees_marker = await admin.fetchval("SELECT to_regclass('public.marker')")
    finally:
        await admin.close()
    assert name in existing
    assert admin_sees_marker is None  # the table lives only in the test's database
    # Databases of earlier tests were dropped at their teardown.
    assert not set(_seen_databases) & existing
    _seen_databases.append(name)


async def test_new_topic_has_partitions_and_config(new_topic, kafka_bootstrap: str) -> None:  # type: ignore[no-untyped-def]
    first = await new_topic(prefix="orders", partitions=3, config={"cleanup.policy": "compact"})
    second = await new_topic(prefix="orders")
    assert first != second
    assert first.startswith("orders_")

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([first])
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, first, {"cleanup.policy": None})]
        )
    finally:
        await admin.close()
    assert len(described["partitions"]) == 3
    entries = {e[0]: e[1] for e in configs[0].resources[0][4]}
    assert entries["cleanup.policy"] == "compact"


def test_unique_name_is_unique(unique_name) -> None:  # type: ignore[no-untyped-def]
    names = {unique_name("store") for _ in range(200)}
    assert len(names) == 200
    assert all(n.startswith("store_") for n in names)


def test_vault_path_is_writable_and_private(vault_endpoint: VaultEndpoint, vault_path: str) -> None:
    headers = {"X-Vault-Token": vault_endpoint.token}
    url = f"/v1/{vault_endpoint.kv_mount}/data/{vault_path}/marketplace-credentials/42"
    with httpx.Client(base_url=vault_endpoint.addr, headers=headers) as client:
        assert client.get(url).status_code == 404  # fresh prefix: nothing there yet
        written = client.post(url, json={"data": {"api_key": "k"}})
        assert written.status_code == 200, written.text
        assert client.get(url).json()["data"]["data"] == {"api_key": "k"}
