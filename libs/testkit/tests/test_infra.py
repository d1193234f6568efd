"""Resolution order: env endpoints (used as-is, failing loudly), then Docker, then devstack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from kervan_devstack._proc import free_ports
from kervan_testkit.infra import Infra, InfraUnavailableError, VaultEndpoint, redact_dsn


class DockerProbe:
    """Stands in for the Docker ping; counts calls so tests see whether step 2 was reached."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.answer


@pytest.mark.integration
def test_env_endpoints_are_used_as_is(
    kafka_bootstrap: str, postgres_dsn: str, vault_endpoint: VaultEndpoint, tmp_path: Path
) -> None:
    docker = DockerProbe(answer=True)
    infra = Infra(
        env={
            "KERVAN_TEST_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "KERVAN_TEST_POSTGRES_DSN": postgres_dsn,
            "KERVAN_TEST_VAULT_ADDR": vault_endpoint.addr,
            "KERVAN_TEST_VAULT_TOKEN": vault_endpoint.token,
        },
        state_root=tmp_path,
        docker_check=docker,
    )
    try:
        assert infra.kafka_bootstrap() == kafka_bootstrap
        assert infra.postgres_dsn() == postgres_dsn
        assert infra.vault() == vault_endpoint
    finally:
        infra.close()
    assert docker.calls == 0  # Docker was never even asked
    assert [r.source for r in infra.resolved] == ["env", "env", "env"]
    assert list(tmp_path.iterdir()) == []  # and no devstack was created


def test_unreachable_env_kafka_fails_with_reason_and_does_not_fall_back(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    docker = DockerProbe(answer=True)
    infra = Infra(
        env={"KERVAN_TEST_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"},
        state_root=tmp_path,
        docker_check=docker,
    )
    with pytest.raises(
        InfraUnavailableError, match=f"KERVAN_TEST_KAFKA_BOOTSTRAP=127.0.0.1:{port}"
    ):
        infra.kafka_bootstrap()
    # The failure is remembered: later requests fail fast with the same reason.
    with pytest.raises(InfraUnavailableError, match="no Kafka broker answered"):
        infra.kafka_bootstrap()
    assert docker.calls == 0
    assert list(tmp_path.iterdir()) == []


def test_unreachable_env_postgres_fails_without_leaking_the_password(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    infra = Infra(
        env={"KERVAN_TEST_POSTGRES_DSN": f"postgresql://app:s3cret@127.0.0.1:{port}/db"},
        state_root=tmp_path,
        docker_check=DockerProbe(answer=False),
    )
    with pytest.raises(InfraUnavailableError) as failure:
        infra.postgres_dsn()
    message = str(failure.value)
    assert "KERVAN_TEST_POSTGRES_DSN" in message
    assert "s3cret" not in message
    assert f"postgresql://app:***@127.0.0.1:{port}/db" in message


def test_vault_addr_without_token_is_rejected(tmp_path: Path) -> None:
    infra = Infra(env={"KERVAN_TEST_VAULT_ADDR": "http://127.0.0.1:1"}, state_root=tmp_path)
    with pytest.raises(InfraUnavailableError, match="KERVAN_TEST_VAULT_TOKEN is not"):
        infra.vault()


def test_docker_required_but_absent_fails(tmp_path: Path) -> None:
    docker = DockerProbe(answer=False)
    infra = Infra(env={"KERVAN_TEST_DOCKER": "1"}, state_root=tmp_path, docker_check=docker)
    with pytest.raises(InfraUnavailableError, match="no Docker engine answered"):
        infra.postgres_dsn()
    assert docker.calls == 1


def test_redact_dsn() -> None:
    assert redact_dsn("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_dsn("postgresql://u@h:5432/d") == "postgresql://u@h:5432/d"


def _run_pytest(tmp_path: Path, body: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_plugin_fails_not_skips_on_bad_env_endpoint(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    env = {**os.environ, "KERVAN_TEST_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}
    result = _run_pytest(
        tmp_path,
        """
        def test_needs_kafka(kafka_bootstrap):
            pass
        """,
        env,
    )
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout or "1 failed" in result.stdout
    assert "skipped" not in result.stdout
    assert f"KERVAN_TEST_KAFKA_BOOTSTRAP=127.0.0.1:{port}" in result.stdout


def test_plugin_starts_nothing_for_unit_tests(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERVAN_TEST_")}
    result = _run_pytest(
        tmp_path,
        """
        def test_unit(unique_name):
            assert unique_name("x").startswith("x_")
        """,
        env,
    )
    assert result.returncode == 0, result.stdout
    assert "1 passed" in result.stdout
    assert "kervan-testkit:" not in result.stdout  # no server was resolved
    assert not (tmp_path / ".devstack").exists()


@pytest.mark.integration
def test_devstack_is_stopped_when_the_session_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from kervan_testkit.infra import Infra
        infra = Infra(env={{"KERVAN_TEST_DOCKER": "0"}}, state_root=Path({str(tmp_path)!r}))
        infra.vault()
        print("ready", flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        (state_dir,) = tmp_path.iterdir()
        record = json.loads((state_dir / "run" / "bao.json").read_text())
        bao = psutil.Process(record["pid"])
    finally:
        child.kill()  # no clean-up code runs in the child
        child.wait()

    deadline = time.monotonic() + 30
    while state_dir.exists() or (bao.is_running() and bao.status() != psutil.STATUS_ZOMBIE):
        assert time.monotonic() < deadline, "the orphaned devstack was not stopped"
        time.sleep(0.2)
