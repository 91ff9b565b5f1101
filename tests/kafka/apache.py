"""Apache Kafka for the tests: fetched from Maven Central, run in KRaft combined mode on loopback.

    python -m tests.kafka.apache [--version 4.4.0] [--nodes 3]    # or: make kafka

fetches the broker's jars (`org.apache.kafka:kafka_2.13` and its runtime dependencies, through
tests/kafka/pom.xml) into ~/.cache/webhook-gateway/kafka-VERSION once, formats a log directory per
node (`kafka.tools.StorageTool`), runs `kafka.Kafka` on free loopback ports, waits until every node
answers a metadata request naming all of them, and on exit stops the nodes and deletes their data.
The tests use `Cluster` directly (tests/conftest.py, tests/integration/test_kafka_faults.py).
Needs Java 17+ (Kafka 4.x; 11+ for 3.9.x) and, for the first fetch of a version, Maven.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from gateway.dev.broker import free_port

VERSION = os.environ.get("KAFKA_VERSION", "4.4.0")  # 3.9.2 also resolves and passes the suite
POM = Path(__file__).with_name("pom.xml")
HEAP = os.environ.get("KAFKA_HEAP", "-Xmx320m")
JVM = [HEAP, "-Xms64m", "-Xss512k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
       "-XX:-UsePerfData", "-Djava.awt.headless=true",
       "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dorg.slf4j.simpleLogger.logFile=System.out",
       "-Dorg.slf4j.simpleLogger.showDateTime=true"]


class KafkaError(RuntimeError):
    pass


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "webhook-gateway"


def jars_dir(version: str = VERSION) -> Path:
    return cache_root() / f"kafka-{version}"


def cached(version: str = VERSION) -> bool:
    return (jars_dir(version) / ".complete").exists()


def available(version: str = VERSION) -> str | None:
    """Why Apache Kafka cannot be had here, or None when it can (Java, and Maven or a warm cache)."""
    if shutil.which("java") is None:
        return "no java on PATH"
    if not cached(version) and shutil.which("mvn") is None:
        return f"no mvn on PATH and no cached Kafka {version} in {jars_dir(version)}"
    return None


def fetch(version: str = VERSION) -> Path:
    """The directory of the broker's jars, fetched once per version (a lock keeps runs apart)."""
    target = jars_dir(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"kafka-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cached(version):
            return target
        partial = Path(tempfile.mkdtemp(prefix=f"kafka-{version}.", dir=target.parent))
        command = ["mvn", "-q", "-B", "-f", str(POM), f"-Dkafka.version={version}",
                   "dependency:copy-dependencies", f"-DoutputDirectory={partial}", "-DincludeScope=runtime"]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise KafkaError(f"fetching Apache Kafka {version}: {exc}") from None
        if run.returncode != 0 or not any(partial.glob(f"kafka_2.13-{version}.jar")):
            shutil.rmtree(partial, ignore_errors=True)
            raise KafkaError(f"fetching Apache Kafka {version} with {' '.join(command)}:\n"
                             f"{(run.stdout + run.stderr)[-3000:]}")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        (target / ".complete").write_text(version + "\n")
        return target


def metadata_brokers(port: int, timeout: float = 2.0) -> list[tuple[int, str, int]]:
    """The live brokers a node reports in a Metadata v4 response (no topics asked for)."""
    request = struct.pack(">hhih", 3, 4, 1, 5) + b"probe" + struct.pack(">i?", 0, False)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", _read(sock, 4))[0]
        data = _read(sock, size)
    offset = 8  # correlation id, throttle time
    (count,) = struct.unpack_from(">i", data, offset)
    offset += 4
    brokers = []
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", data, offset)
        offset += 6
        host = data[offset:offset + host_len].decode()
        offset += host_len
        (broker_port, rack_len) = struct.unpack_from(">ih", data, offset)
        offset += 6 + max(rack_len, 0)
        brokers.append((node_id, host, broker_port))
    return brokers


def _read(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("closed mid-response")
        chunks += chunk
    return bytes(chunks)


class Node:
    """One KRaft node acting as broker and controller; its log directory outlives restarts."""

    def __init__(self, cluster: Cluster, node_id: int, advertised_port: int | None = None) -> None:
        self.cluster = cluster
        self.node_id = node_id
        self.port = free_port()
        self.controller_port = free_port()
        self.advertised_port = advertised_port or self.port
        self.dir = cluster.root / f"node-{node_id}"
        self.log_path = cluster.log_dir / f"kafka-{node_id}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def write_properties(self) -> Path:
        replicas = min(len(self.cluster.nodes), 3)
        settings = {
            "process.roles": "broker,controller",
            "node.id": self.node_id,
            "controller.quorum.voters": self.cluster.voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.advertised_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.dir / "data",
            "num.partitions": 4,  # auto-created topics, as on the dev broker
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": 4,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "num.network.threads": 2,
            "num.io.threads": 2,
            "background.threads": 2,
            "log.cleaner.enable": "false",
        }
        path = self.dir / "server.properties"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        return path

    def format(self) -> None:
        properties = self.write_properties()
        run = subprocess.run(
            ["java", *JVM, "-cp", f"{self.cluster.jars}/*", "kafka.tools.StorageTool", "format",
             "--cluster-id", self.cluster.cluster_id, "--config", str(properties), "--ignore-formatted"],
            capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            raise KafkaError(f"formatting node {self.node_id}: {(run.stdout + run.stderr)[-2000:]}")

    def launch(self) -> None:
        """Start the JVM on the existing log directory; `Cluster.wait_ready` waits for it."""
        if self.running:
            return
        with open(self.log_path, "ab") as out:
            self._process = subprocess.Popen(
                ["java", *JVM, "-cp", f"{self.cluster.jars}/*", "kafka.Kafka", str(self.dir / "server.properties")],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def signal(self, sig: int) -> None:
        if self.running:
            assert self._process is not None
            self._process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no flush, no controlled shutdown."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (controlled shutdown), SIGKILL past the timeout."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def serves(self) -> list[int]:
        """The ids of the brokers this node reports alive, or [] while it does not answer."""
        if not self.running:
            return []
        try:
            return sorted(node_id for node_id, _, _ in metadata_brokers(self.port, timeout=1.0))
        except (OSError, struct.error, ConnectionError):
            return []


class Cluster:
    """`nodes` KRaft combined nodes on loopback; `with Cluster() as kafka: kafka.bootstrap`."""

    def __init__(self, nodes: int = 1, version: str = VERSION, log_dir: Path | None = None,
                 advertised_ports: list[int] | None = None) -> None:
        self.version = version
        self.root = Path(tempfile.mkdtemp(prefix="kafka-"))
        self.log_dir = log_dir or self.root
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.cluster_id = "-"
        while self.cluster_id.startswith("-"):  # as Kafka's own Uuid.randomUuid(): never read as a flag
            self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.jars = Path()
        ports: list[int | None] = list(advertised_ports or [None] * nodes)
        self.nodes = [Node(self, i + 1, ports[i]) for i in range(nodes)]
        self.voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)

    @property
    def name(self) -> str:
        return f"Apache Kafka {self.version}"

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    @property
    def port(self) -> int:
        return self.nodes[0].port

    @property
    def pid(self) -> int | None:
        return self.nodes[0].pid

    def node(self, node_id: int) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    def start(self, timeout: float = 120.0) -> Cluster:
        try:
            self.jars = fetch(self.version)
            for node in self.nodes:
                node.format()
            for node in self.nodes:
                node.launch()
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until every running node answers a metadata request that names every running node."""
        deadline = time.monotonic() + timeout
        while True:
            live = [n for n in self.nodes if n.running]
            wanted = sorted(n.node_id for n in live)
            if wanted and all(n.serves() == wanted for n in live):
                return
            dead = [n for n in self.nodes if n._process is not None and n._process.poll() is not None]
            if dead and not live:
                raise KafkaError(f"{self.name}: every node exited; see {dead[0].log_path}:\n"
                                 + dead[0].log_path.read_text()[-2000:])
            if time.monotonic() > deadline:
                seen = {n.node_id: n.serves() for n in live}
                raise KafkaError(f"{self.name}: not serving within {timeout:.0f}s (each node sees {seen}); "
                                 f"logs in {self.log_dir}")
            time.sleep(0.2)

    def stop(self, timeout: float = 10.0) -> None:
        """Every node at once (one by one, the last ones would wait for a lost quorum); data deleted."""
        running = [n for n in self.nodes if n.running]
        for node in running:
            node.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in running:
            node.stop(timeout=max(deadline - time.monotonic(), 0.1))
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.kafka.apache", description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION, help=f"Apache Kafka version (default {VERSION})")
    parser.add_argument("--nodes", type=int, default=1, help="KRaft combined nodes (default 1)")
    parser.add_argument("--fetch-only", action="store_true", help="fetch the jars into the cache and exit")
    args = parser.parse_args()
    if args.fetch_only:
        print(fetch(args.version))
        return
    with Cluster(args.nodes, args.version) as cluster:
        print(f"{cluster.name}, {args.nodes} node(s), bootstrap {cluster.bootstrap} (Ctrl-C stops and deletes it)",
              flush=True)
        try:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
