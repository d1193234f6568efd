"""`python -m catalog_sync [serve|migrate]`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from catalog_sync.bootstrap import build_app, migration_set
from catalog_sync.settings import CatalogSyncSettings
from kervan_servicekit import configure_logging, get_logger, migrate, run_service


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="catalog-sync", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="consume, push, serve the API (default)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    args = parser.parse_args(argv)
    settings = CatalogSyncSettings()
    configure_logging(settings.service_name, settings.log_level)
    if args.command == "migrate":
        pg = settings.postgres
        applied = asyncio.run(migrate(pg.dsn.get_secret_value(), pg.schema_name, migration_set()))
        get_logger("catalog_sync").info("migrations applied", applied=applied)
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
