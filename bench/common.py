"""What the bench scripts share: starting a gateway process and waiting for it, signed deliveries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gateway.dev.broker import free_port

__all__ = ["Server", "free_port", "stop_group"]


class Server:
    """`webhook-gateway serve` (or any command serving /healthz) as a child process."""

    def __init__(self, config: Path, workers: int = 1, cpus: str | None = None,
                 command: list[str] | None = None) -> None:
        self.port = free_port()
        self.config = config
        args = command or [sys.executable, "-m", "gateway", "serve", "--config", str(config),
                           "--workers", str(workers), "--log-level", "warning"]
        args = [*args, "--host", "127.0.0.1", "--port", str(self.port)]
        if cpus:
            args = ["taskset", "-c", cpus, *args]
        self.log = config.with_suffix(".log")
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self._wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited; see {self.log}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit(f"server did not start; see {self.log}")

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
