"""`python -m store_registry [serve|migrate|seed-demo|openapi [--check]|hash-token]`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from kervan_servicekit.cli import ExtraCommand, ServiceCli
from kervan_servicekit.logging import configure_logging, get_logger
from kervan_servicekit.runtime import create_pool
from store_registry.adapters.platforms import MarketplaceCatalog, validate_store_url
from store_registry.adapters.postgres import PgUnitOfWorkFactory
from store_registry.app.services import Collaborators
from store_registry.bootstrap import build_app, migrate_database, openapi_document
from store_registry.entrypoints.seed import seed_demo_data
from store_registry.settings import StoreRegistrySettings
from store_registry.workers import serve_workers

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.json"


async def _seed(settings: StoreRegistrySettings) -> list[str]:
    await migrate_database(settings)
    pool = await create_pool(
        settings.postgres.model_copy(update={"schema_name": settings.db_schema})
    )
    try:
        uow = PgUnitOfWorkFactory(
            pool, schema=settings.db_schema, stores_topic=settings.stores_topic
        )
        env = Collaborators(catalog=MarketplaceCatalog(), validate_store_url=validate_store_url)
        return await seed_demo_data(uow, env)
    finally:
        await pool.close()


def seed_demo(settings: StoreRegistrySettings) -> int:
    """Create the demo reference lists and one test-mode store per platform (idempotent)."""
    created = asyncio.run(_seed(settings))
    get_logger("store_registry").info("demo data seeded", stores_created=len(created))
    return 0


CLI = ServiceCli(
    prog="store-registry",
    module="store_registry",
    settings=StoreRegistrySettings,
    build_app=build_app,
    migrate=migrate_database,
    openapi_document=openapi_document,
    openapi_path=OPENAPI_PATH,
    serve_help="run the HTTP API, outbox relay and consumer (default)",
    extra_commands={
        "seed-demo": ExtraCommand(
            "create demo reference lists and one store per platform", seed_demo
        )
    },
)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    command = CLI.parser().parse_args(argv).command or "serve"
    if command == "serve":
        settings = StoreRegistrySettings()
        if settings.workers > 1:
            configure_logging(settings.service_name, settings.log_level)
            return serve_workers(settings)
    return CLI.main(argv)


if __name__ == "__main__":
    sys.exit(main())
