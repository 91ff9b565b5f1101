"""Every private part of kafka-python the gateway touches, and the check that the installed
kafka-python still has each of them.

kafka-python is pinned exactly (pyproject.toml); these were read in its 3.0.12 source, and none
has a public equivalent there:

- `KafkaNetSocket.sock_connect` (kafka/net/inet.py) raises out of a refused or timed-out connect
  without closing the socket it opened: every reconnect attempt to a down broker leaves one to the
  garbage collector (a ResourceWarning each, and a descriptor held as long as the error is).
  `install()` wraps it to close that socket. It runs when a client is built (a publisher starts,
  `follow`, `TopicAdmin`), never on import: `check-config` imports the producer module and must
  change nothing.
- `KafkaProducer._transaction_manager.has_fatal_error()`: whether the idempotent producer has
  failed for good (its producer id lost) and must be replaced; the error a record fails with does
  not always say so, and the producer has no public state.
- `KafkaProducer._metadata.partitions_for_topic()`: whether the producer has a topic's
  partitions cached, so that send() returns at once and may run on the event loop (its public
  `partitions_for()` blocks, up to `max_block_ms`, to fetch what is missing). Sending there instead
  of through the sender thread saves the publisher process 15-20 µs per record
  (docs/benchmarks.md).
- `KafkaProducer._sender.force_close()`: `close(timeout)` flushes first and, when records are still
  pending at the timeout, raises and leaves the producer running, delivering them later behind the
  back of callers told they failed. Force-closing its sender fails every pending record instead.

`check()` runs before any of these is used and fails with one message naming what is missing.
Where a public API does the job it is used instead: `partitions_for()` to learn a topic's
partitions while connecting, `flush(timeout)` and `close(timeout)` to close.
"""

from __future__ import annotations

import inspect
import logging
import threading
from typing import Any

import kafka
from kafka import KafkaProducer
from kafka.cluster import ClusterMetadata
from kafka.net.inet import KafkaNetSocket
from kafka.producer.sender import Sender
from kafka.producer.transaction_manager import TransactionManager

from gateway.errors import GatewayError

log = logging.getLogger("gateway.kafka")

KAFKA_PYTHON_CHECKED = "3.0.12"  # the version these were read in, and pyproject.toml's pin
_SOCK_CONNECT_PARAMS = ["self", "net", "sock", "sockaddr"]
_install_lock = threading.Lock()


class KafkaCompatError(GatewayError, RuntimeError):
    """The installed kafka-python lacks a private part the gateway relies on."""


def missing() -> list[str]:
    """What this module touches and the installed kafka-python does not have."""
    gaps = []
    connect = getattr(KafkaNetSocket, "sock_connect", None)
    connect = getattr(connect, "__wrapped__", connect)  # already wrapped by install()
    if not inspect.iscoroutinefunction(connect) or \
            list(inspect.signature(connect).parameters)[:4] != _SOCK_CONNECT_PARAMS:
        gaps.append("kafka.net.inet.KafkaNetSocket.sock_connect(self, net, sock, sockaddr, ...), "
                    "a coroutine")
    # The producer's parts are instance attributes: its constructor must still assign them.
    assigned = KafkaProducer.__init__.__code__.co_names
    gaps += [f"KafkaProducer.{name} (set by its constructor)"
             for name in ("_metadata", "_sender", "_transaction_manager") if name not in assigned]
    for owner, name in ((Sender, "force_close"), (Sender, "join"),
                        (TransactionManager, "has_fatal_error"),
                        (ClusterMetadata, "partitions_for_topic")):
        if not callable(getattr(owner, name, None)):
            gaps.append(f"{owner.__module__}.{owner.__name__}.{name}()")
    return gaps


def check() -> None:
    """Raise KafkaCompatError, naming every gap, unless all this module touches is there."""
    gaps = missing()
    if gaps:
        raise KafkaCompatError(
            f"kafka-python {kafka.__version__} is installed, but the gateway was checked against "
            f"{KAFKA_PYTHON_CHECKED} (pyproject.toml pins it) and relies on parts it lacks: "
            + "; ".join(gaps) + " (see gateway/publish/kafka_compat.py)")


def install() -> None:
    """check(), then close the socket of a failed connect. Idempotent, from any thread."""
    check()
    with _install_lock:
        if not hasattr(KafkaNetSocket.sock_connect, "__wrapped__"):
            KafkaNetSocket.sock_connect = _closing_on_failure(KafkaNetSocket.sock_connect)


def _closing_on_failure(connect: Any) -> Any:
    async def sock_connect(self: Any, net: Any, sock: Any, sockaddr: Any, **kwargs: Any) -> Any:
        try:
            return await connect(self, net, sock, sockaddr, **kwargs)
        except BaseException:
            sock.close()
            raise

    sock_connect.__wrapped__ = connect  # type: ignore[attr-defined]
    return sock_connect


def has_metadata(producer: KafkaProducer, topic: str) -> bool:
    """Whether send() to `topic` returns at once: its partitions are cached."""
    return producer._metadata.partitions_for_topic(topic) is not None


def has_fatal_error(producer: KafkaProducer) -> bool:
    """Whether the producer's idempotence state failed for good (it must be replaced)."""
    manager = producer._transaction_manager  # None unless idempotent or transactional
    return bool(manager is not None and manager.has_fatal_error())


def close(producer: KafkaProducer, timeout: float) -> None:
    """Flush for at most `timeout`, then close for good. kafka-python's own close(timeout) raises
    when records are still pending and leaves the producer running, delivering them later behind
    the back of callers that were told they failed: force its sender closed first, which fails
    every pending record (each caller hears Unavailable)."""
    try:
        producer.flush(timeout=timeout)
    except Exception:  # noqa: BLE001 - what is not flushed stays unacknowledged: never a lie
        sender = producer._sender
        sender.force_close()
        sender.join(max(timeout, 1.0))
    try:
        producer.close(timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        log.warning("closing the kafka producer: %s", type(exc).__name__)
