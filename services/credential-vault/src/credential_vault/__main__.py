"""`python -m credential_vault [serve|migrate|openapi [--check]|hash-token]`."""

from __future__ import annotations

import sys
from pathlib import Path

from credential_vault.bootstrap import build_app, migrate_database, openapi_document
from credential_vault.settings import CredentialVaultSettings
from kervan_servicekit.cli import ServiceCli

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.json"

CLI = ServiceCli(
    prog="credential-vault",
    module="credential_vault",
    settings=CredentialVaultSettings,
    build_app=build_app,
    migrate=migrate_database,
    openapi_document=openapi_document,
    openapi_path=OPENAPI_PATH,
    serve_help="run the API, consumer, outbox relay and re-checks (default)",
)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return CLI.main(argv)


if __name__ == "__main__":
    sys.exit(main())
