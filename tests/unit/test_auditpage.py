"""The audit page's reading of the log (filters, buckets, folded records, conflicts), its escaping,
and its login (the status page's: bearer header, or a one-time ?token= that becomes a cookie)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auditchain import Chain
from gateway.auditchart import chart
from gateway.auditpage import render
from gateway.auditquery import QueryError, iso
from gateway.auditstats import MAX_SERIES, Filters, bucket_secs, chain_states, gather
from gateway.config import parse_config
from gateway.publish.memory import MemoryPublisher
from tests.helpers import config_dict

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z
TOKEN = "audit-page-unit-token-42"


def line(ago: float, source: str = "tlas", reason: str = "invalid_signature", **more: Any) -> bytes:
    return msgspec.json.encode({"id": "x", "at": iso(NOW - ago), "source": source, "reason": reason,
                                "remote_addr": "192.0.2.1", "method": "POST",
                                "path": f"/webhooks/{source}", "body_sha256": "ab" * 32, **more})


def view(lines: list[bytes], **params: str) -> Any:
    return gather(lines, Filters.parse(params, NOW), {"tlas", "iof"})


def test_buckets_cover_the_range_in_at_most_sixty_bars() -> None:
    assert [bucket_secs(s) for s in (600, 3600, 86400, 7 * 86400)] == [60, 60, 1800, 3 * 3600]
    seen = view([line(30), line(90), line(3 * 3600)], since="1h")
    assert seen.step == 60 and seen.origin % 60 == 0 and len(seen.by_reason["invalid_signature"]) == 61
    assert sum(seen.by_reason["invalid_signature"]) == 2  # three hours ago is out of range


def test_folded_records_count_their_repeats_and_unknown_sources_are_one_series() -> None:
    seen = view([line(60, repeats=4), line(60, source="wp-admin", reason="unknown_source")])
    assert {k: sum(v) for k, v in seen.by_reason.items()} == {"unknown_source": 1, "invalid_signature": 5}
    assert {k: sum(v) for k, v in seen.by_source.items()} == {"tlas": 5, "(unknown)": 1}
    assert seen.addresses == {"192.0.2.1": 6} and seen.records == 2


def test_filters_by_source_reason_detail_and_until_with_records_older_than_detail() -> None:
    lines = [line(60, detail="no_secret_matched"), line(120), line(180, source="iof"),
             line(7200, detail="no_secret_matched"), line(60, reason="missing_signature")]
    assert [r.at for r in view(lines, detail="no_secret_matched").latest] == [iso(NOW - 60), iso(NOW - 7200)]
    assert len(view(lines, source="tlas", reason="invalid_signature").latest) == 3
    assert len(view(lines, since="3h", until="1h").latest) == 1
    assert view(lines).details == {"no_secret_matched"}


def test_conflicts_ignore_the_reason_filter_and_torn_or_other_lines_are_skipped() -> None:
    conflict = line(30, source="iof", reason="id_conflict", accepted_body_sha256="cd" * 32)
    lines = [b'{"at":"2026', b'{"kind":"checkpoint","seq":9}', conflict, line(40)]
    seen = view(lines, reason="invalid_signature")
    assert [r.accepted_body_sha256 for r in seen.conflicts] == ["cd" * 32]
    assert [r.reason for r in seen.latest] == ["invalid_signature"]
    assert view(lines, source="tlas").conflicts == []


def test_sources_beyond_the_busiest_are_drawn_as_other() -> None:
    names = [f"s{i}" for i in range(MAX_SERIES + 3)]
    seen = gather([line(60, source=n) for n in names], Filters.parse({}, NOW), set(names))
    assert len(seen.by_source) == MAX_SERIES + 1 and sum(seen.by_source["(other)"]) == 3


@pytest.mark.parametrize("params, message", [
    ({"sorce": "iof"}, "unknown parameter 'sorce'"),
    ({"reason": "nonsense"}, "unknown reason nonsense"),
    ({"until": "tomorrow"}, "until 'tomorrow'"),
    ({"since": "1h", "until": "2h"}, "until must be later than since"),
])
def test_filters_that_cannot_be_understood_say_why(params: dict[str, str], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        Filters.parse(params, NOW)


def test_everything_from_a_record_is_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    html = render(view([line(60, source=hostile, reason="unknown_source", user_agent=hostile,
                             detail="'><b>"), line(60, reason="id_conflict", user_agent=hostile)]))
    assert "<script>" not in html and "<b>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # latest, conflicts, datalist
    svg = chart("c", {hostile: [1]}, {hostile: "#000"}, NOW, 60)
    assert "<script>" not in svg and "data-key='&lt;script&gt;" in svg


def test_the_page_opens_with_the_admin_login_and_keeps_its_filters(tmp_path: Path) -> None:
    data = config_dict(tmp_path)
    data["admin"] = {"token": TOKEN}
    with TestClient(create_app(parse_config(data), MemoryPublisher())) as http:
        http.post("/webhooks/tlas", content=b"{}", headers={"User-Agent": "<i>ua</i>"})
        assert http.get("/admin/audit").status_code == 401
        assert http.get("/admin/audit?token=wrong").status_code == 401
        bearer = http.get("/admin/audit", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200 and "&lt;i&gt;ua&lt;/i&gt;" in bearer.text
        assert "script-src" not in bearer.headers["content-security-policy"]  # default-src 'none'
        login = http.get(f"/admin/audit?source=tlas&token={TOKEN}&since=1h", follow_redirects=False)
        assert login.status_code == 303 and login.headers["location"] == "/admin/audit?source=tlas&since=1h"
        assert TOKEN not in login.headers["location"]
        page = http.get(login.headers["location"])  # with the cookie just set
        assert page.status_code == 200 and "value='tlas'" in page.text
        assert http.get("/admin/audit?reason=nonsense").status_code == 400
        assert http.get("/admin/").status_code == 200  # the same cookie opens the status page


def write_chain(root: Path, records: int, old: int = 0) -> Path:
    """A slot as the audit log writes it: `old` records from before chaining, then a chain."""
    chain = Chain("host", key=None)
    chain.resume("w0", None)
    segment = root / "w0" / "000000000001.jsonl"
    segment.parent.mkdir(parents=True)
    lines = [line(60 - i) for i in range(old)] + [chain.link(line(50 - i)) for i in range(records)]
    segment.write_bytes(b"".join(x + b"\n" for x in lines))
    return segment


def test_the_chain_section_shows_each_chain_verified_or_its_first_problem(tmp_path: Path) -> None:
    assert chain_states(tmp_path, {}) is None  # no log, or no chained record: "not available"
    segment = write_chain(tmp_path, 5, old=2)
    chains = chain_states(tmp_path, {})
    assert chains is not None and chains.unchained == 2 and not chains.signed
    [report] = chains.reports
    assert (report.first, report.last, report.records, report.problem) == (1, 5, 5, None)
    shown = view([])
    shown.chains = chains
    assert "verified: seq 1 to 5" in render(shown)

    lines = segment.read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b"192.0.2.1", b"192.0.2.9")  # seq 3 edited
    segment.write_bytes(b"\n".join(lines))
    tampered = chain_states(tmp_path, {})
    assert tampered is not None and (tampered.reports[0].problem or "").startswith("edited: seq 3")
    shown.chains = tampered
    html = render(shown)
    assert "edited: seq 3" in html and "2 older records were written before chaining" in html
