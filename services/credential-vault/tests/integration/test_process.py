"""`python -m credential_vault` as a process: ready on its port, metrics, clean SIGTERM exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from kervan_testkit.infra import VaultEndpoint

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serves_health_and_stops_on_sigterm(
    pg_dsn: str,
    kafka_bootstrap: str,
    vault_endpoint: VaultEndpoint,
    unique_name: Callable[[str], str],
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "KERVAN_POSTGRES_DSN": pg_dsn,
        "KERVAN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "KERVAN_VAULT_ADDR": vault_endpoint.addr,
        "KERVAN_VAULT_TOKEN": vault_endpoint.token,
        "CREDENTIAL_VAULT_HTTP_PORT": str(port),
        "CREDENTIAL_VAULT_STORES_TOPIC": unique_name("stores"),
        "CREDENTIAL_VAULT_CONSUMER_GROUP": unique_name("cv"),
        "CREDENTIAL_VAULT_FINGERPRINT_KEY": "process-test-key-0123456789abcdef",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "credential_vault"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready:
                break
            time.sleep(0.1)
        assert ready, "the service did not become ready"
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "kervan_credential_vault_build_info" in metrics
        unauthenticated = httpx.get(f"http://127.0.0.1:{port}/v1/stores/x/credentials", timeout=5)
        assert unauthenticated.status_code == 401
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal after its graceful shutdown, hence -SIGTERM.
        assert process.wait(timeout=40) in {0, -signal.SIGTERM}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode() if process.stdout else ""
    assert vault_endpoint.token not in output
    assert "Application shutdown complete" in output, output[-2000:]
