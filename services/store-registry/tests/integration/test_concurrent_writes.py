"""Concurrent writers of one store on real PostgreSQL and Kafka.

Stores are changed optimistically: read without a lock, written only if still at the version
read. These tests check that a lost race writes nothing and emits nothing, that `If-Match: *`
writes are all applied (none lost) with their events in version order, and that of several
writes naming the same version exactly one wins.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from store_registry.app.ports import StoreChangedMeanwhile
from store_registry.settings import StoreRegistrySettings

from kervan_testkit.events import record_events

from .conftest import ADMIN, Runner

pytestmark = pytest.mark.integration


async def _counts(pg_dsn: str, schema: str, store_id: str) -> tuple[int, int]:
    conn = await asyncpg.connect(pg_dsn)
    try:
        audit = await conn.fetchval(
            f"SELECT count(*) FROM {schema}.audit_log WHERE entity_id = $1", store_id
        )
        outbox = await conn.fetchval(
            f"SELECT count(*) FROM {schema}.outbox WHERE key = $1", store_id.encode()
        )
    finally:
        await conn.close()
    return audit, outbox


async def test_a_commit_that_lost_the_race_writes_nothing(
    run_service: Runner, service_settings: StoreRegistrySettings, pg_dsn: str
) -> None:
    async with run_service() as (app, client):
        created = (
            await client.post("/v1/stores", json={"title": "A", "platform": "n11"}, headers=ADMIN)
        ).json()
        store_id = created["id"]
        uow_factory = app.state.deps.uow
        now = app.state.deps.env.clock()
        loser = uow_factory()
        async with loser:
            mine = await loser.stores.get(store_id)
            assert mine is not None
            winner = uow_factory()
            async with winner:  # another writer commits between the read and the commit
                theirs = await winner.stores.get(store_id)
                assert theirs is not None
                theirs.update_details(actor="bob", now=now, title="Winner")
                await winner.commit()
            mine.update_details(actor="alice", now=now, title="Loser")
            with pytest.raises(StoreChangedMeanwhile):
                await loser.commit()
        current = (await client.get(f"/v1/stores/{store_id}", headers=ADMIN)).json()
    assert (current["title"], current["version"]) == ("Winner", 2)
    # created + the winner's update: the losing commit left no audit row and no event
    assert await _counts(pg_dsn, service_settings.db_schema, store_id) == (2, 2)


async def test_concurrent_if_match_star_writes_are_all_applied_in_version_order(
    run_service: Runner, service_settings: StoreRegistrySettings, kafka_bootstrap: str
) -> None:
    writers = 8
    async with (
        run_service() as (_app, client),
        record_events(kafka_bootstrap, service_settings.stores_topic) as rec,
    ):
        created = (
            await client.post("/v1/stores", json={"title": "T", "platform": "n11"}, headers=ADMIN)
        ).json()
        url = f"/v1/stores/{created['id']}"

        async def rename(n: int) -> Any:
            return await client.patch(
                url, json={"title": f"T{n}"}, headers={**ADMIN, "If-Match": "*"}
            )

        answers = await asyncio.gather(*(rename(n) for n in range(writers)))
        assert [a.status_code for a in answers] == [200] * writers
        # every write got its own version: none overwrote another unseen
        assert sorted(a.json()["version"] for a in answers) == list(range(2, writers + 2))
        records = await rec.wait_for(writers + 1, timeout=30)
        await rec.assert_no_more(timeout=2)
    versions = [record.value["data"]["store"]["version"] for record in records]
    assert versions == list(range(1, writers + 2))
    titles = {a.json()["version"]: a.json()["title"] for a in answers}
    assert {v: records[v - 1].value["data"]["store"]["title"] for v in titles} == titles


async def test_of_concurrent_writes_naming_one_version_exactly_one_wins(
    run_service: Runner, service_settings: StoreRegistrySettings, pg_dsn: str
) -> None:
    writers = 8
    async with run_service() as (_app, client):
        created = (
            await client.post("/v1/stores", json={"title": "T", "platform": "n11"}, headers=ADMIN)
        ).json()
        url = f"/v1/stores/{created['id']}"
        answers = await asyncio.gather(
            *(
                client.patch(url, json={"title": f"T{n}"}, headers={**ADMIN, "If-Match": '"1"'})
                for n in range(writers)
            )
        )
        current = (await client.get(url, headers=ADMIN)).json()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [412] * (writers - 1)
    assert all(
        a.json()["error"]["code"] == "version_mismatch" for a in answers if a.status_code == 412
    )
    [won] = [a.json() for a in answers if a.status_code == 200]
    assert current["version"] == 2
    assert current["title"] == won["title"]
    assert await _counts(pg_dsn, service_settings.db_schema, created["id"]) == (2, 2)
