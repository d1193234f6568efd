"""The one running local system every e2e module shares.

Starting the whole system (three servers, five apps, the demo seed) takes a minute or more, so
it is started once per pytest session, not once per module: `make test` runs tests/e2e as one
pytest process, and every module asks for the same `system` fixture.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _devstack(*args: str, state_dir: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kervan_devstack", *args, "--state-dir", str(state_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def system() -> Iterator[dict[str, str]]:
    """The whole system up on free ports, exactly as `make up` starts it.

    Yields the exported variables (`KERVAN_*` endpoints, URLs and the admin token). A state
    dir of its own means it neither clashes with nor reuses a developer's running stack.
    """
    # Under the repo, not /tmp: PostgreSQL runs as an unprivileged user that must reach it.
    state_dir = REPO / ".devstack" / f"e2e-{uuid.uuid4().hex[:8]}"
    try:
        up = _devstack("up", "--ports", "auto", state_dir=state_dir, timeout=600)
        if up.returncode != 0:
            pytest.fail(f"kervan-devstack up failed: {up.stderr.strip()[-2000:]}")
        exports: dict[str, str] = {}
        for line in up.stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            exports[name] = shlex.split(value)[0]
        exports["_demo_log"] = up.stderr
        yield exports
    finally:
        down = _devstack("down", state_dir=state_dir, timeout=120)
        assert down.returncode == 0, down.stderr
        shutil.rmtree(state_dir, ignore_errors=True)
