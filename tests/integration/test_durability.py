"""Fault injection against a real gateway process and a real broker (issue 3).

Kafka is taken away through tests.proxy.Proxy (the broker advertises the proxy's port), so what the
broker acknowledged before the outage is still there to count afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from gateway.commands.send import build
from gateway.config import parse_config
from gateway.dev.broker import free_port
from gateway.dev.proxy import Proxy
from tests.helpers import GatewayProcess, config_dict, read_topic, write_config
from tests.integration import running
from tests.integration.running import post, readyz
from tests.kafka import brokers


class Outage:
    """A broker reachable only through a proxy the test can cut, and a gateway config for it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proxy_port = free_port()
        self.broker = brokers.make(root, advertised_port=self.proxy_port).start()
        self.proxy = Proxy(self.broker.port, port=self.proxy_port)
        self.prefix = f"t{uuid.uuid4().hex[:8]}"
        data = config_dict(root / "state", self.broker.bootstrap, topic_prefix=self.prefix,
                           ack_timeout_ms=1000)
        self.config_path = write_config(root / "gateway.yaml", data)
        self.config = parse_config(data)

    def gateway(self, workers: int = 1) -> GatewayProcess:
        return GatewayProcess(self.config_path, workers=workers)

    def delivery(self, source: str = "iof", event: str = "contract.created") -> tuple[bytes, dict[str, str]]:
        return build(self.config, source, event, time.time())

    def records(self, provider: str = "iof") -> list[dict]:
        return [json.loads(r.value) for r in read_topic(self.broker.bootstrap, f"{self.prefix}.{provider}")]

    def close(self) -> None:
        self.proxy.close()
        self.broker.stop()


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Outage]:
    env = Outage(tmp_path)
    yield env
    env.close()


def wait_for(condition: Callable[[], object], timeout: float = 120, what: str = "condition") -> None:
    # Generous by default: a copy held for a late ack waits up to the producer's delivery timeout (31 s).
    running.wait_for(condition, timeout, what)


def drained(gateway: GatewayProcess) -> bool:
    state = readyz(gateway)
    return state["kafka"] == "reachable" and state["spool"]["depth"] == 0


def assert_once(records: list[dict], accepted: set[str]) -> None:
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "an event was published twice"
    assert set(ids) == accepted, f"missing from Kafka: {sorted(accepted - set(ids))[:5]}"


def test_broker_outage_while_webhooks_arrive_loses_nothing(outage: Outage) -> None:
    gateway = outage.gateway().start()
    try:
        wait_for(lambda: readyz(gateway)["kafka"] == "reachable", what="kafka")
        deliveries = [outage.delivery() for _ in range(120)]
        answers: list[httpx.Response] = []
        answered = threading.Condition()

        def send(delivery: tuple[bytes, dict[str, str]]) -> None:
            response = post(gateway.url, delivery)
            with answered:
                answers.append(response)
                answered.notify_all()

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(send, d) for d in deliveries]
            with answered:
                answered.wait_for(lambda: len(answers) >= 30, 60)
            outage.proxy.down()
            with answered:
                answered.wait_for(lambda: len(answers) >= 80, 60)
            outage.proxy.up()
            for future in futures:
                future.result()

        statuses = sorted({r.status_code for r in answers})
        assert set(statuses) <= {200, 202}, statuses
        assert any(r.json()["status"] == "spooled" for r in answers), "the outage was not noticed"
        wait_for(lambda: drained(gateway), what="the spool to drain")
        assert_once(outage.records(), {r.json()["id"] for r in answers})
    finally:
        gateway.stop()


def test_spooled_events_survive_sigkill_and_drain_after_restart(outage: Outage) -> None:
    outage.proxy.down()
    gateway = outage.gateway().start()
    deliveries = [outage.delivery() for _ in range(25)]
    answers = [post(gateway.url, d) for d in deliveries]
    assert {r.status_code for r in answers} == {202}
    assert {r.json()["status"] for r in answers} == {"spooled"}
    assert readyz(gateway)["spool"]["depth"] == 25

    # A SIGKILLed serve cannot remove its publisher's socket directory: the test does.
    socket_dirs = [socket_dir(pid) for pid in publisher_processes(gateway)]
    gateway.signal(signal.SIGKILL)
    gateway.wait()
    for directory in socket_dirs:
        shutil.rmtree(directory, ignore_errors=True)
    outage.proxy.up()
    restarted = outage.gateway().start()
    try:
        wait_for(lambda: drained(restarted), what="the spool to drain after restart")
        # The provider retries one of them after the restart: remembered, not published again.
        again = post(restarted.url, deliveries[0])
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        assert_once(outage.records(), {r.json()["id"] for r in answers})
    finally:
        restarted.stop()


