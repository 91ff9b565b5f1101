from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.dev.broker import Broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One real Tansu broker for the whole run (memory storage, free loopback port)."""
    log = Path(tmp_path_factory.mktemp("broker")) / "broker.log"
    with Broker(log_path=log) as running:
        yield running
