"""up / down / status / env behaviour, pid ownership checks and clear failures."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from kervan_devstack import Devstack, DevstackError, Endpoints, Ports
from kervan_devstack._proc import PidRecord, free_ports

from .conftest import scratch_state_dir

pytestmark = pytest.mark.integration


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kervan_devstack", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_up_again_reuses_running_servers(stack: Devstack, endpoints: Endpoints) -> None:
    pids_before = {s.service: s.pid for s in stack.status()}
    assert all(pids_before.values())

    # A second object for the same state dir, asking for *other* ports, must reuse the
    # running servers on their original ports.
    again = Devstack(stack.state_dir, ports="auto").up()

    assert again == endpoints
    assert {s.service: s.pid for s in stack.status()} == pids_before


def test_env_file_and_cli_env_match_endpoints(stack: Devstack, endpoints: Endpoints) -> None:
    expected = endpoints.shell_exports()
    assert (stack.state_dir / "env").read_text() == expected
    result = _cli("env", "--state-dir", str(stack.state_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
    assert f"export KERVAN_KAFKA_BOOTSTRAP={endpoints.kafka_bootstrap}" in result.stdout


def test_cli_status_lists_running_servers(stack: Devstack, endpoints: Endpoints) -> None:
    result = _cli("status", "--state-dir", str(stack.state_dir))
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    for service, where in (
        ("kafka", endpoints.kafka_bootstrap),
        ("postgres", endpoints.postgres_dsn),
        ("bao", endpoints.vault_addr),
    ):
        assert "running" in lines[service]
        assert where in lines[service]


def test_bao_has_kv2_mounted_at_kervan(endpoints: Endpoints) -> None:
    headers = {"X-Vault-Token": endpoints.vault_token}
    with httpx.Client(base_url=endpoints.vault_addr, headers=headers) as client:
        written = client.post("/v1/kervan/data/probe/x", json={"data": {"v": "1"}})
        assert written.status_code == 200, written.text
        read = client.get("/v1/kervan/data/probe/x")
        assert read.json()["data"]["data"] == {"v": "1"}


def test_down_stops_only_our_process_and_up_restarts(tmp_path: Path) -> None:
    state_dir = scratch_state_dir("bao")
    stack = Devstack(state_dir, ports="auto")
    try:
        stack.up(["bao"])
        record = PidRecord.load(state_dir / "run" / "bao.json")
        assert record is not None
        process = psutil.Process(record.pid)

        assert stack.down() == ["bao"]
        assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
        assert not (state_dir / "run" / "bao.json").exists()
        assert stack.down() == []  # nothing left to stop

        stack.up(["bao"])
        assert stack.status()[2].running
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)


def test_pid_file_of_a_foreign_process_is_never_signalled() -> None:
    state_dir = scratch_state_dir("foreign")
    try:
        run = state_dir / "run"
        run.mkdir(parents=True)
        me = psutil.Process()
        # Our own pid, but recorded with a different start time (a recycled pid) ...
        PidRecord(me.pid, me.create_time() - 1000, "python", {"bao": 1}).save(run / "bao.json")
        # ... and our own pid with the right start time but a command line that is not Kafka.
        PidRecord(me.pid, me.create_time(), str(state_dir / "kafka"), {"kafka": 1,
                  "kafka_controller": 2}).save(run / "kafka.json")  # fmt: skip
        stack = Devstack(state_dir, ports="auto")

        assert [s.running for s in stack.status()] == [False, False, False]
        assert stack.down() == []
        assert me.is_running()  # we are still alive: nothing was signalled
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def test_postgres_data_survives_a_restart() -> None:
    state_dir = scratch_state_dir("pg")
    stack = Devstack(state_dir, ports="auto")
    try:
        dsn = stack.up(["postgres"]).postgres_dsn
        psql = str(stack.postgres._bin_dir() / "psql")
        subprocess.run([psql, dsn, "-c", "CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)"],
                       check=True, capture_output=True)  # fmt: skip
        first_pid = stack.status()[1].pid
        stack.down(["postgres"])
        assert not stack.status()[1].running

        dsn = stack.up(["postgres"]).postgres_dsn
        assert stack.status()[1].pid != first_pid
        out = subprocess.run([psql, dsn, "-tAc", "SELECT id FROM kept"], check=True,
                             capture_output=True, text=True)  # fmt: skip
        assert out.stdout.strip() == "7"
        shown = subprocess.run([psql, dsn, "-tAc", "SHOW max_connections"], check=True,
                               capture_output=True, text=True)  # fmt: skip
        assert shown.stdout.strip() == "300"
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)


def test_port_clash_is_one_clear_error() -> None:
    (port,) = free_ports(1)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        state_dir = scratch_state_dir("clash")
        try:
            with pytest.raises(DevstackError, match=f"port {port} .*already in use"):
                Devstack(state_dir, ports=Ports(bao=port)).up(["bao"])

            result = _cli("up", "--state-dir", str(state_dir), "--only", "bao",
                          "--bao-port", str(port))  # fmt: skip
        finally:
            shutil.rmtree(state_dir, ignore_errors=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"port {port}" in result.stderr
    assert "--bao-port" in result.stderr


def test_missing_java_is_one_clear_error() -> None:
    state_dir = scratch_state_dir("nojava")
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # python only, no java
    try:
        result = _cli("up", "--state-dir", str(state_dir), "--only", "kafka",
                      "--ports", "auto", env=env)  # fmt: skip
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Java 17" in result.stderr


def test_status_of_an_empty_state_dir_says_stopped(tmp_path: Path) -> None:
    result = _cli("status", "--state-dir", str(tmp_path))
    assert result.returncode == 3
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[:-1]}
    assert {"kafka", "postgres", "bao"} <= rows.keys()
    assert all(" stopped " in row and "running" not in row for row in rows.values())
    assert json.dumps(str(tmp_path))[1:-1] in result.stdout
