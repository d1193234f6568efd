"""The three servers of one state dir, started and stopped together or one by one."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from kervan_devstack._proc import PidRecord
from kervan_devstack.errors import DevstackError
from kervan_devstack.kafka import KafkaServer
from kervan_devstack.openbao import KV_MOUNT, BaoServer
from kervan_devstack.postgres import PostgresServer
from kervan_devstack.settings import DEFAULT_BAO_TOKEN, Ports, default_state_dir

Service = Literal["kafka", "postgres", "bao"]
ALL_SERVICES: tuple[Service, ...] = ("kafka", "postgres", "bao")


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the servers of a devstack answer."""

    kafka_bootstrap: str
    postgres_dsn: str
    vault_addr: str
    vault_token: str
    vault_kv_mount: str = KV_MOUNT

    def as_env(self) -> dict[str, str]:
        """The runtime variables Kervan services read."""
        return {
            "KERVAN_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "KERVAN_POSTGRES_DSN": self.postgres_dsn,
            "KERVAN_VAULT_ADDR": self.vault_addr,
            "KERVAN_VAULT_TOKEN": self.vault_token,
        }

    def shell_exports(self) -> str:
        """``export NAME=value`` lines for ``eval "$(kervan-devstack env)"``."""
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.as_env().items())


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One line of ``status``."""

    service: Service
    running: bool
    pid: int | None
    endpoint: str


class _Server(Protocol):
    name: str

    def check_start_preconditions(self) -> None: ...
    def running(self) -> PidRecord | None: ...
    def up(self) -> str: ...
    def down(self) -> bool: ...


class Devstack:
    """Kafka, PostgreSQL and OpenBao for one state dir.

    ``up`` is idempotent: servers already running from this state dir are reused (on the ports
    they were started with). ``down`` stops only processes whose pid files are in this state
    dir and that are verifiably ours.
    """

    def __init__(
        self,
        state_dir: Path | str | None = None,
        ports: Ports | Literal["auto", "fixed"] = "fixed",
        bao_token: str = DEFAULT_BAO_TOKEN,
    ) -> None:
        self.state_dir = Path(state_dir).resolve() if state_dir else default_state_dir()
        if ports == "auto":
            ports = Ports.auto()
        elif ports == "fixed":
            ports = Ports.from_env()
        self.ports = ports
        self.kafka = KafkaServer(self.state_dir, ports.kafka, ports.kafka_controller)
        self.postgres = PostgresServer(self.state_dir, ports.postgres)
        self.bao = BaoServer(self.state_dir, ports.bao, bao_token)

    def _server(self, service: Service) -> _Server:
        servers: dict[Service, _Server] = {
            "kafka": self.kafka,
            "postgres": self.postgres,
            "bao": self.bao,
        }
        return servers[service]

    def up(self, services: Iterable[Service] = ALL_SERVICES) -> Endpoints:
        """Start the requested servers (in parallel) and wait until each really answers."""
        wanted = list(dict.fromkeys(services))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Cheap checks first, so a port clash is reported before a 45 MB download.
        for service in wanted:
            self._server(service).check_start_preconditions()
        errors: list[str] = []
        with ThreadPoolExecutor(max_workers=len(wanted) or 1) as pool:
            futures = {s: pool.submit(self._server(s).up) for s in wanted}
            for future in futures.values():
                exc = future.exception()
                if exc is not None:
                    if not isinstance(exc, DevstackError):
                        raise exc
                    errors.append(str(exc))
        if errors:
            raise DevstackError("; ".join(errors))
        endpoints = self.endpoints()
        (self.state_dir / "env").write_text(endpoints.shell_exports())
        return endpoints

    def endpoints(self) -> Endpoints:
        """Endpoints from the running servers' pid files, else the configured ports."""
        for server in (self.kafka, self.postgres, self.bao):
            record = server.running()
            if record is None:
                continue
            if isinstance(server, KafkaServer):
                server.port = record.ports["kafka"]
                server.controller_port = record.ports["kafka_controller"]
            elif isinstance(server, PostgresServer):
                server.port = record.ports["postgres"]
            else:
                server.port = record.ports["bao"]
        return Endpoints(
            kafka_bootstrap=self.kafka.bootstrap,
            postgres_dsn=self.postgres.dsn,
            vault_addr=self.bao.addr,
            vault_token=self.bao.token,
        )

    def down(self, services: Iterable[Service] = ALL_SERVICES) -> list[Service]:
        """Stop the given servers that this state dir started; returns those that ran."""
        wanted = list(dict.fromkeys(services))
        with ThreadPoolExecutor(max_workers=len(wanted) or 1) as pool:
            results = list(pool.map(lambda s: (s, self._server(s).down()), wanted))
        if set(wanted) == set(ALL_SERVICES):
            (self.state_dir / "env").unlink(missing_ok=True)
        return [s for s, stopped in results if stopped]

    def status(self) -> list[ServiceStatus]:
        """What runs where."""
        endpoints = self.endpoints()
        where: dict[Service, str] = {
            "kafka": endpoints.kafka_bootstrap,
            "postgres": endpoints.postgres_dsn,
            "bao": endpoints.vault_addr,
        }
        result = []
        for service in ALL_SERVICES:
            running = self._server(service).running()
            result.append(
                ServiceStatus(
                    service=service,
                    running=running is not None,
                    pid=running.pid if running is not None else None,
                    endpoint=where[service],
                )
            )
        return result
