"""The HTTP layer under attack, over raw sockets against a real `webhook-gateway serve`:
request-smuggling shapes, slow headers, slow bodies, too many connections (SECURITY.md).

No broker is needed: every request here is refused before Kafka could matter.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from gateway.auditlog import read_records
from gateway.config import parse_config
from tests.helpers import SECRETS, GatewayProcess, config_dict, write_config
from tests.integration.running import sample, signed, wait_for

READ_TIMEOUT_SECS = 1.0
MAX_CONNECTIONS = 4
ALLOW_ONLY = {"provider": "tlas", "secrets": [SECRETS["tlas"]], "allow_cidrs": ["10.9.9.0/24"]}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("security-http")
    data = config_dict(root / "var")
    data["limits"] = {"read_timeout_secs": READ_TIMEOUT_SECS, "max_connections": MAX_CONNECTIONS}
    data["sources"]["tlas-allow"] = ALLOW_ONLY
    process = GatewayProcess(write_config(root / "gateway.yaml", data)).start()
    try:
        yield process
    finally:
        process.stop()


def exchange(port: int, raw: bytes, wait: float = 5.0) -> bytes:
    """Send `raw`, return everything the server sends until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(raw)
        received = b""
        sock.settimeout(1.0)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def read_response(sock: socket.socket) -> bytes:
    """One whole response: its head may arrive in one segment and its body in the next."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response after {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    assert match, f"no content-length in {head!r}"
    while len(body) < int(match[1]):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-body after {received!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def statuses(response: bytes) -> list[int]:
    return [int(part[:3]) for part in response.split(b"HTTP/1.1 ")[1:]]


SMUGGLING = {
    "content-length with transfer-encoding":
        b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nPOST /webhooks/smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "two different content-lengths":
        b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "two equal content-lengths":
        b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
    "bare LF line endings":
        b"POST /webhooks/tlas HTTP/1.1\nHost: x\nContent-Length: 4\n\nabcd",
    "obfuscated transfer-encoding":
        b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "transfer-encoding chunked, identity":
        b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "obs-fold header continuation":
        b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nContent-Length: 4\r\n\r\nabcd",
    "signed content-length":
        b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
}


@pytest.mark.parametrize("shape", SMUGGLING)
def test_request_smuggling_shapes_are_refused_by_the_parser(gateway: GatewayProcess, shape: str) -> None:
    answer = exchange(gateway.port, SMUGGLING[shape])
    # One 400 from the parser and the connection closed: no second (smuggled) request is served,
    # and nothing reached the app (the app would have answered 401 for tlas).
    assert statuses(answer) == [400], answer[:200]


def audit_reasons(gateway: GatewayProcess) -> list[dict[str, object]]:
    root = gateway.config_path.parent / "var" / "audit"
    return [msgspec.json.decode(line) for line in read_records(root)]


def test_slow_headers_are_cut_off(gateway: GatewayProcess) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\n")
        closed = False
        deadline = time.monotonic() + 10 * READ_TIMEOUT_SECS
        while time.monotonic() < deadline:  # trickle a header byte now and then, as slowloris does
            try:
                sock.sendall(b"X")
                sock.settimeout(0.3)
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
    assert closed, "the gateway kept a connection whose headers never finished"
    # The log line is written by the log writer thread: wait for it, never read it once.
    wait_for(lambda: "request headers from 127.0.0.1 not received" in gateway.log.read_text(), 5,
             "the log line of the cut-off connection")


def test_slow_body_gets_408_and_is_audited(gateway: GatewayProcess) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\nUser-Agent: slow-body-test\r\n"
                     b"Content-Length: 100\r\n\r\n0123456789")
        sock.settimeout(10 * READ_TIMEOUT_SECS)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert statuses(answer) == [408]
    assert b"connection: close" in answer.lower()
    slow = wait_for(lambda: [r for r in audit_reasons(gateway) if r["user_agent"] == "slow-body-test"],
                    5, "the slow body's audit record")
    assert [(r["reason"], r["body_size"]) for r in slow] == [("malformed_request", 10)]
    scraped = httpx.get(gateway.url + "/metrics", timeout=5).text  # operators see cut-offs
    assert re.search(r'^gateway_slow_clients_total\{stage="body"\} [1-9]', scraped, re.M), scraped[-800:]


def test_connections_beyond_the_limit_get_503(gateway: GatewayProcess) -> None:
    idle = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(MAX_CONNECTIONS)]
    try:
        status = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and status != 503:  # until the server has seen them all
            status = httpx.get(gateway.url + "/healthz", timeout=5).status_code
        assert status == 503
    finally:
        for sock in idle:
            sock.close()
    # Once they are gone the gateway serves again.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and status != 200:
        status = httpx.get(gateway.url + "/healthz", timeout=5).status_code
    assert status == 200


def test_keep_alive_connection_gets_a_fresh_deadline_per_request(gateway: GatewayProcess) -> None:
    """A kept-alive connection is not a way around the deadline: the second, trickled request is
    cut off too."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        first = read_response(sock)
        assert statuses(first) == [200]
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        sock.settimeout(10 * READ_TIMEOUT_SECS)
        try:
            rest = sock.recv(65536)
        except ConnectionResetError:
            rest = b""
    assert rest == b""


