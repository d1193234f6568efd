"""A small migration runner for plain, numbered SQL files on asyncpg.

Files are named `NNNN_name.sql`, applied in order, each in its own transaction, inside the
service's schema (via `SET LOCAL search_path`), and recorded in `schema_migrations` with a
SHA-256 checksum. A landed file that changed is an error, as is a new file numbered below one
already applied. A session advisory lock per schema serialises replicas starting together.
"""

# ruff: noqa: S608  (only the schema name is formatted in, always through quote_ident;
# values are bind parameters)
from __future__ import annotations

import hashlib
import importlib.resources
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

logger = logging.getLogger("kervan.servicekit.migrations")

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
SERVICEKIT_SOURCE = "kervan_servicekit"


class MigrationError(RuntimeError):
    """Migrations are inconsistent with what the database has recorded."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: its number, name and content."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class MigrationSet:
    """Migrations of one source (servicekit, or the service itself), tracked separately."""

    source: str
    migrations: Sequence[Migration]


def parse_migrations(files: Iterable[tuple[str, str]]) -> list[Migration]:
    """Build migrations from `(file name, SQL)` pairs; reject bad names and duplicate numbers."""
    migrations: dict[int, Migration] = {}
    for file_name, sql in files:
        match = _FILE_NAME.match(file_name)
        if match is None:
            raise MigrationError(f"{file_name!r} is not named NNNN_lower_snake_name.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(f"two migrations are numbered {version:04d}")
        migrations[version] = Migration(version=version, name=match["name"], sql=sql)
    return [migrations[version] for version in sorted(migrations)]


def load_migrations(directory: Path) -> list[Migration]:
    """Read every `NNNN_name.sql` in `directory` (other files are ignored)."""
    return parse_migrations(
        (path.name, path.read_text(encoding="utf-8"))
        for path in sorted(directory.iterdir())
        if path.suffix == ".sql"
    )


def servicekit_migrations() -> MigrationSet:
    """servicekit's own tables (outbox, inbox); apply them before the service's migrations."""
    package = importlib.resources.files("kervan_servicekit") / "sql"
    files = [
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in package.iterdir()
        if entry.name.endswith(".sql")
    ]
    return MigrationSet(SERVICEKIT_SOURCE, parse_migrations(files))


def quote_ident(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
    source      text        NOT NULL,
    version     integer     NOT NULL,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, version)
)
"""


async def apply_migrations(
    conn: asyncpg.Connection, schema: str, sets: Sequence[MigrationSet]
) -> list[str]:
    """Apply pending migrations of every set, in order; return `source:NNNN_name` applied.

    Raises `MigrationError` on a checksum mismatch or an out-of-order new migration; nothing
    after the failing point is applied.
    """
    schema_sql = quote_ident(schema)
    applied_now: list[str] = []
    # Session lock (not transaction-scoped): held across the per-file transactions below.
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"kervan-migrations:{schema}")
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_sql}")
        await conn.execute(_CREATE_TABLE.format(schema=schema_sql))
        rows = await conn.fetch(
            f"SELECT source, version, name, checksum FROM {schema_sql}.schema_migrations"
        )
        recorded = {(row["source"], row["version"]): row for row in rows}
        for migration_set in sets:
            highest = max(
                (version for source, version in recorded if source == migration_set.source),
                default=0,
            )
            for migration in migration_set.migrations:
                label = f"{migration_set.source}:{migration.version:04d}_{migration.name}"
                row = recorded.get((migration_set.source, migration.version))
                if row is not None:
                    if row["checksum"] != migration.checksum:
                        raise MigrationError(
                            f"{label} changed after it was applied (checksum mismatch); "
                            "add a new migration instead of editing a landed one"
                        )
                    continue
                if migration.version < highest:
                    raise MigrationError(
                        f"{label} is new but numbered below the applied "
                        f"{migration_set.source}:{highest:04d}"
                    )
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL search_path TO {schema_sql}")
                    await conn.execute(migration.sql)
                    await conn.execute(
                        f"INSERT INTO {schema_sql}.schema_migrations"
                        " (source, version, name, checksum) VALUES ($1, $2, $3, $4)",
                        migration_set.source,
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                applied_now.append(label)
                logger.info("applied migration", extra={"migration": label, "schema": schema})
    finally:
        if not conn.is_closed():
            await conn.execute(
                "SELECT pg_advisory_unlock(hashtext($1))", f"kervan-migrations:{schema}"
            )
    return applied_now


async def migrate(dsn: str, schema: str, service_migrations: MigrationSet) -> list[str]:
    """Connect, apply servicekit's then the service's migrations, disconnect."""
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn, schema, [servicekit_migrations(), service_migrations])
    finally:
        await conn.close()
