"""A devstack of its own for these tests (free ports, own state dir), stopped at the end."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kervan_devstack import Devstack, Endpoints
from kervan_devstack.settings import repo_root


def scratch_state_dir(tag: str) -> Path:
    """A unique state dir inside the repo's .devstack.

    Not under /tmp/pytest-of-root: that is mode 0700, and PostgreSQL runs as another user when
    the tests run as root.
    """
    root = repo_root(Path(__file__).parent)
    assert root is not None
    return root / ".devstack" / f"pytest-{tag}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def stack() -> Iterator[Devstack]:
    """All three servers, started once for the devstack tests."""
    devstack = Devstack(scratch_state_dir("devstack"), ports="auto")
    try:
        devstack.up()
        yield devstack
    finally:
        devstack.down()
        shutil.rmtree(devstack.state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def endpoints(stack: Devstack) -> Endpoints:
    """Endpoints of :func:`stack`."""
    return stack.endpoints()
