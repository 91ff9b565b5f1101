"""The publisher against a broker that restarts, is not there yet, or stops answering.

Each test runs its own broker, never the shared session one: of the run's kind (tests.kafka.brokers),
except the restart that wipes the broker's memory, which only the embedded Tansu broker does (the
restart of Apache Kafka on its own log directory: tests/integration/test_kafka_faults.py).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.dev.broker import Broker, free_port
from tests.helpers import read_topic
from tests.integration.running import (
    config,
    envelope,
    kafka_reachable,
    prefix,
    running,
    sample,
    signed,
    wait_for,
)
from tests.kafka import brokers
from tests.kafka.apache import Cluster

pytestmark = pytest.mark.kafka


@contextmanager
def own_broker(log_dir: Path, port: int | None = None) -> Iterator[Broker | Cluster]:
    with brokers.make(log_dir, port=port) as broker:
        yield broker


@contextmanager
def own_tansu(log_dir: Path, port: int | None = None) -> Iterator[Broker]:
    with Broker(port=port, log_path=log_dir / "broker.log") as broker:
        yield broker


def post(client: Any, cfg: Any, source: str = "iof") -> Any:
    body = sample(cfg, source)
    return client.post(f"/webhooks/{source}", content=body, headers=signed(cfg, source, body))


def test_publishing_recovers_after_the_broker_restarts_with_its_memory_wiped(tmp_path: Path) -> None:
    """What kafka-python 3.0.12 does here (seen against Tansu, memory storage):
    - while the broker is down, send() for a topic whose metadata is cached takes the record into
      the producer's buffer at once; the handler's ack wait runs out and the event is spooled (202);
      from then on new events go to the spool until it has drained;
    - the producer reconnects by itself to the new broker on the same port, which knows neither
      its producer id nor the topics. On a partition that had acks, the produce fails with
      UnknownProducerIdError, kafka-python bumps the epoch, Tansu answers InitProducerId with
      UnknownError (-1): a fatal state, for good. On a partition that never had an ack,
      kafka-python takes the UnknownProducerIdError for "retention-based" (KAFKA-5793), resets the
      sequence and retries every ~50 ms until the delivery timeout, then fails the batch with a
      plain KafkaTimeoutError: no fatal state at all. Before the publisher treated an expired batch
      as a reason to recreate the producer, that loop repeated for every record on such a
      partition and publishing had not recovered after 60 s in 3 runs of 4;
    - now the first expired batch (within the publisher's 30 s delivery timeout, long enough to
      outlast a leader change on a real cluster: test_kafka_faults.py) or fatal error replaces the
      producer; the new one gets a fresh producer id, the spool drains, and new events are
      published again.
    """
    with own_tansu(tmp_path) as first:
        cfg = config(tmp_path / "state", first.bootstrap, prefix())
        topic = f"{cfg.kafka.topic_prefix}.iof"
        with running(cfg) as client:
            before = post(client, cfg)
            assert before.json()["status"] == "published", before.text
            first.stop()

            during = post(client, cfg)
            assert (during.status_code, during.json()["status"]) == (202, "spooled"), during.text
            with own_tansu(tmp_path, port=first.port) as second:
                attempts = []
                def published() -> bool:
                    answer = post(client, cfg)
                    attempts.append(answer.json().get("status"))
                    return answer.json().get("status") == "published"

                # the delivery timeout (30 s) bounds the recovery
                wait_for(published, 60, "a webhook published after the restart", every=0.5)
                wait_for(lambda: during.json()["id"] in ids(second, topic), 20, "the spool to drain")
                after = read_topic(second.bootstrap, topic)

    ids_after = [envelope(r.value).id for r in after]
    assert before.json()["id"] not in ids_after  # the first broker's records died with it
    assert len(ids_after) == len(set(ids_after))  # nothing twice
    print(f"restart: {len(attempts)} attempt(s) until published: {attempts}")


def ids(broker: Broker | Cluster, topic: str) -> list[str]:
    return [envelope(r.value).id for r in read_topic(broker.bootstrap, topic, idle_secs=0.3)]


def test_start_up_without_a_broker_then_one_appears(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path / "state", f"127.0.0.1:{port}", prefix())
    with TestClient(create_app(cfg)) as client:  # returns: start-up does not wait for Kafka
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.json()["kafka"] == "unreachable", ready.text
        with own_broker(tmp_path, port=port) as broker:
            wait_for(lambda: kafka_reachable(client), 30, "/readyz to report kafka reachable")
            assert client.get("/readyz").status_code == 200
            answer = post(client, cfg, "tlas")
            assert answer.json()["status"] == "published", answer.text
            records = read_topic(broker.bootstrap, f"{cfg.kafka.topic_prefix}.tlas")
    assert [envelope(r.value).id for r in records] == [answer.json()["id"]]


def test_a_pending_publish_never_blocks_the_event_loop(tmp_path: Path) -> None:
    """With the broker frozen (SIGSTOP: connections open, nothing answered), a webhook waits for
    its ack; meanwhile /healthz, served by the same event loop, must answer. The webhook goes to a
    topic the producer has no metadata for, so kafka-python's send() itself blocks (max_block_ms):
    it must be on a thread of its own, not on the loop."""
    with own_broker(tmp_path) as broker:
        cfg = config(tmp_path / "state", broker.bootstrap, prefix(), ack_timeout_ms=60_000)
        with running(cfg) as client:
            assert post(client, cfg, "tlas").json()["status"] == "published"
            pid = broker.pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            try:
                finished = threading.Event()
                result: dict[str, Any] = {}

                def webhook() -> None:
                    result["answer"] = post(client, cfg, "iof")  # a topic not used before
                    finished.set()

                thread = threading.Thread(target=webhook)
                thread.start()
                wait_for(lambda: client.app.state.pipeline._inflight, 10, "the webhook to be pending")
                health = client.get("/healthz")
                assert health.status_code == 200
                assert not finished.is_set()  # /healthz answered while the webhook was pending
            finally:
                os.kill(pid, signal.SIGCONT)
            thread.join(60)
            assert result["answer"].status_code in (200, 202), result["answer"].text
