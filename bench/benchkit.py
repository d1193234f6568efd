"""What the benchmarks share: servers, a scratch database, free ports and percentiles.

Benchmarks run as scripts (`uv run python bench/bench_x.py`), so this module is imported from
the script's own directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(samples: list[float], q: float) -> float:
    """q-th percentile (0..100) by nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@contextlib.contextmanager
def infrastructure(name: str) -> Iterator[tuple[str, str]]:
    """(Kafka bootstrap, superuser PostgreSQL DSN): the endpoints in the environment
    (KERVAN_TEST_* first, then KERVAN_*), or a devstack Kafka and PostgreSQL started for this
    benchmark under the repository's .devstack/ and stopped afterwards."""
    for prefix in ("KERVAN_TEST_", "KERVAN_"):
        kafka = os.environ.get(f"{prefix}KAFKA_BOOTSTRAP")
        dsn = os.environ.get(f"{prefix}POSTGRES_DSN")
        if kafka and dsn:
            yield kafka, dsn
            return
    from kervan_devstack import Devstack  # noqa: PLC0415  (only when no endpoints are given)

    state_dir = ROOT / ".devstack" / f"bench-{name}-{secrets.token_hex(4)}"
    state_dir.mkdir(parents=True)
    state_dir.chmod(0o755)  # PostgreSQL runs as its own user and must reach it
    stack = Devstack(state_dir, ports="auto")
    try:
        endpoints = stack.up(["kafka", "postgres"])
        yield endpoints.kafka_bootstrap, endpoints.postgres_dsn
    finally:
        stack.down(["kafka", "postgres"])
        shutil.rmtree(state_dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def scratch_database(admin_dsn: str, prefix: str = "bench") -> AsyncIterator[str]:
    """A fresh database for one run, dropped afterwards; yields its DSN."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield urlsplit(admin_dsn)._replace(path=f"/{name}").geturl()
    finally:
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
