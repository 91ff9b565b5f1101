"""Audit records, the local rotating log and its shipper (against the in-memory publisher; the
real broker is in tests/integration/test_security.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from gateway.audit import Auditor, RequestInfo, install_salt
from gateway.auditlog import AuditLog, Shipper, read_records
from gateway.errors import Reason
from gateway.headers import Headers
from gateway.publish.memory import MemoryPublisher

TOPIC = "webhooks.rejected"


def request(headers: dict[str, str]) -> RequestInfo:
    return RequestInfo("POST", "/webhooks/iof", "192.0.2.1", Headers(headers))


def test_credentials_are_fingerprinted_whatever_header_they_arrive_in(tmp_path: Path) -> None:
    auditor = Auditor(TOPIC, MemoryPublisher(), install_salt(tmp_path), frozenset({"x-iof-signature"}),
                      secrets=[b"globex-key-value"])
    record = auditor.build(request({
        "X-IOF-Signature": "t=1,v1=abc",
        "Authorization": "Basic YWNtZTpwdw==",
        "X-API-Key": "globex-key-value",  # the key, in a header this source was not told about
        "X-Forwarded": "prefix globex-key-value suffix",  # a secret anywhere in any value
        "User-Agent": "curl/8",
    }), Reason.INVALID_SIGNATURE, "iof", "iof", b"{}", 2)
    headers = record.headers
    for name in ("x-iof-signature", "authorization", "x-api-key", "x-forwarded"):
        assert headers[name].startswith("fp:") and len(headers[name]) == 11, name
    assert headers["user-agent"] == "curl/8" == record.user_agent
    assert b"globex-key-value" not in msgspec.json.encode(record)
    # The same value fingerprints the same (attacks correlate), under one install's salt.
    again = auditor.build(request({"X-IOF-Signature": "t=1,v1=abc"}), Reason.INVALID_SIGNATURE,
                          "iof", "iof", b"", 0)
    assert again.headers["x-iof-signature"] == headers["x-iof-signature"]
    assert install_salt(tmp_path) == install_salt(tmp_path)


def test_records_stay_small_whatever_is_sent(tmp_path: Path) -> None:
    auditor = Auditor(TOPIC, MemoryPublisher(), b"salt", frozenset())
    huge = {f"X-H{i}": "v" * 10_000 for i in range(500)}
    record = auditor.build(RequestInfo("POST", "/webhooks/" + "a" * 10_000, None, Headers(huge)),
                           Reason.UNKNOWN_SOURCE, "a" * 10_000, None, b"", 0)
    assert len(msgspec.json.encode(record)) < 30_000


def lines(n: int, size: int = 100) -> list[bytes]:
    return [msgspec.json.encode({"source": "s", "n": i, "pad": "x" * size}) for i in range(n)]


def test_log_rotates_and_stays_bounded_counting_what_it_drops(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, segment_bytes=1000, max_segments=3)
    log.open()
    for line in lines(100):
        log.append(line)
    assert log.slot is not None
    assert len(list(log.slot.glob("*.jsonl"))) <= 4  # the bound (3) plus the one being written
    kept = list(read_records(tmp_path))
    assert 0 < len(kept) < 100
    assert msgspec.json.decode(kept[-1])["n"] == 99  # the newest are the ones kept
    assert log.dropped + len(kept) == 100  # never shipped and deleted: counted, not silent
    log.close()


def test_shipper_publishes_in_order_and_resumes_after_kafka_comes_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        publisher = MemoryPublisher()
        publisher.available = False
        log = AuditLog(tmp_path, segment_bytes=500)
        log.open()
        shipper = Shipper(log, publisher, TOPIC, timeout=0.1, retry_secs=0.01)
        shipper.start()
        for line in lines(20):
            log.append(line)
            shipper.wake()
        await asyncio.sleep(0.05)
        assert publisher.records == []  # down: everything waits on disk
        publisher.available = True
        for _ in range(500):
            if len(publisher.records) >= 20:
                break
            await asyncio.sleep(0.01)
        await shipper.stop()
        assert [msgspec.json.decode(r.value)["n"] for r in publisher.records] == list(range(20))
        assert {r.key for r in publisher.records} == {b"s"}
        log.close()

    asyncio.run(scenario())


def test_a_restarted_gateway_ships_what_the_previous_one_could_not(tmp_path: Path) -> None:
    first = AuditLog(tmp_path)
    first.open()
    for line in lines(5):
        first.append(line)
    first.close()  # stopped while Kafka was down

    async def restart() -> list[int]:
        publisher = MemoryPublisher()
        log = AuditLog(tmp_path)
        log.open()
        assert log.slot == first.slot  # the free slot, with its backlog, is claimed again
        await Shipper(log, publisher, TOPIC).ship_once()
        assert await Shipper(log, publisher, TOPIC).ship_once() == 0  # nothing twice
        log.close()
        return [msgspec.json.decode(r.value)["n"] for r in publisher.records]

    assert asyncio.run(restart()) == [0, 1, 2, 3, 4]


def test_two_workers_write_to_separate_slots(tmp_path: Path) -> None:
    a, b = AuditLog(tmp_path), AuditLog(tmp_path)
    a.open()
    b.open()
    assert a.slot != b.slot
    a.append(b'{"source":"a"}')
    b.append(b'{"source":"b"}')
    assert sorted(read_records(tmp_path)) == [b'{"source":"a"}', b'{"source":"b"}']
    a.close()
    b.close()


def test_a_torn_last_line_is_not_shipped_until_complete(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.open()
    log.append(b'{"source":"s","n":0}')
    assert log.slot is not None
    with (log.slot / "000000000001.jsonl").open("ab") as file:
        file.write(b'{"source":"s","n":1')  # a write in progress
    assert [line for _, line in log.pending(10)] == [b'{"source":"s","n":0}']
    log.close()


def test_auditor_counts_and_writes_before_answering(tmp_path: Path) -> None:
    async def scenario() -> None:
        auditor = Auditor(TOPIC, MemoryPublisher(), b"salt", frozenset(), auditlog=AuditLog(tmp_path))
        auditor.start()
        auditor.record(request({}), Reason.MISSING_SIGNATURE, "iof", "iof", b"{}", 2)
        auditor.record(request({}), Reason.MISSING_SIGNATURE, "iof", "iof", b"{}", 2)
        assert len(list(read_records(tmp_path))) == 2  # on disk before the 401 goes out
        assert auditor.counts[("iof", "missing_signature")] == 2
        await auditor.drain()
        assert auditor.shipper is not None and auditor.shipper.shipped == 2

    asyncio.run(scenario())


def test_config_objects_never_show_a_secret(tmp_path: Path) -> None:
    import traceback

    from gateway.config import parse_config
    from tests.helpers import SECRETS, config_dict

    data = config_dict(tmp_path)
    data["admin"] = {"token": "admin-token-never-shown"}
    config = parse_config(data)
    shown = [repr(config), str(config), repr(config.sources), repr(config.admin),
             *(s.model_dump_json() for s in config.sources.values())]
    try:
        raise RuntimeError(f"failing with {config.sources['iof']!r}")
    except RuntimeError:
        shown.append(traceback.format_exc())
    for text in shown:
        for secret in [*SECRETS.values(), "admin-token-never-shown"]:
            assert secret not in text
