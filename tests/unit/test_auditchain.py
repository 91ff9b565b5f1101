"""The audit log's hash chains and signed checkpoints (gateway.auditchain), and the verifier's
verdict on a log tampered with in each way (gateway.auditverify)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import msgspec
import pytest

from gateway.auditchain import (
    GENESIS,
    Chain,
    Key,
    generate_pem,
    key_from_secret,
    public_key_from_pem,
)
from gateway.auditlog import AuditLog, read_records
from gateway.auditquery import Query, select
from gateway.auditverify import Report, compare, read_local, read_topic, verify

PRIVATE, PUBLIC = generate_pem()
KEY = key_from_secret(PRIVATE)
PUBLIC_KEY = public_key_from_pem(PUBLIC)  # what an auditor has
SEGMENT = "000000000001.jsonl"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def write(root: Path, count: int, key: Key | None = KEY, every: int = 4, start: int = 0) -> AuditLog:
    """`count` records through a chained log, a checkpoint every `every`; sealed and closed."""
    log = AuditLog(root, chain=Chain("gw-1", key, every_secs=3600, every_records=every, clock=Clock()))
    log.open()
    for n in range(start, start + count):
        log.append(msgspec.json.encode({"source": "iof", "reason": "invalid_signature", "n": n}))
    log.seal()
    log.close()
    return log


def lines(root: Path) -> list[bytes]:
    return (root / "w0" / SEGMENT).read_bytes().splitlines()


def rewrite(root: Path, new: list[bytes]) -> None:
    (root / "w0" / SEGMENT).write_bytes(b"".join(line + b"\n" for line in new))


def offset(root: Path, index: int) -> int:
    return sum(len(line) + 1 for line in lines(root)[:index])


def seq_index(root: Path, seq: int) -> int:
    return next(i for i, line in enumerate(lines(root)) if msgspec.json.decode(line)["seq"] == seq)


def only(root: Path, keys: dict[str, Key] | None = None) -> Report:
    reports = verify(read_local(root), {PUBLIC_KEY.key_id: PUBLIC_KEY} if keys is None else keys, ordered=True)
    assert len(reports) == 1
    return reports[0]


def test_an_untouched_chain_verifies_with_the_public_key_alone(tmp_path: Path) -> None:
    write(tmp_path, 10)
    report = only(tmp_path)
    assert report.problem is None and report.notes == []
    assert (report.first, report.last, report.records, report.checkpoints) == (1, 13, 10, 3)
    assert report.signed_to == 13  # sealed at close: the last line is a checkpoint
    first = msgspec.json.decode(lines(tmp_path)[0])
    assert first["chain"].startswith("gw-1/w0@") and first["seq"] == 1 and first["prev"] == GENESIS
    # The rule an auditor applies, with nothing but hashlib: prev = SHA-256 of the line before.
    raw = lines(tmp_path)
    assert all(msgspec.json.decode(b)["prev"] == hashlib.sha256(a).hexdigest() for a, b in zip(raw, raw[1:], strict=False))


def test_a_restart_continues_the_chain(tmp_path: Path) -> None:
    write(tmp_path, 3)
    write(tmp_path, 2, start=3)
    report = only(tmp_path)
    assert report.problem is None and report.records == 5
    assert len({msgspec.json.decode(line)["chain"] for line in lines(tmp_path)}) == 1


def test_a_removed_record(tmp_path: Path) -> None:
    write(tmp_path, 10)
    raw = lines(tmp_path)
    i = seq_index(tmp_path, 6)
    rewrite(tmp_path, raw[:i] + raw[i + 1:])
    assert only(tmp_path).problem == (f"removed: seq 6, between seq 5 at w0/{SEGMENT} offset {offset(tmp_path, i - 1)}"
                                      f" and seq 7 at w0/{SEGMENT} offset {offset(tmp_path, i)}")


def test_the_first_record_removed_is_not_taken_for_pruning(tmp_path: Path) -> None:
    write(tmp_path, 10)
    rewrite(tmp_path, lines(tmp_path)[1:])
    assert only(tmp_path).problem == f"removed: seq 1, before seq 2 at w0/{SEGMENT} offset 0"


def test_two_records_swapped(tmp_path: Path) -> None:
    write(tmp_path, 10)
    raw = lines(tmp_path)
    i = seq_index(tmp_path, 6)
    raw[i], raw[i + 1] = raw[i + 1], raw[i]
    rewrite(tmp_path, raw)
    problem = only(tmp_path).problem
    assert problem == (f"reordered: seq 6 is at w0/{SEGMENT} offset {offset(tmp_path, i + 1)}, "
                       f"after seq 7 at w0/{SEGMENT} offset {offset(tmp_path, i)}")


@pytest.mark.parametrize("how", ["copy", "unchained", "forged"])
def test_an_inserted_record(tmp_path: Path, how: str) -> None:
    write(tmp_path, 10)
    raw = lines(tmp_path)
    i = seq_index(tmp_path, 6)
    forged = {"copy": raw[2],
              "unchained": b'{"source":"iof","reason":"invalid_signature"}',
              "forged": raw[i][:-1].replace(b'"seq":6', b'"seq":60') + b"}"}[how]
    rewrite(tmp_path, raw[:i] + [forged] + raw[i:])
    problem = only(tmp_path).problem or ""
    where = f"w0/{SEGMENT} offset {offset(tmp_path, i)}"
    assert problem == {"copy": f"inserted: a second record at seq 3 ({where}); the first is at w0/{SEGMENT} "
                               f"offset {offset(tmp_path, 2)}",
                       "unchained": f"inserted: a line without chain fields at {where}",
                       "forged": f"inserted: seq 60 at {where} is not part of the chain"}[how]


def test_an_edited_byte(tmp_path: Path) -> None:
    write(tmp_path, 10)
    raw = lines(tmp_path)
    i = seq_index(tmp_path, 6)
    raw[i] = raw[i].replace(b"invalid_signature", b"invalid_signaturE")
    rewrite(tmp_path, raw)
    assert only(tmp_path).problem == (f"edited: seq 6 at w0/{SEGMENT} offset {offset(tmp_path, i)} "
                                      "(its hash is not seq 7's prev)")


def test_an_edit_that_breaks_the_json(tmp_path: Path) -> None:
    write(tmp_path, 10)
    raw = lines(tmp_path)
    i = seq_index(tmp_path, 6)
    raw[i] = raw[i][:-3]
    rewrite(tmp_path, raw)
    assert only(tmp_path).problem == (f"edited: seq 6 at w0/{SEGMENT} offset {offset(tmp_path, i)} "
                                      "is no longer a readable record")


def test_a_forged_checkpoint(tmp_path: Path) -> None:
    write(tmp_path, 10)
    raw = lines(tmp_path)
    i = seq_index(tmp_path, 5)  # the first checkpoint
    assert b'"type":"checkpoint"' in raw[i]
    checkpoint = msgspec.json.decode(raw[i])
    raw[i] = raw[i].replace(checkpoint["signature"].encode(), b"00" * 64)
    rewrite(tmp_path, raw)
    assert only(tmp_path).problem == (f"forged: checkpoint seq 5 at w0/{SEGMENT} offset {offset(tmp_path, i)}: "
                                      "the signature does not verify")


def test_a_chain_recomputed_after_an_edit_fails_at_the_next_checkpoint(tmp_path: Path) -> None:
    """SHA-256 needs no key: an attacker can relink every line after an edit, but cannot re-sign."""
    write(tmp_path, 10)
    raw = lines(tmp_path)
    raw[1] = raw[1].replace(b"invalid_signature", b"body_too_large")
    for j in range(2, len(raw)):
        fields = msgspec.json.decode(raw[j])
        raw[j] = raw[j].replace(fields["prev"].encode(), hashlib.sha256(raw[j - 1]).hexdigest().encode())
    rewrite(tmp_path, raw)
    assert only(tmp_path).problem == (f"forged: checkpoint seq 5 at w0/{SEGMENT} offset {offset(tmp_path, 4)}: "
                                      "the signature does not verify")
    assert only(tmp_path, keys={}).problem is None  # without a key only the links are checked


def test_truncated_after_a_checkpoint_the_topic_copy_shows_it(tmp_path: Path) -> None:
    write(tmp_path, 10)
    raw = lines(tmp_path)
    shipped = [(seq % 3, seq, line) for seq, line in enumerate(raw)]
    rewrite(tmp_path, raw[:seq_index(tmp_path, 10) + 1])  # cut just after the second checkpoint
    local = only(tmp_path)
    assert local.problem is None and local.last == 10  # a cut end leaves no broken link...
    topic = verify(read_topic(shipped), {PUBLIC_KEY.key_id: PUBLIC_KEY}, ordered=False)
    assert compare([local], topic) == [  # ...but the copy shipped before the cut does
        f"removed: {local.chain} ends at seq 10 in the local log, but the topic holds it up to seq 13: "
        "the local log lost its end"]


def test_unsigned_records_after_the_last_checkpoint_are_named(tmp_path: Path) -> None:
    write(tmp_path, 10)
    rewrite(tmp_path, lines(tmp_path)[:seq_index(tmp_path, 12) + 1])
    assert only(tmp_path).notes == ["seq 11-12 not yet under a checkpoint (written since the last one, "
                                    "or by a gateway stopped without draining)"]


def test_the_topic_is_verified_in_seq_order_and_repeats_are_not_tampering(tmp_path: Path) -> None:
    write(tmp_path, 10)
    raw = lines(tmp_path)
    shipped = [(i % 3, i, line) for i, line in enumerate(raw)] + [(0, 99, raw[3])]  # sent twice
    random.Random(7).shuffle(shipped)
    keys = {PUBLIC_KEY.key_id: PUBLIC_KEY}
    [report] = verify(read_topic(shipped), keys, ordered=False)
    assert report.problem is None and report.repeats == 1 and report.records == 10
    gap = [record for record in shipped if record[2] != raw[6]]
    [report] = verify(read_topic(gap), keys, ordered=False)
    assert (report.problem or "").startswith("removed: seq 7, between seq 6 at partition")
    other = raw[6].replace(b"invalid_signature", b"stale_timestamp")
    [report] = verify(read_topic([*shipped, (1, 100, other)]), keys, ordered=False)
    assert (report.problem or "").startswith("inserted: a second record at seq 7 (partition")


def test_hmac_checkpoints_and_an_unknown_key(tmp_path: Path) -> None:
    secret = b"an-hmac-checkpoint-secret-32-bytes"
    write(tmp_path, 5, key=key_from_secret(secret))
    hmac_key = key_from_secret(secret)
    assert only(tmp_path, keys={hmac_key.key_id: hmac_key}).problem is None
    problem = only(tmp_path).problem or ""
    assert problem.startswith("forged: checkpoint seq 5") and f"names key {hmac_key.key_id} (hmac-sha256)" in problem
    with pytest.raises(ValueError, match="at least 16 bytes"):
        key_from_secret(b"short")


def test_without_a_key_the_chain_still_verifies_and_no_checkpoint_is_written(tmp_path: Path) -> None:
    write(tmp_path, 5, key=None)
    report = only(tmp_path)
    assert report.problem is None and report.checkpoints == 0 and report.records == 5


def test_readers_skip_checkpoints_and_the_key_is_never_written(tmp_path: Path) -> None:
    write(tmp_path, 6)
    found = select(read_records(tmp_path), Query())
    assert len(found) == 6 and all(b'"checkpoint"' not in line for _, line in found)
    written = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    body = b"".join(PRIVATE.splitlines()[1:-1])
    assert body[:40] not in written and b"PRIVATE" not in written


def test_records_from_before_chaining_are_counted_and_the_chain_starts_after_them(tmp_path: Path) -> None:
    old = AuditLog(tmp_path)
    old.open()
    old.append(b'{"source":"iof","reason":"missing_signature"}')
    old.close()
    write(tmp_path, 3)
    found = read_local(tmp_path)
    assert found.unchained == 1
    [report] = verify(found, {PUBLIC_KEY.key_id: PUBLIC_KEY}, ordered=True)
    assert report.problem is None and report.first == 1


def test_a_torn_line_is_ended_and_the_chain_continues_past_it(tmp_path: Path) -> None:
    write(tmp_path, 3)
    with (tmp_path / "w0" / SEGMENT).open("ab") as file:
        file.write(b'{"source":"iof","reas')  # a crash mid-write
    write(tmp_path, 2, start=3)
    found = read_local(tmp_path)
    assert len(found.unreadable) == 1
    [report] = verify(found, {PUBLIC_KEY.key_id: PUBLIC_KEY}, ordered=True)
    assert report.problem is None and report.records == 5


def test_the_checkpoint_key_is_checked_at_load_and_redacted(tmp_path: Path) -> None:
    from gateway.audit import secret_values
    from gateway.config import parse_config
    from gateway.errors import ConfigError
    from tests.helpers import config_dict

    data = config_dict(tmp_path)
    data["audit"] = {"checkpoint_key": "too-short-key"}
    with pytest.raises(ConfigError, match="at least 16 bytes") as error:
        parse_config(data)
    assert "too-short-key" not in str(error.value)
    (tmp_path / "audit-key").write_bytes(PRIVATE)
    data["audit"] = {"checkpoint_key": f"file:{tmp_path / 'audit-key'}"}
    config = parse_config(data)
    assert PRIVATE.strip() in secret_values(config)  # never written in clear (gateway.audit.Redaction)
    assert "PRIVATE" not in repr(config.audit)
