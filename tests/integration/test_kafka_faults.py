"""Faults only a real broker has, on Apache Kafka (tests/kafka/apache.py), through a real `serve`.

- one broker SIGKILLed mid-stream and restarted on the same log directory;
- a three-node KRaft cluster (each node broker and controller), topics made by `topics create`
  (replication factor 3, min.insync.replicas 2): the partitions' leader SIGKILLed while webhooks
  flow, then a second broker stopped so that acks=all cannot be met, then both brought back.

Webhooks are sent by one thread per record key, each waiting for its answer before the next, so
the order of a key's answers is the order its events must have in Kafka.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from gateway.cli import main
from gateway.config import Config, parse_config
from gateway.envelope import DeadLetter, encode
from tests.helpers import GatewayProcess, config_dict, write_config
from tests.integration.running import readyz, signed, wait_for
from tests.kafka import brokers
from tests.kafka.apache import Cluster

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.apache_kafka,
    pytest.mark.skipif(brokers.kind() != "apache", reason="needs Apache Kafka (Java): tests/kafka/brokers.py"),
]

KEYS = [f"contract_{i}" for i in range(8)]


@dataclass
class Answer:
    key: str
    seq: int
    id: str
    status: int
    outcome: str
    secs: float


class Flow:
    """Signed IOF webhooks, one sender per key; `allow(n)` lets the first n answers through."""

    def __init__(self, url: str, cfg: Config, per_key: int, first_seq: int = 0) -> None:
        self.url, self.cfg, self.per_key, self.first_seq = url, cfg, per_key, first_seq
        self.answers: list[Answer] = []
        self.limit = 0
        self.changed = threading.Condition()
        self.threads = [threading.Thread(target=self._send, args=(key,), daemon=True) for key in KEYS]

    def allow(self, count: int) -> Flow:
        with self.changed:
            self.limit = count
            self.changed.notify_all()
        return self

    def start(self) -> Flow:
        for thread in self.threads:
            thread.start()
        return self

    def wait(self, count: int, what: str, timeout: float = 120) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.answers) >= count, timeout):
                raise AssertionError(f"timed out waiting for {what}: {len(self.answers)} of {count} answered")

    def join(self) -> list[Answer]:
        self.allow(len(KEYS) * self.per_key)
        for thread in self.threads:
            thread.join(300)
        assert len(self.answers) == len(KEYS) * self.per_key
        return self.answers

    def _send(self, key: str) -> None:
        with httpx.Client(timeout=60) as client:
            for seq in range(self.first_seq, self.first_seq + self.per_key):
                with self.changed:
                    self.changed.wait_for(lambda: self._started() < self.limit)
                    self._in_flight += 1
                event_id = f"evt_{uuid.uuid4().hex[:16]}"
                body = json.dumps({"id": event_id, "type": "contract.updated", "created": int(time.time()),
                                   "seq": seq, "data": {"object": {"id": key}}}).encode()
                began = time.monotonic()
                response = client.post(f"{self.url}/webhooks/iof", content=body,
                                       headers=signed(self.cfg, "iof", body))
                secs = time.monotonic() - began
                outcome = response.json().get("status", "") if response.status_code < 500 else ""
                with self.changed:
                    self._in_flight -= 1
                    self.answers.append(Answer(key, seq, event_id, response.status_code, outcome, secs))
                    self.changed.notify_all()

    _in_flight = 0

    def _started(self) -> int:
        return len(self.answers) + self._in_flight


def read_exactly(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of `topic` up to its end offsets (exact on Apache Kafka), in offset order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, group_id=None)
    try:
        found = wait_for(lambda: consumer.partitions_for_topic(topic), 30, f"the partitions of {topic}")
        parts = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        records: dict[int, list[dict[str, Any]]] = {p.partition: [] for p in parts}
        deadline = time.monotonic() + 60
        while any(consumer.position(p) < ends[p] for p in parts):
            assert time.monotonic() < deadline, f"reading {topic} did not reach its end offsets {ends}"
            for part, batch in consumer.poll(timeout_ms=500).items():
                records[part.partition] += [json.loads(r.value) for r in batch]
        return [r for p in sorted(records) for r in records[p]]
    finally:
        consumer.close()


def count(answers: list[Answer], records: list[dict[str, Any]]) -> dict[str, Any]:
    accepted = {a.id for a in answers if 200 <= a.status < 300}
    ids = [r["id"] for r in records]
    return {
        "sent": len(answers),
        "2xx": len(accepted),
        "200 published": sum(a.outcome == "published" for a in answers),
        "202 spooled": sum(a.outcome == "spooled" for a in answers),
        "5xx": sum(a.status >= 500 for a in answers),
        "records": len(ids),
        "lost": len(accepted - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "longest answer (s)": round(max(a.secs for a in answers), 2),
    }


def order_broken(records: list[dict[str, Any]]) -> list[str]:
    """Keys whose events are not in the order their answers came."""
    seqs: dict[str, list[int]] = {}
    for record in records:
        seqs.setdefault(record["subject"], []).append(record["data"]["seq"])
    return [key for key, values in seqs.items() if values != sorted(values)]


def gateway_for(root: Path, bootstrap: str, client: str = "kafka-python"
                ) -> tuple[GatewayProcess, Config, str]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    data = config_dict(root / "state", bootstrap, topic_prefix=prefix, ack_timeout_ms=1000,
                       client=client)
    data["kafka"]["bootstrap_servers"] = bootstrap.split(",")
    data["limits"] = {"rate_limit": {"per_client": None}}  # one client sends it all
    return GatewayProcess(write_config(root / "gateway.yaml", data)), parse_config(data), prefix


def drained(gateway: GatewayProcess) -> bool:
    state = readyz(gateway)
    return state["kafka"] == "reachable" and state["spool"]["depth"] == 0


def recreations(gateway: GatewayProcess) -> int:
    return len(re.findall(r"recreating the kafka producer", gateway.log.read_text()))


def test_a_broker_sigkilled_mid_stream_and_restarted_keeps_every_2xx_once(tmp_path: Path) -> None:
    with Cluster(1, log_dir=tmp_path) as kafka:
        node = kafka.nodes[0]
        gateway, cfg, prefix = gateway_for(tmp_path, kafka.bootstrap)
        gateway.start()
        try:
            wait_for(lambda: readyz(gateway)["kafka"] == "reachable", 30, "the gateway to connect")
            flow = Flow(gateway.url, cfg, per_key=50).allow(120).start()
            flow.wait(80, "webhooks before the kill")
            node.kill()  # mid-stream: requests are in flight
            flow.allow(240)
            flow.wait(200, "webhooks while the broker is down")
            node.launch()
            kafka.wait_ready()
            answers = flow.join()
            wait_for(lambda: drained(gateway), 120, "the spool to drain after the restart")
            after = Flow(gateway.url, cfg, per_key=1, first_seq=1000).start().join()
            recreated = recreations(gateway)
        finally:
            gateway.stop()
        records = read_exactly(kafka.bootstrap, f"{prefix}.iof")
    seen = count(answers + after, records)
    seen["producer recreated"] = recreated
    print(f"broker SIGKILL + restart ({kafka.name}): {seen}")
    assert seen["5xx"] == 0 and seen["2xx"] == seen["sent"], seen
    assert seen["lost"] == 0 and seen["duplicated"] == 0, seen
    assert seen["records"] == seen["2xx"], seen
    assert seen["202 spooled"] > 0, f"the kill went unnoticed: {seen}"
    assert {a.outcome for a in after} == {"published"}, f"publishing did not resume after the restart: {seen}"
    assert not order_broken(records), f"per-key order broken for {order_broken(records)}: {seen}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three KRaft nodes, each broker and controller, shared by this module's cluster tests."""
    with Cluster(3, log_dir=tmp_path_factory.mktemp("cluster")) as kafka:
        yield kafka


