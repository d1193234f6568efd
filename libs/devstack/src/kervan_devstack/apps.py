"""Kervan's own processes (the services and marketplace-sim) on top of the three servers.

``make up`` runs the whole system: after Kafka, PostgreSQL and OpenBao answer, each app listed in
the repo's ``devstack.toml`` is started with the venv's Python, waited for on its readiness URL,
and optionally seeded with demo data. Apps get the servers' endpoints, the URLs of the apps
started before them and a per-state-dir admin token in their environment; the same variables
are appended to ``<state_dir>/env`` so a shell can ``source`` them.
"""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kervan_devstack._proc import (
    LOOPBACK,
    PidRecord,
    ensure_port_free,
    free_ports,
    record_for,
    spawn,
    stop,
    wait_until,
)
from kervan_devstack.errors import DevstackError

APPS_FILE = "devstack.toml"
ADMIN_TOKEN_ENV = "KERVAN_ADMIN_TOKEN"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True, slots=True)
class AppSpec:
    """One process of ``devstack.toml``'s ``[[app]]`` list."""

    name: str
    module: str
    port: int
    url_env: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/readyz"
    ready_timeout: float = 60.0
    seed: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """Base URL the app answers on."""
        return f"http://{LOOPBACK}:{self.port}"


@dataclass(frozen=True, slots=True)
class AppsFile:
    """``devstack.toml``: the apps, variables every app gets, and the cross-app demo step."""

    apps: list[AppSpec] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    demo: tuple[str, ...] = ()


def load_apps_file(repo_root: Path | None) -> AppsFile:
    """Read ``<repo root>/devstack.toml``; an absent file means no apps."""
    if repo_root is None or not (repo_root / APPS_FILE).is_file():
        return AppsFile()
    raw = tomllib.loads((repo_root / APPS_FILE).read_text())
    return AppsFile(
        apps=_apps(raw),
        env={str(k): str(v) for k, v in raw.get("env", {}).items()},
        demo=tuple(str(a) for a in raw.get("demo", {}).get("args", ())),
    )


def load_apps(repo_root: Path | None) -> list[AppSpec]:
    """Apps declared in ``<repo root>/devstack.toml``, in file order."""
    return load_apps_file(repo_root).apps


def _apps(raw: dict[str, Any]) -> list[AppSpec]:
    apps: list[AppSpec] = []
    for entry in raw.get("app", []):
        try:
            spec = AppSpec(
                name=str(entry["name"]),
                module=str(entry["module"]),
                port=int(entry["port"]),
                url_env=str(entry["url_env"]),
                args=tuple(str(a) for a in entry.get("args", ())),
                env={str(k): str(v) for k, v in entry.get("env", {}).items()},
                ready_path=str(entry.get("ready_path", "/readyz")),
                ready_timeout=float(entry.get("ready_timeout", 60.0)),
                seed=tuple(str(a) for a in entry.get("seed", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DevstackError(f"{APPS_FILE}: bad [[app]] entry {entry!r}: {exc}") from None
        apps.append(spec)
    return apps


class AppRunner:
    """Starts, stops and reports the apps of one state dir."""

    def __init__(
        self,
        state_dir: Path,
        apps: list[AppSpec],
        shared_env: dict[str, str] | None = None,
        demo: tuple[str, ...] = (),
        *,
        auto_ports: bool = False,
    ) -> None:
        self.state_dir = state_dir
        self.shared_env = shared_env or {}
        self.demo = demo
        # A running app keeps the port it was started on; others take the configured port, or
        # a free one in auto mode (parallel stacks, the e2e tests).
        spare = iter(free_ports(len(apps)) if auto_ports else [])
        self.apps = []
        for app in apps:
            record = self.running(app)
            if record is not None:
                port = record.ports["http"]
            else:
                port = next(spare) if auto_ports else app.port
            self.apps.append(replace(app, port=port))

    def _pid_file(self, app: AppSpec) -> Path:
        return self.state_dir / "run" / f"app-{app.name}.json"

    def _log_file(self, app: AppSpec) -> Path:
        return self.state_dir / "logs" / f"{app.name}.log"

    def running(self, app: AppSpec) -> PidRecord | None:
        """The app's process if it runs from this state dir."""
        record = PidRecord.load(self._pid_file(app))
        if record is None or record.process() is None:
            return None
        return record

    def admin_token(self) -> str:
        """A random admin token per state dir, created once and kept in the state dir."""
        path = self.state_dir / "admin-token"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def exports(self) -> dict[str, str]:
        """Variables the apps add to the environment: admin token and each app's URL."""
        exported = {ADMIN_TOKEN_ENV: self.admin_token()}
        exported.update({app.url_env: app.url for app in self.apps})
        return exported

    def up(self, base_env: dict[str, str]) -> dict[str, str]:
        """Start every app not yet running, in order; returns the variables to export."""
        env = {**os.environ, **base_env, **self.exports()}
        env.update({k: string.Template(v).safe_substitute(env) for k, v in self.shared_env.items()})
        started = False
        for app in self.apps:
            if self.running(app) is not None:
                continue
            ensure_port_free(app.port, app.name, f"stop it or change its port in {APPS_FILE}")
            self._start(app, env)
            started = True
        if started and self.demo:
            self._run("demo", self.demo, env)
        return self.exports()

    def _start(self, app: AppSpec, env: dict[str, str]) -> None:
        own = {**env, "PORT": str(app.port)}
        argv = [
            sys.executable,
            "-m",
            app.module,
            *(string.Template(a).substitute(own) for a in app.args),
        ]
        log_path = self._log_file(app)
        popen = spawn(argv, log_path=log_path, cwd=self.state_dir, env=with_app_env(env, app))
        # Pid reuse guard: the record only matches a process whose command line runs this module.
        record = record_for(popen, marker=f"-m {app.module}", ports={"http": app.port})
        record.save(self._pid_file(app))
        wait_until(
            lambda: _answers(app.url + app.ready_path),
            timeout=app.ready_timeout,
            what=app.name,
            alive=lambda: popen.poll() is None,
            log_path=log_path,
        )
        if app.seed:
            self._run(f"seeding {app.name}", app.seed, with_app_env(env, app))

    def _run(self, what: str, args: tuple[str, ...], env: dict[str, str]) -> None:
        """Run a seeding step with the venv's Python; its output goes to the state dir's logs."""
        log_path = self.state_dir / "logs" / f"{what.replace(' ', '-')}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(  # noqa: S603 - argv comes from the repo's devstack.toml
            [sys.executable, *args],
            env=env,
            cwd=self.state_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        log_path.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DevstackError(f"{what} failed: {last[0]} (see {log_path})")
        if result.stderr.strip():
            print(result.stderr.rstrip(), file=sys.stderr)

    def down(self) -> list[str]:
        """Stop the apps this state dir started, last started first."""
        stopped = []
        for app in reversed(self.apps):
            record = PidRecord.load(self._pid_file(app))
            if record is not None and stop(record, timeout=30.0):
                stopped.append(app.name)
            self._pid_file(app).unlink(missing_ok=True)
        return stopped


def with_app_env(env: dict[str, str], app: AppSpec) -> dict[str, str]:
    """`env` plus the app's own variables, where `${NAME}` refers to a variable of `env`
    (e.g. `${KERVAN_ADMIN_TOKEN}`, which differs per state dir) and `${PORT}` to the app's port."""
    own = {**env, "PORT": str(app.port)}
    return {**env, **{k: string.Template(v).safe_substitute(own) for k, v in app.env.items()}}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False
