from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.dev.broker import Broker
from tests.kafka import apache, brokers


def pytest_report_header(config: pytest.Config) -> str:
    if brokers.kind() == "apache":
        return f"broker: Apache Kafka {apache.VERSION} (KRaft, jars in {apache.jars_dir()})"
    return (f"broker: Tansu, embedded in memory (Apache Kafka unavailable: {brokers.why_not_apache()}; "
            f"{brokers.ENV}={brokers.kind()})")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker | apache.Cluster]:
    """One real broker for the whole run: Apache Kafka (one KRaft node) where Java is installed,
    else Tansu (tests.kafka.brokers). A failure to start Apache Kafka fails the tests using it."""
    with brokers.make(Path(tmp_path_factory.mktemp("broker"))) as running:
        yield running


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "apache_kafka: needs Apache Kafka itself (faults only a real broker has)")
