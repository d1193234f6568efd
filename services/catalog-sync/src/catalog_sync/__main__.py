"""`python -m catalog_sync [command]`.

Commands: serve (default), migrate, openapi [--check], publish-catalog FILE, reference-inventory.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from catalog_sync.bootstrap import build_app, migration_set
from catalog_sync.settings import CatalogSyncSettings
from catalog_sync.tools.catalog_file import CatalogFileError, load_catalog
from catalog_sync.tools.publisher import publish_events
from catalog_sync.tools.reference_inventory import (
    DEFAULT_WINDOW,
    run_reference_inventory,
    serve_probes,
)
from kervan_servicekit import (
    KafkaSettings,
    configure_logging,
    get_logger,
    migrate,
    run_service,
)
from kervan_servicekit.cli import render_openapi, write_or_check_openapi

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.json"
DEMO_CATALOG = Path(__file__).resolve().parent / "tools" / "demo" / "catalog.json"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the HTTP API, built without any server (`openapi.json`)."""
    document: dict[str, Any] = build_app(CatalogSyncSettings()).openapi()
    return document


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="catalog-sync", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="consume, push, serve the API (default)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    openapi = sub.add_parser("openapi", help="write openapi.json (or --check it)")
    openapi.add_argument("--output", type=Path, default=OPENAPI_PATH)
    openapi.add_argument("--check", action="store_true", help="fail if the file is stale")
    publish = sub.add_parser(
        "publish-catalog",
        help="publish ProductUpserted/PriceChanged/StockLevelChanged from a JSON or CSV file",
    )
    source = publish.add_mutually_exclusive_group(required=True)
    source.add_argument("file", type=Path, nargs="?", help="catalogue file (.json or .csv)")
    source.add_argument(
        "--demo", action="store_true", help="the packaged demo catalogue (DEMO-SKU-1..3)"
    )
    publish.add_argument("--topic", help="publish to this topic instead (tests)")
    inventory = sub.add_parser(
        "reference-inventory",
        help="play the platform's inventory: apply stock movements, publish acknowledged levels",
    )
    inventory.add_argument(
        "--window-hours",
        type=float,
        default=DEFAULT_WINDOW.total_seconds() / 3600,
        help="acknowledgement window (match CATALOG_SYNC_ACK_WINDOW_HOURS)",
    )
    inventory.add_argument(
        "--port", type=int, help="serve /healthz and /readyz on 127.0.0.1:PORT (devstack)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    command: str = args.command or "serve"
    if command == "openapi":
        return write_or_check_openapi(
            render_openapi(openapi_document()),
            args.output,
            check=args.check,
            hint="run python -m catalog_sync openapi",
        )
    if command == "publish-catalog":
        return _publish_catalog(DEMO_CATALOG if args.demo else args.file, args.topic)
    if command == "reference-inventory":
        return _reference_inventory(timedelta(hours=args.window_hours), args.port)
    settings = CatalogSyncSettings()
    configure_logging(settings.service_name, settings.log_level)
    if command == "migrate":
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


def _publish_catalog(path: Path, topic: str | None) -> int:
    configure_logging("catalog-publisher", "INFO")
    try:
        events = load_catalog(path, as_of=datetime.now(UTC))
    except CatalogFileError as exc:
        print(f"publish-catalog: {exc}", file=sys.stderr)
        return 2
    kafka = KafkaSettings()
    count = asyncio.run(publish_events(kafka.bootstrap, events, topic=topic))
    get_logger("catalog_sync.publisher").info("catalogue published", events=count, file=str(path))
    return 0


def _reference_inventory(window: timedelta, port: int | None) -> int:
    configure_logging("reference-inventory", "INFO")
    kafka = KafkaSettings()

    async def run() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        probe = None if port is None else asyncio.create_task(serve_probes(port, ready, stop))
        try:
            await run_reference_inventory(kafka.bootstrap, stop=stop, ready=ready, window=window)
        finally:
            stop.set()
            if probe is not None:
                await probe

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
