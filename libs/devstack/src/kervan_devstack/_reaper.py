"""Stop a devstack when the process that owns it dies without cleaning up.

``python -m kervan_devstack._reaper <owner pid> <owner create time> <state dir>`` runs detached
next to a test session's devstack. If the session is killed (e.g. by an outer ``timeout``), its
servers would otherwise run forever; this stops them and removes the state dir. When the owner
cleans up normally (the state dir disappears), the reaper just exits.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import psutil

from kervan_devstack.stack import Devstack


def _owner_alive(pid: int, create_time: float) -> bool:
    try:
        return abs(psutil.Process(pid).create_time() - create_time) < 0.5
    except psutil.Error:
        return False


def main(argv: list[str]) -> None:
    """Poll the owner once a second; clean up after it if it vanished."""
    pid, create_time, state_dir = int(argv[0]), float(argv[1]), Path(argv[2])
    while state_dir.exists() and _owner_alive(pid, create_time):
        time.sleep(1.0)
    if state_dir.exists():
        Devstack(state_dir).down()
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
