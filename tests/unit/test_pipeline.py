"""The pipeline's decisions without HTTP or a server: the in-memory publisher holds, fails and
late-acks records as a broker can, and the store is a real one in a temporary directory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit import Auditor, RequestInfo
from gateway.commands.send import build
from gateway.config import Config, parse_config
from gateway.errors import Outcome, Reason
from gateway.headers import Headers
from gateway.outcome import Result
from gateway.pipeline import Pipeline
from gateway.publish import Ack
from gateway.publish.memory import MemoryPublisher
from gateway.store import Store
from tests.helpers import config_dict

ACK_TIMEOUT_MS = 200


@pytest.fixture
def config(tmp_path: Path) -> Config:
    data = config_dict(tmp_path / "var")
    data["kafka"]["ack_timeout_ms"] = ACK_TIMEOUT_MS
    return parse_config(data)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "gateway.db").open()
    yield opened
    opened.close()


def pipeline_for(config: Config, store: Store, publisher: MemoryPublisher) -> Pipeline:
    return Pipeline(config, publisher, Auditor("webhooks.rejected", publisher, b"salt", frozenset()),
                    store)


def delivery(config: Config, event: str = "kyc.verified") -> tuple[RequestInfo, bytes]:
    body, headers = build(config, "iof", event, time.time())
    return RequestInfo("POST", "/webhooks/iof", "192.0.2.1", Headers(headers)), body


def test_an_ack_within_the_timeout_is_published(config: Config, store: Store) -> None:
    publisher = MemoryPublisher()
    request, body = delivery(config)
    result = asyncio.run(pipeline_for(config, store, publisher).handle("iof", request, body))
    assert (result.outcome, result.provider) == (Outcome.PUBLISHED, "iof")
    assert result.publish_secs is not None and len(publisher.on("webhooks.iof")) == 1


def test_an_ack_after_the_timeout_keeps_a_held_copy_that_the_ack_removes(
        config: Config, store: Store) -> None:
    """Answered 202 spooled at the timeout; the copy is held from the drainer; the late ack
    removes it, so the event is in Kafka once."""
    publisher = MemoryPublisher()
    publisher.hold()
    request, body = delivery(config)

    async def run() -> tuple[Result, int, int]:
        result = await pipeline_for(config, store, publisher).handle("iof", request, body)
        held = len(store.batch(10))  # held: not drainable yet
        publisher.ack_held()
        await _until(lambda: store.depth()[0] == 0)
        return result, held, len(publisher.records)

    result, drainable, published = asyncio.run(run())
    assert result.outcome is Outcome.SPOOLED
    assert (drainable, published, store.depth()[0]) == (0, 1, 0)


def test_a_failure_after_the_timeout_releases_the_copy_to_the_drainer(
        config: Config, store: Store) -> None:
    publisher = MemoryPublisher()
    publisher.hold()
    request, body = delivery(config)

    async def run() -> Result:
        result = await pipeline_for(config, store, publisher).handle("iof", request, body)
        publisher.fail_held()
        await _until(lambda: len(store.batch(10)) == 1)
        return result

    assert asyncio.run(run()).outcome is Outcome.SPOOLED
    assert publisher.records == [] and store.depth()[0] == 1


def test_while_the_first_connection_is_made_an_event_waits_for_it(
        config: Config, store: Store) -> None:
    publisher = MemoryPublisher(connecting=True)
    request, body = delivery(config)

    async def run() -> Result:
        pipeline = pipeline_for(config, store, publisher)
        handling = asyncio.create_task(pipeline.handle("iof", request, body))
        await asyncio.sleep(0)  # it is waiting now, not spooling
        assert not handling.done()
        publisher.connected_now()
        return await handling

    assert asyncio.run(run()).outcome is Outcome.PUBLISHED
    assert store.depth()[0] == 0


def test_a_first_connection_that_does_not_come_in_time_spools(config: Config, store: Store) -> None:
    publisher = MemoryPublisher(connecting=True)
    request, body = delivery(config)
    result = asyncio.run(pipeline_for(config, store, publisher).handle("iof", request, body))
    assert result.outcome is Outcome.SPOOLED and store.depth()[0] == 1


def test_once_events_are_spooled_later_ones_queue_behind_them(config: Config, store: Store) -> None:
    """Per-key order: with the spool not empty, a new event is spooled although Kafka is back."""
    publisher = MemoryPublisher()
    pipeline = pipeline_for(config, store, publisher)

    async def run() -> list[Outcome]:
        publisher.available = False
        first = await pipeline.handle("iof", *delivery(config, "kyc.verified"))
        publisher.available = True
        second = await pipeline.handle("iof", *delivery(config, "contract.created"))
        return [first.outcome, second.outcome]

    assert asyncio.run(run()) == [Outcome.SPOOLED, Outcome.SPOOLED]
    assert publisher.records == [] and store.depth()[0] == 2


def test_a_copy_acknowledged_on_another_worker_is_a_duplicate(config: Config, store: Store) -> None:
    publisher = MemoryPublisher()
    request, body = delivery(config)
    event_id = parse_id(body)
    publisher.already_published[("iof", event_id)] = Ack("webhooks.iof", 0, 41)
    result = asyncio.run(pipeline_for(config, store, publisher).handle("iof", request, body))
    assert (result.outcome, result.id) == (Outcome.DUPLICATE, event_id)
    assert publisher.records == [] and store.depth()[0] == 0


def test_copies_in_one_worker_wait_for_the_first_even_when_it_fails(
        config: Config, store: Store) -> None:
    """Eight copies while Kafka takes them and then fails them: one is spooled, seven are
    duplicates, and none waits on another's place (no error, whatever order they wake in)."""
    publisher = MemoryPublisher()
    publisher.hold()
    pipeline = pipeline_for(config, store, publisher)
    request, body = delivery(config)

    async def run() -> list[str]:
        copies = [asyncio.create_task(pipeline.handle("iof", request, body)) for _ in range(8)]
        await _until(lambda: len(publisher.held) == 1)
        publisher.fail_held()
        return sorted(r.outcome.value for r in await asyncio.gather(*copies))

    assert asyncio.run(run()) == ["duplicate"] * 7 + ["spooled"]
    assert store.depth()[0] == 1