def test_each_request_on_a_kept_alive_connection_has_its_own_full_deadline(
        gateway: GatewayProcess) -> None:
    """The deadline counts from a request's first byte, not from the connection's: a second
    request that starts late and is still arriving when the first one's deadline passes is served."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # the connection's clock starts
        sock.settimeout(5)
        assert statuses(read_response(sock)) == [200]
        time.sleep(0.6 * READ_TIMEOUT_SECS)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # this request's clock starts
        time.sleep(0.6 * READ_TIMEOUT_SECS)  # past the first request's deadline, within its own
        sock.sendall(b"Host: x\r\n\r\n")
        assert statuses(read_response(sock)) == [200]


def signed_tlas(source: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    cfg = parse_config({**config_dict(Path("var")), "sources": {"tlas-allow": source}})
    body = sample(cfg, "tlas-allow", "application.submitted")
    return body, signed(cfg, "tlas-allow", body)


def audited(gateway: GatewayProcess, agent: str) -> dict[str, object]:
    def found() -> dict[str, object] | None:
        return next((r for r in audit_reasons(gateway) if r["user_agent"] == agent), None)

    return wait_for(found, 5, f"the audit record of {agent}")


def test_x_forwarded_for_from_a_peer_not_in_trusted_proxies_is_not_believed(
        gateway: GatewayProcess) -> None:
    """`trusted_proxies: []` (the default): no peer's X-Forwarded-For is believed, the local
    host's included (a sidecar proxy connects from 127.0.0.1). A forged address inside a source's
    `allow_cidrs` must not let a request in, and the audit record names the real peer."""
    body, headers = signed_tlas(ALLOW_ONLY)
    agent = f"xff-untrusted-{time.monotonic_ns()}"
    answer = httpx.post(f"{gateway.url}/webhooks/tlas-allow", content=body, timeout=10,
                        headers={**headers, "X-Forwarded-For": "10.9.9.7", "User-Agent": agent})
    assert answer.status_code == 401, answer.text
    record = audited(gateway, agent)
    assert (record["reason"], record["remote_addr"]) == ("ip_not_allowed", "127.0.0.1")


def test_x_forwarded_for_from_a_trusted_proxy_is_the_client(tmp_path: Path) -> None:
    """With the local host in `trusted_proxies`, its X-Forwarded-For names the client: the one
    inside `allow_cidrs` gets in (spooled: no broker here), the one outside is refused."""
    data = config_dict(tmp_path / "var")
    data["sources"]["tlas-allow"] = ALLOW_ONLY
    data["trusted_proxies"] = ["127.0.0.1/32"]
    process = GatewayProcess(write_config(tmp_path / "gateway.yaml", data)).start()
    try:
        body, headers = signed_tlas(ALLOW_ONLY)
        inside = httpx.post(f"{process.url}/webhooks/tlas-allow", content=body, timeout=10,
                            headers={**headers, "X-Forwarded-For": "203.0.113.5, 10.9.9.7"})
        agent = f"xff-trusted-{time.monotonic_ns()}"
        outside = httpx.post(f"{process.url}/webhooks/tlas-allow", content=body, timeout=10,
                             headers={**headers, "X-Forwarded-For": "10.9.9.7, 203.0.113.5",
                                      "User-Agent": agent})
        assert (inside.status_code, inside.json()["status"]) == (202, "spooled"), inside.text
        assert outside.status_code == 401
        record = audited(process, agent)
        assert (record["reason"], record["remote_addr"]) == ("ip_not_allowed", "203.0.113.5")
    finally:
        process.stop()


def test_slow_clients_of_every_worker_are_counted_in_any_scrape(tmp_path: Path) -> None:
    """With two workers, connections cut off for slow headers are spread over both; whichever
    worker answers a scrape, gateway_slow_clients_total counts all of them."""
    data = config_dict(tmp_path / "var")
    data["limits"] = {"read_timeout_secs": READ_TIMEOUT_SECS}
    gateway = GatewayProcess(write_config(tmp_path / "gateway.yaml", data), workers=2).start()
    try:
        socks = [socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
                 for _ in range(8)]
        for sock in socks:  # headers begun, never finished
            sock.sendall(b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\n")
        for sock in socks:
            with sock:
                sock.settimeout(10 * READ_TIMEOUT_SECS)
                assert sock.recv(1024) == b"", "the gateway kept a connection whose headers never came"

        def every_scrape_counts_all() -> bool:
            scrapes = [httpx.get(gateway.url + "/metrics", timeout=5).text for _ in range(6)]
            counts = [m.group(1) for text in scrapes for m in re.finditer(
                r'^gateway_slow_clients_total\{stage="headers"\} (\S+)', text, re.M)]
            return counts == ["8.0"] * 6

        wait_for(every_scrape_counts_all, 10, "every scrape to count the 8 cut-off connections")
    finally:
        gateway.stop()
