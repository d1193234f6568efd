"""Process bookkeeping shared by the three servers.

A server we start gets a pid file (JSON) in ``<state_dir>/run``. Before reusing or killing the
pid we check that it is still *our* process: same creation time and a marker string (a path
inside the state dir) in its command line. A recycled pid therefore never gets signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from kervan_devstack.errors import DevstackError

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class PidRecord:
    """What we remember about a server process we started."""

    pid: int
    create_time: float
    marker: str
    ports: dict[str, int]

    def save(self, path: Path) -> None:
        """Write the record atomically (tmp + rename) so readers never see half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> PidRecord | None:
        """Read a record; ``None`` when absent or unreadable (treated as stale)."""
        try:
            raw = json.loads(path.read_text())
            return cls(
                pid=int(raw["pid"]),
                create_time=float(raw["create_time"]),
                marker=str(raw["marker"]),
                ports={str(k): int(v) for k, v in raw["ports"].items()},
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def process(self) -> psutil.Process | None:
        """The live process if it is still the one we started, else ``None``."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.5:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            if self.marker not in " ".join(proc.cmdline()):
                return None
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return proc


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    user: int | None = None,
    group: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server detached from our session so it outlives the CLI that started it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - argv is built by this package
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            user=user,
            group=group,
            extra_groups=[] if user is not None else None,
        )


def record_for(popen: subprocess.Popen[bytes], marker: str, ports: dict[str, int]) -> PidRecord:
    """Build the pid record of a process we just spawned."""
    create_time = psutil.Process(popen.pid).create_time()
    return PidRecord(pid=popen.pid, create_time=create_time, marker=marker, ports=ports)


def stop(
    record: PidRecord,
    *,
    first_signal: signal.Signals = signal.SIGTERM,
    timeout: float = 20.0,
) -> bool:
    """Stop our process: polite signal, wait, then SIGKILL. Returns True if it was running."""
    proc = record.process()
    if proc is None:
        return False
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(first_signal)
        try:
            proc.wait(timeout=timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return True


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (we could bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a port in TIME_WAIT would look taken although a server
        # (which sets SO_REUSEADDR itself) could bind it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def port_owner(port: int) -> str:
    """Best-effort description of who listens on a port, for error messages."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    return "another process"
                with contextlib.suppress(psutil.Error):
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                return f"pid {conn.pid}"
    except psutil.Error:
        pass
    return "another process"


def free_ports(count: int) -> list[int]:
    """Ask the kernel for ``count`` distinct free loopback ports."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def ensure_port_free(port: int, what: str, hint: str) -> None:
    """Fail with one clear line when a foreign process holds a port we need."""
    if not port_is_free(port):
        raise DevstackError(
            f"port {port} on {LOOPBACK} ({what}) is already in use by {port_owner(port)}; {hint}"
        )


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], bool],
    log_path: Path,
    interval: float = 0.2,
) -> None:
    """Poll ``check`` until it is true; fail early if the process died, or at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if not alive():
            raise DevstackError(f"{what} exited during start-up; see {log_path}{tail(log_path)}")
        if time.monotonic() >= deadline:
            raise DevstackError(
                f"{what} did not become ready within {timeout:.0f}s; see {log_path}{tail(log_path)}"
            )
        time.sleep(interval)


def tail(path: Path, lines: int = 1) -> str:
    """Last non-empty log line, appended to errors so the cause is visible in one line."""
    try:
        content = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    if not content:
        return ""
    return " (last log line: " + " | ".join(c.strip()[:300] for c in content[-lines:]) + ")"


def popen_alive(popen: subprocess.Popen[bytes]) -> Callable[[], bool]:
    """Liveness probe for a child we spawned (reaps it if it exited)."""
    return lambda: popen.poll() is None


def send_signal_if_ours(record: PidRecord, sig: int) -> None:
    """Signal a process only after verifying it is the one we started."""
    proc = record.process()
    if proc is not None:
        with contextlib.suppress(psutil.NoSuchProcess):
            os.kill(proc.pid, sig)
