"""The locked Kafka classpath: pinned, checksummed, downloaded atomically."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kervan_devstack import DevstackError
from kervan_devstack.kafka import Artifact, KafkaLock, ensure_jars, jar_cache_dir, load_lock


def test_lock_pins_kafka_4_with_checksums() -> None:
    lock = load_lock()
    assert re.fullmatch(r"4\.\d+\.\d+", lock.kafka_version)
    coords = {(a.group, a.artifact) for a in lock.artifacts}
    assert ("org.apache.kafka", "kafka_2.13") in coords
    assert ("org.apache.kafka", "kafka-clients") in coords
    assert all(re.fullmatch(r"[0-9a-f]{64}", a.sha256) for a in lock.artifacts)
    assert len({a.filename for a in lock.artifacts}) == len(lock.artifacts)


PAYLOAD = b"not really a jar"


@pytest.fixture
def maven_repo() -> Iterator[str]:
    """A loopback HTTP server standing in for Maven Central."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.endswith(".jar"):
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD)
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/maven2"
    server.shutdown()
    server.server_close()


def _lock(repo: str, sha256: str) -> KafkaLock:
    artifact = Artifact("org.example", "thing", "1.0", sha256, len(PAYLOAD))
    return KafkaLock(kafka_version="test", repository=repo, artifacts=(artifact,))


def test_download_verifies_sha256_and_caches(
    maven_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERVAN_DEVSTACK_CACHE_DIR", str(tmp_path))
    good = _lock(maven_repo, hashlib.sha256(PAYLOAD).hexdigest())

    (path,) = ensure_jars(good)

    assert path == jar_cache_dir("test") / "org.example.thing-1.0.jar"
    assert path.read_bytes() == PAYLOAD
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left


def test_checksum_mismatch_fails_and_leaves_nothing(
    maven_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERVAN_DEVSTACK_CACHE_DIR", str(tmp_path))
    bad = _lock(maven_repo, "0" * 64)

    with pytest.raises(DevstackError, match="checksum mismatch"):
        ensure_jars(bad)

    assert list(jar_cache_dir("test").iterdir()) == []