def test_same_delivery_before_and_after_restart_is_published_once(outage: Outage) -> None:
    delivery = outage.delivery("tlas", "application.approved")
    gateway = outage.gateway().start()
    wait_for(lambda: readyz(gateway)["kafka"] == "reachable", what="kafka")
    first = post(gateway.url, delivery, "tlas")
    gateway.stop()
    assert gateway.wait() == 0

    restarted = outage.gateway().start()
    try:
        second = post(restarted.url, delivery, "tlas")
        assert first.json() == {"id": first.json()["id"], "status": "published"}
        assert second.json() == {"id": first.json()["id"], "status": "duplicate"}
        assert [r["id"] for r in outage.records("tlas")] == [first.json()["id"]]
    finally:
        restarted.stop()


def test_stalled_broker_answers_spooled_within_the_ack_timeout_and_loses_nothing(outage: Outage) -> None:
    gateway = outage.gateway().start()
    try:
        wait_for(lambda: readyz(gateway)["kafka"] == "reachable", what="kafka")
        warm = post(gateway.url, outage.delivery())  # topic metadata known before the stall
        assert warm.json()["status"] == "published"
        outage.proxy.stall()
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda d: post(gateway.url, d), [outage.delivery() for _ in range(12)]))
        assert {r.json()["status"] for r in answers} == {"spooled"}
        outage.proxy.up()
        wait_for(lambda: drained(gateway), what="the spool to drain")
        assert_once(outage.records(), {r.json()["id"] for r in [warm, *answers]})
    finally:
        gateway.stop()


def test_two_workers_drain_a_shared_spool_exactly_once(outage: Outage) -> None:
    outage.proxy.down()
    gateway = outage.gateway(workers=2).start()
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda d: post(gateway.url, d), [outage.delivery() for _ in range(40)]))
        assert {r.json()["status"] for r in answers} == {"spooled"}
        outage.proxy.up()
        wait_for(lambda: drained(gateway), what="the spool to drain")
        assert_once(outage.records(), {r.json()["id"] for r in answers})
    finally:
        gateway.stop()


def test_sigterm_finishes_in_flight_requests_and_exits_zero(outage: Outage) -> None:
    gateway = outage.gateway().start()
    wait_for(lambda: readyz(gateway)["kafka"] == "reachable", what="kafka")
    assert post(gateway.url, outage.delivery()).json()["status"] == "published"
    outage.proxy.stall()  # the next request waits for an ack that does not come
    with httpx.Client(base_url=gateway.url, timeout=30) as client, ThreadPoolExecutor(1) as pool:
        assert client.get("/readyz").status_code == 200  # opens the keep-alive connection
        in_flight = pool.submit(post, gateway.url, outage.delivery())
        wait_for(lambda: readyz(gateway)["in_flight"] == 1, what="the request to be in flight")
        gateway.signal(signal.SIGTERM)
        try:  # same connection: served while shutting down, until uvicorn closes idle connections
            ready: httpx.Response | None = client.get("/readyz")
        except (httpx.ReadError, httpx.RemoteProtocolError):
            ready = None  # its next tick (0.1 s) came first: closing them is shutting down too
        answer = in_flight.result()
    assert ready is None or (ready.status_code == 503 and ready.json()["shutting_down"] is True)
    assert answer.status_code == 202 and answer.json()["status"] == "spooled"
    assert gateway.wait(30) == 0


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "small"
    _mount_tmpfs(path, "4m")
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_spool_disk_answers_503_and_acknowledges_nothing(outage: Outage, small_disk: Path) -> None:
    data = config_dict(small_disk / "state", outage.broker.bootstrap, topic_prefix=outage.prefix,
                       ack_timeout_ms=1000)
    gateway = GatewayProcess(write_config(outage.root / "small.yaml", data)).start()
    try:
        outage.proxy.down()
        first = post(gateway.url, outage.delivery())
        assert first.json()["status"] == "spooled"  # the spool works until the disk fills up
        subprocess.run(["dd", "if=/dev/zero", f"of={small_disk / 'filler'}", "bs=64k"],
                       capture_output=True)  # runs until ENOSPC
        refused = [post(gateway.url, outage.delivery()) for _ in range(5)]
        assert {r.status_code for r in refused} == {503}
        assert all(r.headers.get("retry-after") for r in refused)
        assert readyz(gateway)["spool"]["writable"] is False
        assert readyz(gateway)["spool"]["depth"] == 1  # nothing half-written beside the first

        (small_disk / "filler").unlink()  # space again: the spool takes events again
        assert post(gateway.url, outage.delivery()).json()["status"] == "spooled"
        outage.proxy.up()
        wait_for(lambda: drained(gateway), what="the spool to drain")
        assert len(outage.records()) == 2
    finally:
        gateway.stop()


