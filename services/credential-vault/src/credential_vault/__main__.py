"""`python -m credential_vault [serve|migrate|openapi|hash-token]`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path

from credential_vault.bootstrap import build_app, migrate_database, openapi_document
from credential_vault.entrypoints.auth import hash_token
from credential_vault.settings import CredentialVaultSettings
from kervan_servicekit.logging import configure_logging, get_logger
from kervan_servicekit.runtime import run_service

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.json"


def render_openapi() -> str:
    """The committed `openapi.json` text (stable, trailing newline)."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="credential-vault", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the API, consumer, outbox relay and re-checks (default)")
    sub.add_parser("migrate", help="apply database migrations and exit")
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
                    f"{args.output} is stale: run python -m credential_vault openapi",
                    file=sys.stderr,
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

    settings = CredentialVaultSettings()
    configure_logging(settings.service_name, settings.log_level)
    logger = get_logger("credential_vault")
    if command == "migrate":
        applied = asyncio.run(migrate_database(settings))
        logger.info("migrations applied", applied=applied)
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
