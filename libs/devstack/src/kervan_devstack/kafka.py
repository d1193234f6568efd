"""Apache Kafka (KRaft, one combined broker+controller) from the official Maven Central jars.

The runtime classpath is pinned in ``kafka-jars.lock.json`` (resolved with Maven at development
time, see README), so a fresh machine needs only Python, Java 17+ and access to Maven Central.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import platformdirs

from kervan_devstack import _proc
from kervan_devstack.errors import DevstackError

#: Any fixed 16-byte value works; fixing it keeps a formatted log dir valid across restarts.
CLUSTER_ID = "S2VydmFuRGV2c3RhY2sxMg"
NODE_ID = 1
ENV_MAVEN_REPO = "KERVAN_DEVSTACK_MAVEN_REPO"
ENV_KAFKA_HEAP = "KERVAN_DEVSTACK_KAFKA_HEAP"
ENV_CACHE_DIR = "KERVAN_DEVSTACK_CACHE_DIR"
MIN_JAVA = 17


@dataclass(frozen=True, slots=True)
class Artifact:
    """One jar of the locked classpath."""

    group: str
    artifact: str
    version: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        """Cache file name; the group is included so two groups' artifacts cannot collide."""
        return f"{self.group}.{self.artifact}-{self.version}.jar"

    def url(self, repository: str) -> str:
        """Standard Maven 2 layout URL."""
        group_path = self.group.replace(".", "/")
        name = f"{self.artifact}-{self.version}.jar"
        return f"{repository.rstrip('/')}/{group_path}/{self.artifact}/{self.version}/{name}"


@dataclass(frozen=True, slots=True)
class KafkaLock:
    """The pinned Kafka version and its classpath."""

    kafka_version: str
    repository: str
    artifacts: tuple[Artifact, ...]


def load_lock() -> KafkaLock:
    """Read the lock file shipped inside the package."""
    raw = json.loads(
        importlib.resources.files("kervan_devstack").joinpath("kafka-jars.lock.json").read_text()
    )
    artifacts = tuple(
        Artifact(
            group=a["group"],
            artifact=a["artifact"],
            version=a["version"],
            sha256=a["sha256"],
            size=int(a["size"]),
        )
        for a in raw["artifacts"]
    )
    return KafkaLock(
        kafka_version=raw["kafka_version"], repository=raw["repository"], artifacts=artifacts
    )


def jar_cache_dir(version: str) -> Path:
    """``$KERVAN_DEVSTACK_CACHE_DIR`` or ``user_cache_dir("kervan")``, then ``kafka/<version>``.

    Shared by every checkout and state dir, so the jars are downloaded once per machine.
    """
    root = os.environ.get(ENV_CACHE_DIR) or platformdirs.user_cache_dir("kervan")
    return Path(root) / "kafka" / version


