"""The private parts of kafka-python the gateway touches (gateway.publish.kafka_compat): present in
the pinned version, named in one clear error when they are not, and patched only when a client is
built, never on import."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kafka
import pytest
from kafka import KafkaProducer
from kafka.net.inet import KafkaNetSocket
from kafka.producer.sender import Sender

from gateway.publish import kafka_compat
from gateway.publish.kafka_compat import KAFKA_PYTHON_CHECKED, KafkaCompatError

ROOT = Path(__file__).resolve().parents[2]


def test_the_pinned_kafka_python_is_the_one_checked_and_has_everything() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"kafka-python=={KAFKA_PYTHON_CHECKED}" in pins
    assert kafka.__version__ == KAFKA_PYTHON_CHECKED
    assert kafka_compat.missing() == []
    kafka_compat.check()  # does not raise


def test_a_missing_method_fails_naming_it_and_both_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka, "__version__", "9.9.9")
    monkeypatch.delattr(Sender, "force_close")
    with pytest.raises(KafkaCompatError) as raised:
        kafka_compat.check()
    message = str(raised.value)
    assert "kafka-python 9.9.9 is installed" in message
    assert f"checked against {KAFKA_PYTHON_CHECKED}" in message
    assert "kafka.producer.sender.Sender.force_close()" in message
    assert "gateway/publish/kafka_compat.py" in message


def test_a_producer_that_no_longer_sets_an_attribute_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def constructor(self: Any, **configs: Any) -> None:  # sets _sender only
        self._sender = None

    monkeypatch.setattr(KafkaProducer, "__init__", constructor)
    assert kafka_compat.missing() == ["KafkaProducer._metadata (set by its constructor)",
                                      "KafkaProducer._transaction_manager (set by its constructor)"]
    with pytest.raises(KafkaCompatError, match=re.escape("KafkaProducer._metadata")):
        kafka_compat.install()


def test_a_socket_connect_of_another_shape_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def sock_connect(self: Any, sock: Any, address: Any) -> None:  # no longer a coroutine
        return None

    monkeypatch.setattr(KafkaNetSocket, "sock_connect", sock_connect)
    assert kafka_compat.missing() == [
        "kafka.net.inet.KafkaNetSocket.sock_connect(self, net, sock, sockaddr, ...), a coroutine"]


def test_importing_the_kafka_modules_patches_nothing() -> None:
    """`check-config` imports the producer module: it must leave kafka-python as installed."""
    code = ("import gateway.commands.check_config, gateway.publish.kafka, "
            "gateway.publish.kafka_admin, gateway.publish.kafka_consumer\n"
            "from kafka.net.inet import KafkaNetSocket\n"
            "print(hasattr(KafkaNetSocket.sock_connect, '__wrapped__'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


class Socket:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_failed_connect_closes_its_socket_and_a_good_one_keeps_it() -> None:
    async def refused(self: Any, net: Any, sock: Any, sockaddr: Any, **kwargs: Any) -> Any:
        raise kafka.errors.KafkaConnectionError("111 ECONNREFUSED")

    async def accepted(self: Any, net: Any, sock: Any, sockaddr: Any, **kwargs: Any) -> Any:
        return sock

    bad, good = Socket(), Socket()
    with pytest.raises(kafka.errors.KafkaConnectionError):
        asyncio.run(kafka_compat._closing_on_failure(refused)(None, None, bad, ("h", 1)))
    assert bad.closed
    assert asyncio.run(kafka_compat._closing_on_failure(accepted)(None, None, good, ("h", 1))) is good
    assert not good.closed


def test_install_wraps_the_connect_once(monkeypatch: pytest.MonkeyPatch) -> None:
    original = KafkaNetSocket.sock_connect
    original = getattr(original, "__wrapped__", original)
    monkeypatch.setattr(KafkaNetSocket, "sock_connect", original)
    kafka_compat.install()
    kafka_compat.install()
    assert KafkaNetSocket.sock_connect.__wrapped__ is original
