"""CPU of the outbox relay's publish step: one aiokafka `send` per record vs record batches.

The relay's hot loop hands every claimed row to its producer. This measures only that step
(process CPU while the rows are handed over; the confirms are awaited outside it) for the
records order-ingest's burst makes: 20,000 `OrderReceived` (~2.3 KB, a key per order, on the
orders topic) and 20,000 `StockDeducted` (~0.8 KB, one shared key) in claims of 2,000 rows, on
real Kafka (acks=all, idempotent, 512 KiB batches, as the relay's producer). Three ways, each
run twice: `send` with aiokafka's default partitioner, `send` with servicekit's
`KeyPartitioner`, and the relay's `_send_in_batches` (what it uses now).

Usage: `uv run python bench/bench_relay_publish.py [--records 40000]`. Servers: as
`benchkit.infrastructure` (KERVAN_KAFKA_BOOTSTRAP, otherwise a devstack Kafka).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import secrets
import sys
import time
from typing import Any

from aiokafka import AIOKafkaProducer

from benchkit import infrastructure
from kervan_contracts import topics
from kervan_servicekit import ensure_topics
from kervan_servicekit.outbox import PRODUCER_BATCH_BYTES, OutboxRecord, _send_in_batches
from kervan_servicekit.partitioner import KeyPartitioner

CLAIM = 2000


def records(count: int, orders_topic: str, movements_topic: str) -> list[OutboxRecord]:
    """Half order events (a key each), half movements (one key), alternating as in a burst."""
    headers = [("event_type", b"e" * 24), ("event_id", b"i" * 36), ("correlation_id", b"c" * 36)]
    rows = []
    for n in range(count):
        if n % 2 == 0:
            key = f"bench-store-{n % 50:03d}:BURST{n:09d}".encode()
            rows.append(OutboxRecord(n, orders_topic, key, headers, b"o" * 2300))
        else:
            rows.append(
                OutboxRecord(n, movements_topic, b"wh-main:BULK-SKU-1", headers, b"d" * 800)
            )
    return rows


async def publish(bootstrap: str, rows: list[OutboxRecord], mode: str) -> tuple[float, float]:
    """(CPU seconds in the publish step, wall seconds including the confirms)."""
    options: dict[str, Any] = (
        {} if mode == "send, aiokafka's partitioner" else {"partitioner": KeyPartitioner()}
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_batch_size=PRODUCER_BATCH_BYTES,
        **options,
    )
    await producer.start()
    try:
        cpu, wall = 0.0, time.perf_counter()
        for at in range(0, len(rows), CLAIM):
            claim = rows[at : at + CLAIM]
            started = time.process_time()
            if mode == "record batches (the relay)":
                futures = await _send_in_batches(producer, claim)
            else:
                futures = [
                    await producer.send(r.topic, value=r.payload, key=r.key, headers=r.headers)
                    for r in claim
                ]
            cpu += time.process_time() - started
            for future in futures:
                await future
        return cpu, time.perf_counter() - wall
    finally:
        await producer.stop()


async def run(bootstrap: str, count: int) -> None:
    """Every way twice, interleaved; prints CPU per record."""
    specs = [
        dataclasses.replace(topics.TOPICS[name], name=f"bench.relay.{name}.{secrets.token_hex(3)}")
        for name in (topics.ORDERS, topics.STOCK_MOVEMENTS)
    ]
    await ensure_topics(bootstrap, specs)
    rows = records(count, specs[0].name, specs[1].name)
    await publish(bootstrap, rows[:CLAIM], "record batches (the relay)")  # warm-up
    modes = ["send, aiokafka's partitioner", "send, KeyPartitioner", "record batches (the relay)"]
    for mode in modes * 2:
        cpu, wall = await publish(bootstrap, rows, mode)
        print(
            f"{mode:30} publish step CPU {cpu * 1000:6.0f} ms for {count:,} records "
            f"({cpu / count * 1e6:4.1f} µs each); wall with confirms {wall:.2f} s",
            flush=True,
        )


def main() -> int:
    """Parse flags and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=40_000)
    args = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # broker start-up chatter
    with infrastructure("relay-publish") as (bootstrap, _dsn):
        asyncio.run(run(bootstrap, args.records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