def _download(client: httpx.Client, url: str, artifact: Artifact, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{id(artifact)}.part")
    digest = hashlib.sha256()
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise DevstackError(f"downloading {url} failed: HTTP {response.status_code}")
            with tmp.open("wb") as out:
                for chunk in response.iter_bytes(1 << 16):
                    digest.update(chunk)
                    out.write(chunk)
        if digest.hexdigest() != artifact.sha256:
            raise DevstackError(
                f"checksum mismatch for {url}: expected sha256 {artifact.sha256}, "
                f"got {digest.hexdigest()}"
            )
        # rename is atomic: a concurrent or interrupted run never sees a partial jar.
        tmp.replace(target)
    except httpx.HTTPError as exc:
        raise DevstackError(f"downloading {url} failed: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def ensure_jars(lock: KafkaLock | None = None) -> list[Path]:
    """Make sure every locked jar is in the cache (download + verify missing ones)."""
    lock = lock or load_lock()
    cache = jar_cache_dir(lock.kafka_version)
    cache.mkdir(parents=True, exist_ok=True)
    repository = os.environ.get(ENV_MAVEN_REPO, lock.repository)
    paths = [cache / a.filename for a in lock.artifacts]
    # A jar only ever lands under its final name after its sha256 matched, so presence with
    # the right size is enough here; re-hashing 45 MB on every start would be wasted time.
    missing = [
        (a, p)
        for a, p in zip(lock.artifacts, paths, strict=True)
        if not (p.is_file() and p.stat().st_size == a.size)
    ]
    if missing:
        timeout = httpx.Timeout(30.0, connect=10.0)
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as client,
            ThreadPoolExecutor(max_workers=8) as pool,
        ):
            futures = [pool.submit(_download, client, a.url(repository), a, p) for a, p in missing]
            for future in futures:
                future.result()
    return paths


def find_java() -> str:
    """Path of a Java 17+ runtime (``$JAVA_HOME/bin/java`` or ``java`` on PATH)."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not candidate or not Path(candidate).is_file():
        raise DevstackError(
            "Kafka needs Java 17+ but no `java` was found (install openjdk-17-jre-headless "
            "or set JAVA_HOME)"
        )
    proc = subprocess.run(  # noqa: S603 - fixed argv, path from JAVA_HOME/PATH
        [candidate, "-version"], capture_output=True, text=True, check=False, timeout=30
    )
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if match is None:
        raise DevstackError(f"could not tell the version of {candidate}; Kafka needs Java 17+")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise DevstackError(f"Kafka needs Java 17+ but {candidate} is Java {major}")
    return candidate


# Settings that make tests quick without changing semantics on a one-node cluster.
SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={node_id}@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={log_dir}
# Kervan creates every topic explicitly; a typo must fail, not create a stray topic.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
# One node: internal topics cannot have more than one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Do not wait 3 s for more members before the first rebalance of a new group.
group.initial.rebalance.delay.ms=0
# The cleaner re-checks every second instead of every 15 s (compaction tests).
log.cleaner.enable=true
log.cleaner.backoff.ms=1000
num.network.threads=2
num.io.threads=4
"""

LOG4J2_YAML = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
"""


def _kafka_request(api_key: int, api_version: int, body: bytes) -> bytes:
    client_id = b"kervan-devstack"
    header = struct.pack(">hhih", api_key, api_version, 1, len(client_id)) + client_id
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def _roundtrip(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    return _recv_exact(sock, size)[4:]  # strip the correlation id (response header v0)


def kafka_ready(port: int, timeout: float = 2.0, host: str = _proc.LOOPBACK) -> bool:
    """True when the broker answers ApiVersions and its metadata lists a broker.

    Spoken directly on a socket (two tiny requests) so the devstack needs no Kafka client.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            api_versions = _roundtrip(sock, _kafka_request(18, 0, b""))
            if struct.unpack(">h", api_versions[:2])[0] != 0:
                return False
            # Metadata v4 for no topics: [] topics, allow_auto_topic_creation=false.
            metadata = _roundtrip(sock, _kafka_request(3, 4, struct.pack(">ib", 0, 0)))
            (broker_count,) = struct.unpack(">i", metadata[4:8])
            return bool(broker_count >= 1)
    except (OSError, ConnectionError, struct.error):
        return False


class KafkaServer:
    """The Kafka process of one state dir."""

    name = "kafka"

    def __init__(self, state_dir: Path, port: int, controller_port: int) -> None:
        self.state_dir = state_dir
        self.home = state_dir / "kafka"
        self.data_dir = self.home / "data"
        self.pid_path = state_dir / "run" / "kafka.json"
        self.log_path = state_dir / "logs" / "kafka.log"
        self.port = port
        self.controller_port = controller_port
        self._popen: subprocess.Popen[bytes] | None = None

    def running(self) -> _proc.PidRecord | None:
        """Our live process record, if any."""
        record = _proc.PidRecord.load(self.pid_path)
        if record is not None and record.process() is not None:
            return record
        return None

    def check_start_preconditions(self) -> None:
        """Fail fast (before slow work) on missing Java or a taken port."""
        if self.running() is not None:
            return
        find_java()
        hint = "pass --kafka-port/--kafka-controller-port or use --ports auto"
        _proc.ensure_port_free(self.port, "Kafka", hint)
        _proc.ensure_port_free(self.controller_port, "Kafka controller", hint)

    def up(self, timeout: float = 90.0) -> str:
        """Start (or reuse) Kafka and wait until it serves metadata; returns the bootstrap."""
        record = self.running()
        if record is not None:
            self.port = record.ports["kafka"]
            self.controller_port = record.ports["kafka_controller"]
            _proc.wait_until(
                lambda: kafka_ready(self.port),
                timeout=timeout,
                what="Kafka",
                alive=lambda: record.process() is not None,
                log_path=self.log_path,
            )
            return self.bootstrap
        self.pid_path.unlink(missing_ok=True)
        java = find_java()
        hint = "pass --kafka-port/--kafka-controller-port or use --ports auto"
        _proc.ensure_port_free(self.port, "Kafka", hint)
        _proc.ensure_port_free(self.controller_port, "Kafka controller", hint)
        classpath = os.pathsep.join(str(p) for p in ensure_jars())
        self.home.mkdir(parents=True, exist_ok=True)
        properties = self.home / "server.properties"
        properties.write_text(
            SERVER_PROPERTIES.format(
                node_id=NODE_ID,
                port=self.port,
                controller_port=self.controller_port,
                log_dir=self.data_dir,
            )
        )
        log4j = self.home / "log4j2.yaml"
        log4j.write_text(LOG4J2_YAML)
        jvm = [
            java,
            f"-Xmx{os.environ.get(ENV_KAFKA_HEAP, '512m')}",
            "-Xms128m",
            # Serial GC: least CPU on a small shared machine; pauses are irrelevant here.
            "-XX:+UseSerialGC",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:-UsePerfData",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
        ]
        if not (self.data_dir / "meta.properties").is_file():
            fmt = subprocess.run(  # noqa: S603 - argv built from trusted parts
                [
                    *jvm,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    CLUSTER_ID,
                    "-c",
                    str(properties),
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            if fmt.returncode != 0:
                last = (fmt.stderr or fmt.stdout).strip().splitlines()[-1:]
                raise DevstackError(f"formatting Kafka storage failed: {' '.join(last)}")
        popen = _proc.spawn(
            [*jvm, "kafka.Kafka", str(properties)], log_path=self.log_path, cwd=self.home
        )
        self._popen = popen
        # The properties path is in the command line and unique to this state dir.
        _proc.record_for(
            popen,
            str(properties),
            {"kafka": self.port, "kafka_controller": self.controller_port},
        ).save(self.pid_path)
        _proc.wait_until(
            lambda: kafka_ready(self.port),
            timeout=timeout,
            what="Kafka",
            alive=_proc.popen_alive(popen),
            log_path=self.log_path,
        )
        return self.bootstrap

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"{_proc.LOOPBACK}:{self.port}"

    def down(self) -> bool:
        """Stop Kafka if we started it (controlled shutdown on SIGTERM)."""
        record = _proc.PidRecord.load(self.pid_path)
        stopped = record is not None and _proc.stop(record, first_signal=signal.SIGTERM)
        self.pid_path.unlink(missing_ok=True)
        if self._popen is not None:
            self._popen.poll()  # reap our child so it does not linger as a zombie
        return stopped