def test_failures_past_the_address_budget_are_429_and_audited_in_aggregate(
        tmp_path: Path, store: Store) -> None:
    data = config_dict(tmp_path / "var")
    data["limits"] = {"failed_auth": {"rate_per_sec": 0.001, "burst": 2}}
    config = parse_config(data)
    publisher = MemoryPublisher()
    pipeline = pipeline_for(config, store, publisher)
    request, body = delivery(config)
    forged = RequestInfo("POST", "/webhooks/iof", "192.0.2.9", Headers({"X-IOF-Signature": "00"}))

    async def run() -> list[Result]:
        results = [await pipeline.handle("iof", forged, body) for _ in range(5)]
        results.append(await pipeline.handle("iof", request, body))  # its valid event still passes
        return results

    results = asyncio.run(run())
    assert [(r.outcome, r.reason) for r in results[:5]] == (
        [(Outcome.REJECTED, Reason.INVALID_SIGNATURE)] * 2 + [(Outcome.REJECTED, Reason.RATE_LIMITED)] * 3)
    assert results[5].outcome is Outcome.PUBLISHED  # another address, though: see the next test
    counts = pipeline.auditor.counts
    assert counts[("iof", "invalid_signature")] == 2 and counts[("iof", "rate_limited")] == 1


def test_a_penalised_address_still_gets_its_valid_events_through(tmp_path: Path, store: Store) -> None:
    """A provider sharing an address with an attacker (a NAT): verified all the same."""
    data = config_dict(tmp_path / "var")
    data["limits"] = {"failed_auth": {"rate_per_sec": 0.001, "burst": 1}}
    config = parse_config(data)
    pipeline = pipeline_for(config, store, MemoryPublisher())
    request, body = delivery(config)
    forged = RequestInfo("POST", "/webhooks/iof", "192.0.2.1", Headers({"X-IOF-Signature": "00"}))

    async def run() -> list[Outcome]:
        for _ in range(5):
            await pipeline.handle("iof", forged, body)
        return [(await pipeline.handle("iof", request, body)).outcome]

    assert asyncio.run(run()) == [Outcome.PUBLISHED]


