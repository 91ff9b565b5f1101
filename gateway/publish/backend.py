"""Which publisher a configuration asks for: in a worker, the host's publisher process when
`serve` started one (gateway.publish.process_publisher), else a producer of its own; in the
publisher process, the producer (`kafka.client`) that process runs (gateway.publish.process)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gateway.publish.process_publisher import EAGER_WRITES, ProcessPublisher

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.publish import Backend, Publisher


SOCKET_ENV = "WEBHOOK_GATEWAY_PUBLISHER_SOCKET"  # set by `serve` when a publisher process runs


def worker_publisher(config: Config) -> Publisher:
    """A worker's publisher: the host's publisher process when `serve` started one."""
    socket = os.environ.get(SOCKET_ENV)
    if socket:
        return ProcessPublisher(socket, eager=EAGER_WRITES[config.kafka.client])
    return kafka_publisher(config)


def kafka_publisher(config: Config, defaults: dict[str, Any] | None = None) -> Backend:
    """The configured producer backend; kafka-python unless told otherwise. `defaults`: producer
    options that apply unless the configuration sets them. Each client is imported only when
    chosen: confluent-kafka is optional, and neither is needed by the other."""
    if config.kafka.client == "confluent-kafka":
        from gateway.publish.confluent import ConfluentPublisher as Backend
    else:
        from gateway.publish.kafka import KafkaPublisher as Backend  # type: ignore[assignment]
    options = {**(defaults or {}), **config.kafka.producer_options}
    return Backend(config.kafka.bootstrap_servers, options, max_record_bytes=max_record_bytes(config),
                   ack_timeout_secs=config.kafka.ack_timeout_ms / 1000)


def max_record_bytes(config: Config) -> int:
    """A dead letter carries the body base64-encoded (4/3 larger) plus its fields."""
    largest = max(s.max_body_bytes for s in config.sources.values())
    return max(1_048_576, largest * 4 // 3 + 64 * 1024)
