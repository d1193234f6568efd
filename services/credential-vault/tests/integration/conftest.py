"""The whole service (API, consumer, relay) on real PostgreSQL, Kafka and OpenBao, in process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import hvac
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from credential_vault.bootstrap import build_app
from credential_vault.settings import CredentialVaultSettings
from fastapi import FastAPI
from pydantic import SecretStr

from kervan_contracts.registry import envelope_headers, make_envelope, serialize_envelope
from kervan_contracts.stores.v1 import StoreCreated, StoreDeleted, StoreSnapshot, StoreUpdated
from kervan_marketplaces import AdapterFactory
from kervan_servicekit.settings import (
    KafkaSettings,
    OutboxSettings,
    PostgresSettings,
    VaultSettings,
)
from kervan_testkit.infra import VaultEndpoint

ADMIN_TOKEN = "integration-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class VaultProxy:
    """A TCP forwarder in front of the real Vault that a test can stop and restart."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").rstrip("/").split(":")
        self._target = (host, int(port))
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()


@pytest.fixture
async def vault_proxy(vault_endpoint: VaultEndpoint) -> AsyncIterator[VaultProxy]:
    proxy = VaultProxy(vault_endpoint.addr)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
def settings(
    pg_dsn: str,
    kafka_bootstrap: str,
    vault_endpoint: VaultEndpoint,
    vault_proxy: VaultProxy,
    vault_path: str,
    unique_name: Callable[[str], str],
) -> CredentialVaultSettings:
    return CredentialVaultSettings(
        admin_token=SecretStr(ADMIN_TOKEN),
        tokens=[],
        fingerprint_key=SecretStr("integration-fingerprint-key-0123456789"),
        postgres=PostgresSettings(dsn=SecretStr(pg_dsn), pool_max_size=4),
        kafka=KafkaSettings(bootstrap=kafka_bootstrap),
        vault=VaultSettings(
            addr=vault_proxy.addr,
            token=SecretStr(vault_endpoint.token),
            kv_mount=vault_endpoint.kv_mount,
            timeout_seconds=2.0,
        ),
        vault_prefix=f"{vault_path}/marketplace-credentials",
        outbox=OutboxSettings(poll_interval_seconds=0.2, lock_retry_seconds=0.2),
        stores_topic=unique_name("stores"),
        consumer_group=unique_name("credential_vault"),
        recheck_interval_seconds=0,
    )


@dataclass
class Running:
    """A running service instance and helpers around it."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: CredentialVaultSettings
    producer: AIOKafkaProducer
    vault: hvac.Client

    async def publish_store(self, snapshot: StoreSnapshot, kind: str = "created") -> None:
        """Publish a store event on the stores topic, as store-registry would."""
        payload: Any
        if kind == "created":
            payload = StoreCreated(store=snapshot)
        elif kind == "updated":
            payload = StoreUpdated(store=snapshot)
        else:
            payload = StoreDeleted(store=snapshot, deleted_at=datetime.now(UTC))
        envelope = make_envelope(payload, producer="store-registry")
        await self.producer.send_and_wait(
            self.settings.stores_topic,
            serialize_envelope(envelope),
            key=snapshot.store_id.encode(),
            headers=[(k, v.encode()) for k, v in envelope_headers(envelope).items()],
        )

    def secret(self, store_id: str) -> dict[str, Any] | None:
        """What Vault holds for a store (the test reads it directly)."""
        try:
            response = self.vault.secrets.kv.v2.read_secret_version(
                path=f"{self.settings.vault_prefix}/{store_id}",
                mount_point=self.settings.vault.kv_mount,
                raise_on_deleted_version=False,
            )
        except hvac.exceptions.InvalidPath:
            return None
        data: dict[str, Any] = response["data"]
        return data

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.settings.postgres.dsn.get_secret_value(),
            server_settings={"search_path": self.settings.db_schema},
        )


@pytest.fixture
async def service(
    settings: CredentialVaultSettings,
    marketplaces: AdapterFactory,
    vault_endpoint: VaultEndpoint,
    kafka_bootstrap: str,
) -> AsyncIterator[Running]:
    app = build_app(settings, marketplaces=marketplaces)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    vault = hvac.Client(url=vault_endpoint.addr, token=vault_endpoint.token)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://cv") as client:
                yield Running(app, client, settings, producer, vault)
    finally:
        await producer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        with contextlib.suppress(Exception):
            await admin.delete_topics([settings.stores_topic, f"{settings.consumer_group}.dlq"])
        await admin.close()


__all__ = ["ADMIN", "Running", "VaultProxy", "asynccontextmanager"]
