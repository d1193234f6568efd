"""`python -m store_registry [serve|migrate|seed-demo|openapi|hash-token]`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path

from kervan_servicekit.logging import configure_logging, get_logger
from kervan_servicekit.runtime import create_pool, run_service
from store_registry.adapters.platforms import MarketplaceCatalog, validate_store_url
from store_registry.adapters.postgres import PgUnitOfWorkFactory
from store_registry.app.services import Collaborators
from store_registry.bootstrap import build_app, migrate_database, openapi_document
from store_registry.entrypoints.auth import hash_token
from store_registry.entrypoints.seed import seed_demo_data
from store_registry.settings import StoreRegistrySettings

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.json"


def render_openapi() -> str:
    """The committed `openapi.json` text (stable key order, trailing newline)."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


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


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="store-registry", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP API, outbox relay and consumer (default)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser("seed-demo", help="create demo reference lists and one store per platform")
    openapi = sub.add_parser("openapi", help="write openapi.json (or --check it)")
    openapi.add_argument("--output", type=Path, default=OPENAPI_PATH)
    openapi.add_argument("--check", action="store_true", help="fail if the file is stale")
    sub.add_parser("hash-token", help="read a token from stdin/prompt, print its SHA-256")
    args = parser.parse_args(argv)
    command = args.command or "serve"

    if command == "openapi":
        text = render_openapi()
        if args.check:
            current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
            if current != text:
                print(
                    f"{args.output} is stale: run python -m store_registry openapi", file=sys.stderr
                )
                return 1
            return 0
        args.output.write_text(text, encoding="utf-8")
        return 0
    if command == "hash-token":
        token = (
            sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("token: ")
        )
        print(hash_token(token))
        return 0

    settings = StoreRegistrySettings()
    configure_logging(settings.service_name, settings.log_level)
    logger = get_logger("store_registry")
    if command == "migrate":
        applied = asyncio.run(migrate_database(settings))
        logger.info("migrations applied", applied=applied)
        return 0
    if command == "seed-demo":
        created = asyncio.run(_seed(settings))
        logger.info("demo data seeded", stores_created=len(created))
        return 0
    app = build_app(settings)
    run_service(
        app,
        host=settings.http_host,
        port=settings.http_port,
        health=app.state.health,
        drain_seconds=settings.shutdown_drain_seconds,
        graceful_timeout=settings.kafka.graceful_timeout_seconds,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