def parse_id(body: bytes) -> str:
    import json

    return str(json.loads(body)["id"])


async def _until(condition, timeout: float = 5.0) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the store")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(("action", "outcome", "published"), [
    ("record", Outcome.DUPLICATE, 1), ("reject", Outcome.REJECTED, 1), ("publish", Outcome.PUBLISHED, 2)])
def test_the_same_id_with_another_body_is_an_id_conflict(
        tmp_path: Path, store: Store, action: str, outcome: Outcome, published: int) -> None:
    """Audited with both bodies' hashes (never the bodies), counted, answered per the source's
    `on_id_conflict`; a byte-identical retry stays a plain duplicate."""
    import hashlib
    import json

    from gateway.metrics import Metrics

    data = config_dict(tmp_path / "var")
    data["sources"]["iof"]["on_id_conflict"] = action
    config = parse_config(data)
    publisher = MemoryPublisher()
    metrics = Metrics(config.sources)
    pipeline = Pipeline(config, publisher, Auditor("t", publisher, b"salt", frozenset()), store,
                        metrics=metrics)
    first, body = delivery(config)
    altered = json.dumps({**json.loads(body), "amount": "9999"}).encode()
    from gateway.providers import REGISTRY

    headers = REGISTRY["iof"].sign(config.sources["iof"], altered, time.time())  # signed too
    forged = RequestInfo("POST", "/webhooks/iof", "192.0.2.1", Headers(headers))
    records: list[dict[str, object]] = []
    pipeline.auditor.record = _capture(pipeline.auditor.record, records)  # type: ignore[method-assign]

    async def run() -> list[Result]:
        original = await pipeline.handle("iof", first, body)
        await store.flush()  # the mark (with its body hash) is committed
        return [original, await pipeline.handle("iof", first, body),
                await pipeline.handle("iof", forged, altered)]

    original, retry, conflict = asyncio.run(run())
    assert (original.outcome, retry.outcome, conflict.outcome) == (Outcome.PUBLISHED, Outcome.DUPLICATE, outcome)
    assert len(publisher.on("webhooks.iof")) == published
    assert [(r["reason"], r["body_sha256"], r["accepted_body_sha256"]) for r in records] == [
        ("id_conflict", hashlib.sha256(altered).hexdigest(), hashlib.sha256(body).hexdigest())]
    assert metrics.id_conflicts.labels("iof", action)._value.get() == 1
    if action == "publish":
        assert conflict.id == hashlib.sha256(altered).hexdigest()


def _capture(record, into):  # noqa: ANN001, ANN202
    def capturing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        written = record(*args, **kwargs)
        into.append({"reason": written.reason, "body_sha256": written.body_sha256,
                     "accepted_body_sha256": written.accepted_body_sha256})
        return written
    return capturing


def test_the_secret_that_matched_is_kept_in_the_event_history(tmp_path: Path, store: Store) -> None:
    """Rotation you can watch, event by event: which position in `secrets:` authenticated it."""
    from gateway import history
    from gateway.providers import REGISTRY

    data = config_dict(tmp_path / "var")
    new, old = "whsec_the_new_one_0123456789", data["sources"]["iof"]["secrets"][0]
    data["sources"]["iof"]["secrets"] = [new, old]
    config = parse_config(data)
    pipeline = pipeline_for(config, store, MemoryPublisher())
    signed_old = parse_config(config_dict(tmp_path / "other")).sources["iof"]  # secrets: [old, ...]

    async def run() -> list[tuple[str, int | None]]:
        for cfg in (signed_old, config.sources["iof"]):  # the old secret first, then the new one
            body = REGISTRY["iof"].samples["kyc.verified"](time.time())
            headers = REGISTRY["iof"].sign(cfg, body, time.time())
            await pipeline.handle("iof", RequestInfo("POST", "/webhooks/iof", "192.0.2.1",
                                                     Headers(headers)), body)
        await store.flush()
        events = history.select(store.reader(), history.Filter(), 10)
        return [(e.status, e.secret_slot) for e in reversed(events)]

    assert asyncio.run(run()) == [("published", 1), ("published", 0)]
