"""What the bench scripts share: starting a gateway process and waiting for it, signed deliveries."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from gateway.dev.broker import free_port

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["Server", "free_port", "stop_group"]


def percentile(ordered: list[float], share: float) -> float:
    """The value at `share` (0.99: p99) of values sorted beforehand."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


class Server:
    """A server under test as a child process in a session of its own (so that stop() reaches its
    workers and publisher process), pinned to `cores` when given, importing the gateway from `src`
    (another checkout: run.py --compare) or from this one."""

    def __init__(self, command: list[str], log: Path, port: int, cores: str | None = None,
                 src: str = "") -> None:
        self.port = port
        self.log = log
        env = {**os.environ, "PYTHONPATH": src or str(ROOT)}
        with open(log, "ab") as out:
            self.process = subprocess.Popen(["taskset", "-c", cores, *command] if cores else command,
                                            stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True, cwd=ROOT, env=env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_up(self, kafka: bool = False, workers: int = 1, timeout: float = 30.0) -> None:
        """Until /healthz answers or, with `kafka`, /readyz says Kafka is reachable often enough
        in a row that every worker has said so."""
        deadline = time.monotonic() + timeout
        ready_in_a_row = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited at start; see {self.log}")
            try:
                if not kafka:
                    if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                        return
                else:
                    body = self.ready()
                    ready_in_a_row = ready_in_a_row + 1 if body.get("kafka") == "reachable" else 0
                    if ready_in_a_row >= 4 * workers:
                        return
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"server not ready within {timeout:.0f}s; see {self.log}")

    def ready(self) -> dict:
        return httpx.get(self.url + "/readyz", timeout=5).json()

    def stop(self) -> None:
        stop_group(self.process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM a server's process group (graceful: it flushes), SIGKILL it after 30 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
