"""The last line of defence in gateway.logs: a configured secret that reaches a log record (a
library echoing a config value, an exception's text) is printed as `[redacted]`, whichever part of
the record carries it; a record without one is printed as it was."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway import logs

SECRET = "whsec_s3cret-value-for-logs"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    logs.configure("info", "json")
    handler = next(h for h in root.handlers if h.get_name() == "gateway")
    handler.setStream(out)  # type: ignore[attr-defined]
    logs.redact_secrets([SECRET.encode(), b"abc"])  # too short to redact: it would mangle lines
    try:
        yield out
    finally:
        root.handlers[:], root.level = saved


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_secret_in_the_message_its_arguments_or_an_extra_field_is_redacted(captured: io.StringIO) -> None:
    log = logging.getLogger("gateway.test")
    log.info(f"connecting with {SECRET}")
    log.info("connecting with %s", SECRET)
    log.info("rejected", extra={"detail": f"key={SECRET};", "status": 401})
    log.warning("failed: %s", ValueError(f"bad value {SECRET!r}"))
    printed = captured.getvalue()
    assert SECRET not in printed
    first, second, third, fourth = lines(captured)
    assert first["msg"] == second["msg"] == "connecting with [redacted]"
    assert third["detail"] == "key=[redacted];" and third["status"] == 401
    assert fourth["msg"] == "failed: bad value '[redacted]'"


def test_a_record_without_a_secret_is_printed_unchanged(captured: io.StringIO) -> None:
    logging.getLogger("gateway.request").info(
        "webhook %s %s", "iof", "published",
        extra={"request_id": "1f-abc-2", "source": "iof", "reason": None, "status": 200, "note": "abc-ish"})
    (line,) = lines(captured)
    assert line["msg"] == "webhook iof published" and line["logger"] == "gateway.request"
    assert line["request_id"] == "1f-abc-2" and line["status"] == 200 and line["note"] == "abc-ish"
    assert line["level"] == "info" and "reason" in line
