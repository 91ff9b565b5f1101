"""Creating and listing topics with kafka-python's admin client (the `topics` command, tests)."""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient
from kafka import errors as kafka_errors
from kafka.admin import NewTopic

from gateway.publish import Unavailable, kafka_compat

ADMIN_OPTIONS = frozenset(KafkaAdminClient.DEFAULT_CONFIG)
_TOPIC_EXISTS = kafka_errors.TopicAlreadyExistsError.errno


class TopicAdmin:
    """Create and list topics. Security options (security_protocol, sasl_*, ssl_*) come from the
    config's producer options, so `topics create` reaches the cluster the gateway publishes to.
    Every kafka-python error surfaces as Unavailable naming the operation."""

    def __init__(self, bootstrap_servers: list[str], options: dict[str, Any] | None = None) -> None:
        kafka_compat.install()
        extra = {"bootstrap_timeout_ms": 10_000, "request_timeout_ms": 30_000}
        extra.update({k: v for k, v in (options or {}).items() if k in ADMIN_OPTIONS})
        try:
            self._admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, **extra)
        except kafka_errors.KafkaError as exc:
            raise Unavailable(f"connecting to kafka {','.join(bootstrap_servers)}: "
                              f"{type(exc).__name__}") from None
    def __enter__(self) -> TopicAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self._admin.close()

    def broker_count(self) -> int:
        try:
            return len(self._admin.describe_cluster()["brokers"])
        except kafka_errors.KafkaError as exc:
            raise Unavailable(f"describing the kafka cluster: {type(exc).__name__}") from None

    def partitions(self) -> dict[str, int]:
        """Existing topic -> its partition count (internal topics left out)."""
        try:
            names = [t for t in self._admin.list_topics() if not t.startswith("__")]
            described = self._admin.describe_topics(names) if names else []
        except kafka_errors.KafkaError as exc:
            raise Unavailable(f"listing topics: {type(exc).__name__}") from None
        return {t["name"]: len(t["partitions"]) for t in described if t["error_code"] == 0}

    def create(self, name: str, partitions: int, replication_factor: int,
               configs: dict[str, str]) -> bool:
        """Create one topic; False when it exists already (created meanwhile by someone else)."""
        topic = NewTopic(name, partitions, replication_factor, topic_configs=configs)
        try:
            answer = self._admin.create_topics([topic], raise_errors=False)
        except kafka_errors.TopicAlreadyExistsError:  # some brokers (Tansu) raise regardless
            return False
        except kafka_errors.KafkaError as exc:
            raise Unavailable(f"creating topic {name}: {type(exc).__name__}") from None
        for result in answer["topics"]:
            if result["error_code"] == _TOPIC_EXISTS:
                return False
            if result["error_code"] != 0:
                error = kafka_errors.for_code(result["error_code"]).__name__
                detail = f": {result['error_message']}" if result.get("error_message") else ""
                raise Unavailable(f"creating topic {name}: {error}{detail}")
        return True