def describe(bootstrap: str, topics: list[str]) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        described = admin.describe_topics(topics)
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    finally:
        admin.close()
    settings = {name: {key: entry["value"] for key, entry in entries.items()}
                for name, entries in configs["topic"].items()}
    return described, settings


def test_topics_create_on_the_cluster_sets_partitions_replication_and_limits(
        cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gateway, cfg, prefix = gateway_for(tmp_path, cluster.bootstrap)
    command = ["topics", "create", "--config", str(gateway.config_path), "--partitions", "3",
               "--replication-factor", "3"]
    assert main(command) == 0
    first = capsys.readouterr().out
    names = [f"{prefix}.{t}" for t in ("iof", "compliancely", "tlas", "azakaw", "deadletter", "rejected")]
    wanted = dict.fromkeys(names, (3, [3]))

    def shaped() -> tuple[dict[str, Any], dict[str, dict[str, str]]] | None:
        # The node asked may learn a new topic's partitions a moment after the controller
        # created it: wait for that, not for a fixed time.
        described, settings = describe(cluster.bootstrap, names)
        shape = {t["name"]: (len(t["partitions"]), sorted({len(p["replica_nodes"]) for p in t["partitions"]}))
                 for t in described}
        return (shape, settings) if shape == wanted else None

    found = wait_for(shaped, 15, "every created topic's partitions in the cluster's metadata")
    shape, settings = found

    largest = max(s.max_body_bytes for s in cfg.sources.values())
    letter = encode(DeadLetter(id="0" * 64, at="2026-11-23T10:30:00.123Z", source="azakaw-globex",
                               provider="azakaw", reason="not_utf8", body_base64="A" * (4 * -(-largest // 3))))
    assert shape == wanted, f"{first}\n{shape}"
    for name in names:
        assert settings[name]["min.insync.replicas"] == "2", (name, settings[name])
        assert int(settings[name]["max.message.bytes"]) >= len(letter), (name, len(letter), settings[name])

    assert main(command) == 0
    assert "0 created, 6 already there" in capsys.readouterr().out
    again = describe(cluster.bootstrap, names)[0]
    assert shape == {t["name"]: (len(t["partitions"]), sorted({len(p["replica_nodes"]) for p in t["partitions"]}))
                     for t in again}


def leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> the node id leading it."""
    described, _ = describe(bootstrap, [topic])
    return {p["partition_index"]: p["leader_id"] for p in described[0]["partitions"]}


def in_sync(bootstrap: str, topic: str) -> dict[int, list[int]]:
    described, _ = describe(bootstrap, [topic])
    return {p["partition_index"]: sorted(p["isr_nodes"]) for p in described[0]["partitions"]}


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_leader_killed_then_too_few_replicas_every_2xx_once_in_order(
        cluster: Cluster, tmp_path: Path, client: str) -> None:
    """For both clients: the partition leader SIGKILLed under traffic, then a second broker
    stopped (under min.insync.replicas), then both back: every 2xx once, in per-key order."""
    gateway, cfg, prefix = gateway_for(tmp_path, cluster.bootstrap, client)
    topic = f"{prefix}.iof"
    assert main(["topics", "create", "--config", str(gateway.config_path), "--partitions", "3",
                 "--replication-factor", "3"]) == 0
    gateway.start()
    try:
        wait_for(lambda: readyz(gateway)["kafka"] == "reachable", 30, "the gateway to connect")
        # 1. The leader of the topic's partition 0 SIGKILLed while webhooks flow.
        leader = cluster.node(leaders(cluster.bootstrap, topic)[0])
        flow = Flow(gateway.url, cfg, per_key=40).allow(100).start()
        flow.wait(60, "webhooks before the leader is killed")
        leader.kill()
        failover = flow.join()
        wait_for(lambda: drained(gateway), 120, "the spool to drain after the leader change")
        live = [n for n in cluster.nodes if n.running]
        wait_for(lambda: all(leader.node_id not in isr for isr in in_sync(live[0].bootstrap, topic).values()),
                 60, "the killed leader to leave the in-sync replicas")
        after_failover = read_exactly(live[0].bootstrap, topic)

        # 2. A second broker stopped: one replica left in sync, under min.insync.replicas = 2.
        second = live[0]
        second.stop()
        short = Flow(gateway.url, cfg, per_key=5, first_seq=1000).start().join()

        # 3. Both back: the spool drains into the topic.
        leader.launch()
        second.launch()
        cluster.wait_ready()
        wait_for(lambda: drained(gateway), 120, "the spool to drain once the brokers are back")
        recreated = recreations(gateway)
        log = gateway.log.read_text()
    finally:
        gateway.stop()
    records = read_exactly(cluster.bootstrap, topic)

    seen = count(failover, after_failover)
    seen["producer recreated"] = recreated
    print(f"leader SIGKILL on {cluster.name} x3, {client}: {seen}")
    assert seen["5xx"] == 0 and seen["2xx"] == seen["sent"], seen
    assert seen["lost"] == 0 and seen["duplicated"] == 0 and seen["records"] == seen["2xx"], seen
    assert not order_broken(after_failover), f"per-key order broken for {order_broken(after_failover)}: {seen}"

    both = count(failover + short, records)
    refused = {name: log.count(name) for name in ("NotEnoughReplicas", "NOT_ENOUGH_REPLICAS", "Timeout")}
    outcomes = sorted({(a.status, a.outcome) for a in short})
    print(f"then {len(short)} webhooks with one replica in sync: {outcomes}; producer errors seen {refused}; "
          f"after the brokers returned: {both}")
    assert outcomes == [(202, "spooled")], f"with one replica in sync: {outcomes}, {both}"
    assert both["lost"] == 0 and both["duplicated"] == 0 and both["records"] == both["2xx"], both
    assert not order_broken(records), f"per-key order broken after draining for {order_broken(records)}: {both}"
