"""`serve`'s handle on the host's publisher process (gateway.publish.process): started before the
workers, restarted if it dies, stopped after them, so their last records are still answered."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from gateway.publish.process import FLUSH_SECS

log = logging.getLogger("gateway.kafka")


class PublisherProcess:
    """`serve`'s handle on the publisher process: start it before the workers, restart it if it
    dies, stop it after them (so their last records are still answered)."""

    def __init__(self, config_path: str) -> None:
        self._config_path = config_path
        # 0700: only this user can hand records to the producer
        self._directory = tempfile.mkdtemp(prefix="webhook-gateway-")
        self.socket = os.path.join(self._directory, "publisher.sock")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher = threading.Thread(target=self._watch, name="publisher-watch", daemon=True)

    def start(self, timeout: float = 10.0) -> PublisherProcess:
        self._spawn()
        self._watcher.start()
        deadline = time.monotonic() + timeout  # until it listens; past that, workers retry
        while not os.path.exists(self.socket) and time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            time.sleep(0.02)
        return self

    def _spawn(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._process = subprocess.Popen(  # noqa: S603 - our own module, our interpreter
                    [sys.executable, "-m", "gateway.publish.process",
                     "--config", self._config_path, "--socket", self.socket],
                    stdin=subprocess.PIPE)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            code = process.wait()
            if self._stopping.wait(1.0):
                return
            log.error("the publisher process exited (code %s); starting a new one", code)
            self._spawn()

    def stop(self, timeout: float = FLUSH_SECS + 5) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            assert process.stdin is not None
            with contextlib.suppress(OSError):
                process.stdin.close()  # "stop": it flushes its producer and exits
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self._directory, ignore_errors=True)
