"""A third-party client (Debian's kcat) reads Kervan's events, valid against the JSON Schema."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import jsonschema
import pytest

from kervan_contracts.credentials.v1 import ApiStatusChanged
from kervan_contracts.envelope import Envelope
from kervan_servicekit.outbox import Outbox, OutboxRelay

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[4] / "libs" / "contracts" / "schemas"


async def _kcat(*args: str) -> str:
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.fail("install Debian's kcat (apt-get install kcat)")
    process = await asyncio.create_subprocess_exec(
        kcat, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


async def test_kcat_reads_an_event_published_by_the_relay(
    make_relay: Callable[..., OutboxRelay],
    db: asyncpg.Pool,
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    status_envelope: Callable[..., Envelope[ApiStatusChanged]],
) -> None:
    topic = await new_topic("kcat")
    envelope = status_envelope("store-kcat", reason_code=None, message="checked")
    async with db.acquire() as conn, conn.transaction():
        await Outbox("svc").add(conn, topic, "store-kcat", envelope)
    relay = make_relay()
    await relay.start()

    # -e exits at the end of the partition, so wait until the relay has marked the row.
    for _ in range(400):
        if await db.fetchval("SELECT published_at IS NOT NULL FROM outbox") is True:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("relay did not publish within 20s")

    output = await _kcat(
        "-C", "-b", kafka_bootstrap, "-t", topic, "-o", "beginning", "-c", "1", "-e", "-J"
    )
    record = json.loads(output.strip().splitlines()[0])
    assert record["key"] == "store-kcat"
    headers = dict(zip(record["headers"][::2], record["headers"][1::2], strict=True))
    assert headers["event_type"] == "credentials.api_status.changed"
    assert headers["event_id"] == str(envelope.event_id)

    value = json.loads(record["payload"])
    schema = json.loads((SCHEMAS / "credentials.api_status.changed.v1.json").read_text())
    jsonschema.validate(value, schema)  # raises on any violation
    assert value["event_id"] == str(envelope.event_id)
    assert value["data"]["store_id"] == "store-kcat"
    # the schema really constrains the value: a broken copy must be rejected
    broken = {**value, "data": {**value["data"], "status": "sort-of"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
