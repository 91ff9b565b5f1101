"""Which broker the suite runs on: Apache Kafka where it can be had, the embedded Tansu otherwise.

`WEBHOOK_GATEWAY_TEST_BROKER` chooses: `apache` (required: failing to fetch or start it fails the
run; .ci/run sets this), `tansu`, or unset/`auto`: Apache Kafka when Java is installed (and Maven,
or the version is already cached), else Tansu. With Java present, `auto` never falls back: a
broken fetch or start fails the run rather than silently testing less.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.dev.broker import Broker
from tests.kafka import apache

ENV = "WEBHOOK_GATEWAY_TEST_BROKER"


def kind() -> str:
    wanted = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if wanted not in ("auto", "apache", "tansu"):
        raise ValueError(f"{ENV}={wanted!r}: expected apache, tansu or auto")
    if wanted == "auto":
        return "apache" if apache.available() is None else "tansu"
    return wanted


def why_not_apache() -> str | None:
    return apache.available()


def describe(broker: object) -> str:
    return broker.name if isinstance(broker, apache.Cluster) else "Tansu (embedded, in memory)"


def make(log_dir: Path, port: int | None = None, advertised_port: int | None = None) -> Broker | apache.Cluster:
    """A broker of the run's kind, not started: `with make(dir) as broker: broker.bootstrap`."""
    if kind() == "apache":
        cluster = apache.Cluster(1, log_dir=log_dir,
                                 advertised_ports=[advertised_port] if advertised_port else None)
        if port is not None:
            cluster.nodes[0].port = port
            if advertised_port is None:
                cluster.nodes[0].advertised_port = port
        return cluster
    return Broker(port=port, log_path=log_dir / "broker.log", advertised_port=advertised_port)
