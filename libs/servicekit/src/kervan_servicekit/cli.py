"""The command line every Kervan REST service offers: `serve`, `migrate`, `openapi`, `hash-token`.

`ServiceCli(...).main(argv)` parses the command and runs it; a service adds its own commands
(e.g. store-registry's `seed-demo`) as `extra_commands`. `openapi` writes the committed
`openapi.json`, or with `--check` exits 1 when the file no longer matches the code (CI drift
check). `openapi` and `hash-token` read no settings and touch no server.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TextIO, TypeVar

from kervan_servicekit.auth import hash_token
from kervan_servicekit.logging import configure_logging, get_logger
from kervan_servicekit.runtime import run_service
from kervan_servicekit.settings import ServiceSettings

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def render_openapi(document: Mapping[str, Any]) -> str:
    """The committed text of an OpenAPI document: stable key order, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_or_check_openapi(
    text: str, path: Path, *, check: bool, hint: str, err: TextIO | None = None
) -> int:
    """Write `text` to `path`, or with `check` compare only: 1 (and `hint` on stderr) if stale."""
    if not check:
        path.write_text(text, encoding="utf-8")
        return 0
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if current == text:
        return 0
    print(f"{path} is stale: {hint}", file=err or sys.stderr)
    return 1


def read_token(stdin: TextIO | None = None) -> str:
    """A token from piped stdin, or from a prompt that does not echo it."""
    source = stdin or sys.stdin
    return source.readline().strip() if not source.isatty() else getpass.getpass("token: ")


@dataclass(frozen=True)
class ExtraCommand(Generic[SettingsT]):
    """A service's own command: runs with the service's settings, logging configured."""

    help: str
    run: Callable[[SettingsT], int]


@dataclass(frozen=True)
class ServiceCli(Generic[SettingsT]):
    """The entry point of one service (`python -m <module>`)."""

    prog: str
    module: str
    settings: Callable[[], SettingsT]
    build_app: Callable[[SettingsT], Any]
    """The ASGI app; its `state.health` (a `HealthEndpoints`) drives readiness on shutdown."""
    migrate: Callable[[SettingsT], Coroutine[Any, Any, list[str]]]
    openapi_document: Callable[[], Mapping[str, Any]]
    openapi_path: Path
    serve_help: str = "run the service (default)"
    extra_commands: Mapping[str, ExtraCommand[SettingsT]] = field(default_factory=dict)

    def parser(self) -> argparse.ArgumentParser:
        """The argument parser (commands and their options)."""
        parser = argparse.ArgumentParser(
            prog=self.prog, description=f"`python -m {self.module} [command]`"
        )
        sub = parser.add_subparsers(dest="command")
        sub.add_parser("serve", help=self.serve_help)
        sub.add_parser("migrate", help="apply database migrations and exit")
        for name, command in self.extra_commands.items():
            sub.add_parser(name, help=command.help)
        openapi = sub.add_parser("openapi", help="write openapi.json (or --check it)")
        openapi.add_argument("--output", type=Path, default=self.openapi_path)
        openapi.add_argument("--check", action="store_true", help="fail if the file is stale")
        sub.add_parser("hash-token", help="read a token from stdin/prompt, print its SHA-256")
        return parser

    def main(self, argv: list[str] | None = None) -> int:
        """Parse `argv` and run the command; returns the exit status."""
        args = self.parser().parse_args(argv)
        command: str = args.command or "serve"
        if command == "openapi":
            return write_or_check_openapi(
                render_openapi(self.openapi_document()),
                args.output,
                check=args.check,
                hint=f"run python -m {self.module} openapi",
            )
        if command == "hash-token":
            print(hash_token(read_token()))
            return 0

        settings = self.settings()
        configure_logging(settings.service_name, settings.log_level)
        if command == "migrate":
            applied = asyncio.run(self.migrate(settings))
            get_logger(self.module).info("migrations applied", applied=applied)
            return 0
        if command in self.extra_commands:
            return self.extra_commands[command].run(settings)
        app = self.build_app(settings)
        run_service(
            app,
            host=settings.http_host,
            port=settings.http_port,
            health=app.state.health,
            drain_seconds=settings.shutdown_drain_seconds,
            graceful_timeout=settings.kafka.graceful_timeout_seconds,
        )
        return 0
