"""``python -m kervan_devstack up|down|status|env`` (also the ``kervan-devstack`` script)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from kervan_devstack.apps import AppRunner, load_apps_file
from kervan_devstack.errors import DevstackError
from kervan_devstack.settings import ENV_STATE_DIR, PORT_ENV, Ports, repo_root
from kervan_devstack.stack import ALL_SERVICES, Devstack, Service


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"state directory (default: ${ENV_STATE_DIR} or <repo root>/.devstack)",
    )
    parser = argparse.ArgumentParser(
        prog="kervan-devstack",
        description="Real Kafka, PostgreSQL and OpenBao on 127.0.0.1 without Docker.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common], help="start the servers (idempotent)")
    up.add_argument(
        "--ports",
        choices=("fixed", "auto"),
        default="fixed",
        help="fixed: default ports or the flags/env below; auto: free loopback ports",
    )
    for field, var in PORT_ENV.items():
        flag = "--" + field.replace("_", "-") + "-port"
        up.add_argument(flag, type=int, dest=field, help=f"port (env {var})")
    up.add_argument(
        "--only",
        default=",".join(ALL_SERVICES),
        help="comma-separated subset of kafka,postgres,bao (default: all)",
    )
    up.add_argument(
        "--no-apps",
        action="store_true",
        help="start only the servers, not the apps listed in devstack.toml",
    )
    sub.add_parser("down", parents=[common], help="stop the servers this state dir started")
    sub.add_parser("status", parents=[common], help="show what runs where")
    sub.add_parser("env", parents=[common], help="print shell exports of the endpoints")
    return parser


def _services(raw: str) -> list[Service]:
    names = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = [s for s in names if s not in ALL_SERVICES]
    if unknown:
        raise DevstackError(f"unknown service(s) {', '.join(unknown)}; use kafka,postgres,bao")
    return [cast(Service, s) for s in names]


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    state_dir: Path | None = getattr(args, "state_dir", None)
    if args.command == "up":
        if args.ports == "auto":
            ports: Ports | str = "auto"
        else:
            base = Ports.from_env()
            overrides = {f: getattr(args, f) for f in PORT_ENV if getattr(args, f) is not None}
            ports = Ports(**{**_asdict(base), **overrides})
        stack = Devstack(state_dir, ports=cast(Ports, ports) if ports != "auto" else "auto")
        started = time.monotonic()
        services = _services(args.only)
        endpoints = stack.up(services)
        exports = endpoints.as_env()
        if not args.no_apps and set(services) == set(ALL_SERVICES):
            exports.update(_apps(stack, auto_ports=args.ports == "auto").up(exports))
        env_text = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in exports.items())
        (stack.state_dir / "env").write_text(env_text)
        print(
            f"devstack up in {time.monotonic() - started:.1f}s (state: {stack.state_dir})",
            file=sys.stderr,
        )
        sys.stdout.write(env_text)
        return 0
    stack = Devstack(state_dir)
    if args.command == "down":
        stopped = _apps(stack).down() + list(stack.down())
        print("stopped: " + (", ".join(stopped) or "nothing was running"), file=sys.stderr)
        return 0
    if args.command == "status":
        any_running = False
        for line in stack.status():
            state = f"running (pid {line.pid})" if line.running else "stopped"
            any_running = any_running or line.running
            print(f"{line.service:<16} {state:<22} {line.endpoint}")
        runner = _apps(stack)
        for app in runner.apps:
            record = runner.running(app)
            state = f"running (pid {record.pid})" if record else "stopped"
            any_running = any_running or record is not None
            print(f"{app.name:<16} {state:<22} {app.url}")
        print(f"state dir: {stack.state_dir}")
        return 0 if any_running else 3
    # env: the file written by the last `up` is the truth; fall back to the pid files.
    env_file = stack.state_dir / "env"
    if env_file.is_file():
        sys.stdout.write(env_file.read_text())
        return 0
    if not any(s.running for s in stack.status()):
        raise DevstackError(f"nothing is running from {stack.state_dir}; run `up` first")
    sys.stdout.write(stack.endpoints().shell_exports())
    return 0


def _apps(stack: Devstack, *, auto_ports: bool = False) -> AppRunner:
    spec = load_apps_file(repo_root())
    return AppRunner(stack.state_dir, spec.apps, spec.env, spec.demo, auto_ports=auto_ports)


def _asdict(ports: Ports) -> dict[str, int]:
    return {f: getattr(ports, f) for f in PORT_ENV}


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: one clear line on stderr and a non-zero exit on failure."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        code = run(argv)
    except DevstackError as exc:
        print(f"kervan-devstack: error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
