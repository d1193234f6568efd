"""Where the devstack keeps its state and which ports it uses."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kervan_devstack._proc import free_ports
from kervan_devstack.errors import DevstackError

#: Fixed default ports (``make up``); high numbers so they do not clash with system servers.
DEFAULT_KAFKA_PORT = 19092
DEFAULT_KAFKA_CONTROLLER_PORT = 19093
DEFAULT_POSTGRES_PORT = 15432
DEFAULT_BAO_PORT = 18200
#: Root token of the OpenBao dev server. It guards a throw-away in-memory dev server only.
DEFAULT_BAO_TOKEN = "kervan-dev-root"  # noqa: S105

ENV_STATE_DIR = "KERVAN_DEVSTACK_DIR"
PORT_ENV = {
    "kafka": "KERVAN_DEVSTACK_KAFKA_PORT",
    "kafka_controller": "KERVAN_DEVSTACK_KAFKA_CONTROLLER_PORT",
    "postgres": "KERVAN_DEVSTACK_POSTGRES_PORT",
    "bao": "KERVAN_DEVSTACK_BAO_PORT",
}


@dataclass(frozen=True, slots=True)
class Ports:
    """Loopback ports of the servers."""

    kafka: int = DEFAULT_KAFKA_PORT
    kafka_controller: int = DEFAULT_KAFKA_CONTROLLER_PORT
    postgres: int = DEFAULT_POSTGRES_PORT
    bao: int = DEFAULT_BAO_PORT

    @classmethod
    def auto(cls) -> Ports:
        """Free ports picked by the kernel (for parallel test sessions)."""
        kafka, controller, postgres, bao = free_ports(4)
        return cls(kafka=kafka, kafka_controller=controller, postgres=postgres, bao=bao)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Ports:
        """Defaults overridden by ``KERVAN_DEVSTACK_*_PORT`` variables."""
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for field, var in PORT_ENV.items():
            raw = env.get(var)
            if raw:
                try:
                    values[field] = int(raw)
                except ValueError:
                    raise DevstackError(f"{var}={raw!r} is not a port number") from None
        return cls(**values)


def repo_root(start: Path | None = None) -> Path | None:
    """Nearest parent directory holding ``uv.lock`` (the workspace root)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "uv.lock").is_file():
            return candidate
    return None


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$KERVAN_DEVSTACK_DIR``, else ``<repo root>/.devstack``, else ``./.devstack``."""
    env = os.environ if env is None else env
    if env.get(ENV_STATE_DIR):
        return Path(env[ENV_STATE_DIR]).resolve()
    root = repo_root()
    if root is None:
        # Fall back to the package location: an editable install lives inside the repo.
        root = repo_root(Path(__file__).parent)
    return (root or Path.cwd()) / ".devstack"
