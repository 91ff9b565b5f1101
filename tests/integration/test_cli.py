"""The command line a newcomer uses: `send`, `tail` and `dev`, as real processes, against Kafka."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gateway.cli import main
from gateway.dev.broker import Broker, free_port
from gateway.providers import REGISTRY
from gateway.providers.azakaw import snake
from tests.helpers import GatewayProcess, config_dict, read_topic, write_config
from tests.integration.running import envelope, prefix, wait_for

pytestmark = pytest.mark.kafka

_SCRIPT = Path(sys.executable).with_name("webhook-gateway")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "gateway"]
ANSWER = re.compile(r"-> (\d+) (\{.*\})")


class Lines:
    """A process's stdout, line by line, read on a thread so a test can wait with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: Iterator[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)  # the process closed its output

    def until(self, needle: str, timeout: float) -> str:
        """Everything printed so far, once `needle` is in it."""
        deadline = time.monotonic() + timeout
        while needle not in "".join(self.seen):
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{needle!r} not printed within {timeout:.0f}s: "
                                     f"{''.join(self.seen)[-2000:]}") from None
            if line is None:
                raise AssertionError(f"{needle!r} not printed before the output ended: "
                                     f"{''.join(self.seen)[-2000:]}")
            self.seen.append(line)
        return "".join(self.seen)


@contextmanager
def spawned(args: list[str], **kwargs: object) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, **kwargs)  # type: ignore[call-overload]
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def tail_until(config: Path, topic: str, needle: str) -> str:
    with spawned(["tail", topic, "--config", str(config), "--from-beginning"]) as tail:
        lines = Lines(tail)
        lines.until(needle, 30)
        printed = lines.until("\n}\n", 10)  # the end of the indented envelope (the topic's only record)
        tail.terminate()
        tail.wait(10)
    return printed


def send(config: Path, source: str, event: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    args = CLI + ["send", source, event, "--config", str(config)] + (["--url", url] if url else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def answered_id(run: subprocess.CompletedProcess[str]) -> str:
    match = ANSWER.search(run.stdout)
    assert match, run.stdout + run.stderr
    return str(json.loads(match.group(2))["id"])


@pytest.fixture
def gateway(broker: Broker, tmp_path: Path) -> Iterator[tuple[GatewayProcess, Path, str]]:
    topic_prefix = prefix()
    path = write_config(tmp_path / "gateway.yaml",
                        config_dict(tmp_path / "state", broker.bootstrap, topic_prefix=topic_prefix))
    process = GatewayProcess(path).start()
    try:
        wait_for(lambda: httpx.get(process.url + "/readyz").json().get("kafka") == "reachable", 20,
                 "the gateway to connect to kafka")
        yield process, path, topic_prefix
    finally:
        process.stop()


def test_send_posts_every_sample_event_of_every_source_and_each_reaches_kafka(
        gateway: tuple[GatewayProcess, Path, str], broker: Broker, capsys: pytest.CaptureFixture[str]) -> None:
    process, path, topic_prefix = gateway
    sources = config_dict(Path("unused"), broker.bootstrap)["sources"]
    wanted = [(source, cfg["provider"], event) for source, cfg in sources.items()
              for event in REGISTRY[cfg["provider"]].samples]
    assert {provider for _, provider, _ in wanted} >= {"iof", "compliancely", "tlas", "azakaw"}

    expected = {}
    for source, provider, event in wanted:
        # In this process: a fresh interpreter per event costs ~1 s of CPU; the console script
        # itself runs as a real process in the tail and dev tests.
        code = main(["send", source, event, "--config", str(path), "--url", process.url])
        printed = capsys.readouterr()
        run = subprocess.CompletedProcess([], code, printed.out, printed.err)
        assert run.returncode == 0, (source, event, run.stdout, run.stderr)
        assert '"status":"published"' in run.stdout.replace(" ", ""), run.stdout
        expected[answered_id(run)] = (f"/webhooks/{source}", f"{provider}.{snake(event)}")

    topics = sorted({f"{topic_prefix}.{provider}" for _, provider, _ in wanted})
    found = {}
    for record in read_topic(broker.bootstrap, topics):
        event = envelope(record.value)
        assert event.id not in found, f"{event.id} twice"
        found[event.id] = (event.source, event.type)
    assert found == expected


def test_tail_prints_a_posted_envelope(gateway: tuple[GatewayProcess, Path, str], broker: Broker) -> None:
    process, path, topic_prefix = gateway
    run = send(path, "tlas", "application.approved", process.url)
    assert run.returncode == 0, run.stdout + run.stderr
    event_id = answered_id(run)

    printed = tail_until(path, f"{topic_prefix}.tlas", event_id)
    envelope_text = printed[printed.index("{"):]  # the header line, then the indented envelope
    shown = json.loads(envelope_text[:_json_end(envelope_text)])
    assert shown["id"] == event_id and shown["type"] == "tlas.application.approved"


def _json_end(text: str) -> int:
    """Where the first JSON value in `text` ends."""
    return json.JSONDecoder().raw_decode(text)[1]


def _processes_with(fragment: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if fragment in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_dev_runs_broker_and_gateway_and_stops_both(stop: signal.Signals, tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "dev"
    with spawned(["dev", "--dir", str(home), "--port", str(port)]) as dev:
        printed = Lines(dev).until("Ctrl-C stops", 30)
        broker = re.search(r"broker \(Tansu, in memory\) on (127\.0\.0\.1:\d+)", printed)
        assert broker, printed
        assert "webhook-gateway send" in printed and "webhook-gateway tail" in printed
        listener = f"tcp://{broker.group(1)}"
        assert _processes_with(listener), "no broker process"
        wait_for(lambda: _healthy(f"http://127.0.0.1:{port}"), 30, "the dev gateway's /healthz")
        _pages_open(printed, port, (home / "secrets" / "admin").read_text().strip())

        config = home / "gateway.yaml"
        run = send(config, "azakaw-acme", "RiskAssessmentCalculated")  # the URL from the config
        assert run.returncode == 0, run.stdout + run.stderr
        event_id = answered_id(run)
        assert event_id in tail_until(config, "webhooks.azakaw", event_id)

        if stop == signal.SIGINT:
            os.killpg(dev.pid, stop)  # as Ctrl-C in its terminal
        else:
            dev.send_signal(stop)  # as a process manager
        assert dev.wait(30) == 0
    assert _processes_with(listener) == []  # no orphaned broker
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def _pages_open(printed: str, port: int, token: str) -> None:
    """The status and audit pages' URLs are printed with the generated admin token, and each
    opens as a browser would: the token becomes a cookie across the redirect."""
    urls = dict(re.findall(r"(status|audit) page: +(http://\S+)", printed))
    assert urls == {"status": f"http://127.0.0.1:{port}/admin/?token={token}",
                    "audit": f"http://127.0.0.1:{port}/admin/audit?token={token}"}, printed
    for name, url in urls.items():
        with httpx.Client(follow_redirects=True, timeout=10) as browser:
            page = browser.get(url)
            assert page.status_code == 200 and f"webhook-gateway{' audit' if name == 'audit' else ''}" in page.text
            assert token not in str(page.url) and browser.cookies.get("gateway_admin") == token
    assert httpx.get(urls["audit"].replace(token, token[:-1] + "x")).status_code == 401


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