def test_read_only_storage_stops_start_up_with_a_clear_message(outage: Outage, small_disk: Path) -> None:
    data = config_dict(small_disk / "state", outage.broker.bootstrap, topic_prefix=outage.prefix)
    path = write_config(outage.root / "ro.yaml", data)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    done = subprocess.run([sys.executable, "-m", "gateway", "serve", "--config", str(path)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "storage.path" in done.stderr and "Traceback" not in done.stderr


def publisher_processes(gateway: GatewayProcess) -> list[int]:
    """The pids of the publisher process(es) `serve` started (children of the serve process)."""
    assert gateway.process is not None
    found = []
    children = " ".join(task.joinpath("children").read_text()  # a restart spawns from a thread
                        for task in Path(f"/proc/{gateway.process.pid}/task").iterdir())
    for pid in children.split():
        try:
            if b"gateway.publish.process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except FileNotFoundError:
            continue
    return found


def socket_dir(pid: int) -> Path:
    """The directory of a publisher process's socket (`--socket` on its command line)."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return Path(args[args.index("--socket") + 1]).parent


def alive(pid: int) -> bool:
    try:
        return b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower()
    except FileNotFoundError:
        return False


def test_killing_the_publisher_process_mid_traffic_loses_nothing_and_it_comes_back(
        outage: Outage) -> None:
    """SIGKILL of the host's publisher process: what it had not acknowledged is spooled (202),
    `serve` starts a new one, and every acknowledged event ends up in Kafka. One the dead
    process had delivered without answering may be there twice, with the same id."""
    gateway = outage.gateway().start()
    try:
        wait_for(lambda: readyz(gateway)["kafka"] == "reachable", what="kafka")
        [first] = publisher_processes(gateway)
        answers: list[httpx.Response] = []
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(post, gateway.url, outage.delivery()) for _ in range(150)]
            wait_for(lambda: sum(f.done() for f in futures) >= 40, what="traffic before the kill")
            os.kill(first, signal.SIGKILL)
            answers = [f.result() for f in futures]
        assert {r.status_code for r in answers} <= {200, 202}
        wait_for(lambda: [p for p in publisher_processes(gateway) if p != first and alive(p)],
                 what="a new publisher process")
        wait_for(lambda: drained(gateway), what="the spool to drain")
        after = post(gateway.url, outage.delivery())
        assert after.status_code == 200 and after.json()["status"] == "published"
        accepted = {r.json()["id"] for r in answers} | {after.json()["id"]}
        assert {r["id"] for r in outage.records()} == accepted
    finally:
        gateway.stop()


def test_a_killed_serve_leaves_no_publisher_process_behind(outage: Outage) -> None:
    gateway = outage.gateway().start()
    try:
        wait_for(lambda: readyz(gateway)["kafka"] == "reachable", what="kafka")
        [publisher] = publisher_processes(gateway)
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGKILL)  # the serve process alone, not its group
        gateway.process.wait(10)
        wait_for(lambda: not alive(publisher), 15, "the publisher process to exit")
    finally:
        gateway.stop()


def test_with_publisher_worker_each_worker_publishes_itself(outage: Outage) -> None:
    data = config_dict(outage.root / "own", outage.broker.bootstrap, topic_prefix=outage.prefix,
                       publisher="worker")
    gateway = GatewayProcess(write_config(outage.root / "own.yaml", data)).start()
    try:
        wait_for(lambda: readyz(gateway)["kafka"] == "reachable", what="kafka")
        assert publisher_processes(gateway) == []
        answer = post(gateway.url, outage.delivery())
        assert answer.status_code == 200 and answer.json()["status"] == "published"
        assert [r["id"] for r in outage.records()] == [answer.json()["id"]]
    finally:
        gateway.stop()
