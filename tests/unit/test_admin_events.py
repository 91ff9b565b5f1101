"""The operators' admin endpoints with the memory publisher: events (filter, pages, one event),
replay, sources without secrets, reload (good and bad file), the status page's token handling,
and the OpenAPI document they are described by."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from starlette.testclient import TestClient

from gateway.adminmodels import openapi
from gateway.app import create_app
from gateway.config import load_config
from gateway.providers import REGISTRY
from gateway.publish.memory import MemoryPublisher
from tests.helpers import SECRETS, config_dict, write_config

TOKEN = "admin-unit-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def setup(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    data = config_dict(tmp_path / "var")
    data["admin"] = {"token": TOKEN}
    return write_config(tmp_path / "gateway.yaml", data), data


def post_tlas(http: TestClient, n: int, secret: str = SECRETS["tlas"]) -> Any:
    body = (b'{"event":"application.%s","timestamp":"2026-01-01T00:00:00Z","data":{"applicationId":"APP-%d"}}'
            % (b"submitted" if n % 2 else b"approved", n))
    cfg = load_config_dict({"provider": "tlas", "secrets": [secret]})
    headers = {"Content-Type": "application/json", **REGISTRY["tlas"].sign(cfg, body, time.time())}
    return http.post("/webhooks/tlas", content=body, headers=headers)


def load_config_dict(source: dict[str, Any]) -> Any:
    return REGISTRY[source["provider"]].config.model_validate(source)


def test_events_are_listed_newest_first_filtered_and_paged(tmp_path: Path) -> None:
    path, _ = setup(tmp_path)
    with TestClient(create_app(load_config(path), MemoryPublisher())) as http:
        for n in range(5):
            assert post_tlas(http, n).json()["status"] == "published"
        post_tlas(http, 1)  # a provider retry
        listed = http.get("/admin/events", headers=AUTH).json()
        assert [e["status"] for e in listed["events"]] == ["duplicate"] + ["published"] * 5
        assert [e["subject"] for e in listed["events"][1:]] == [f"APP-{n}" for n in (4, 3, 2, 1, 0)]
        assert listed["events"][1]["partition"] == 0 and listed["events"][1]["offset"] == 4
        approved = http.get("/admin/events", params={"type": "tlas.application.approved"}, headers=AUTH).json()
        assert [e["subject"] for e in approved["events"]] == ["APP-4", "APP-2", "APP-0"]
        seen, cursor = [], None
        while True:
            page = http.get("/admin/events", params={"status": "published", "limit": 2,
                                                     **({"cursor": cursor} if cursor else {})},
                            headers=AUTH).json()
            seen += [e["subject"] for e in page["events"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ["APP-4", "APP-3", "APP-2", "APP-1", "APP-0"]
        assert http.get("/admin/events", params={"since": "1m"}, headers=AUTH).json()["events"]
        for bad in ({"status": "lost"}, {"limit": "0"}, {"limit": "x"}, {"since": "soon"}, {"cursor": "-1"}):
            answer = http.get("/admin/events", params=bad, headers=AUTH)
            assert answer.status_code == 400 and answer.json()["error"].startswith("bad query")
        assert http.get("/admin/events").status_code == 401


def test_one_event_shows_its_stored_record_and_replay_republishes_it_unchanged(tmp_path: Path) -> None:
    path, _ = setup(tmp_path)
    publisher = MemoryPublisher()
    with TestClient(create_app(load_config(path), publisher)) as http:
        id_ = post_tlas(http, 7).json()["id"]
        shown = http.get(f"/admin/events/{id_}", headers=AUTH).json()
        assert shown["record"]["id"] == id_ and shown["record"]["data"]["data"]["applicationId"] == "APP-7"
        assert shown["headers"]["ce_id"] == id_ and shown["key"] == "APP-7"
        assert SECRETS["tlas"] not in str(shown)
        replayed = http.post(f"/admin/events/{id_}/replay", headers=AUTH)
        assert replayed.status_code == 200
        assert replayed.json() == {"id": id_, "status": "published", "topic": "webhooks.tlas",
                                   "partition": 0, "offset": 1}
        first, again = publisher.on("webhooks.tlas")
        assert (again.key, again.value, again.headers) == (first.key, first.value, first.headers)
        publisher.available = False  # Kafka down: the replay is spooled, like a webhook
        spooled = http.post(f"/admin/events/{id_}/replay", headers=AUTH)
        assert spooled.status_code == 202 and spooled.json()["status"] == "spooled"
        assert http.get("/readyz").json()["spool"]["depth"] == 1
        rows = http.get("/admin/events", headers=AUTH).json()["events"]
        assert [(e["status"], e["replayed"]) for e in rows] == [
            ("spooled", True), ("published", True), ("published", False)]
        assert http.get("/admin/events/nope", headers=AUTH).status_code == 404
        assert http.post("/admin/events/nope/replay", headers=AUTH).status_code == 404


def test_sources_are_listed_without_secrets(tmp_path: Path) -> None:
    path, _ = setup(tmp_path)
    with TestClient(create_app(load_config(path), MemoryPublisher())) as http:
        answer = http.get("/admin/sources", headers=AUTH)
    sources = {s["name"]: s for s in answer.json()["sources"]}
    assert sources["iof"]["credentials"] == 2 and sources["iof"]["topic"] == "webhooks.iof"
    assert sources["azakaw-globex"]["auth"] == "api_key" and sources["azakaw-acme"]["tenant"] == "acme"
    assert not any(secret in answer.text for secret in SECRETS.values())


def test_reload_applies_a_rotated_secret_and_refuses_a_bad_file(tmp_path: Path) -> None:
    path, data = setup(tmp_path)
    with TestClient(create_app(load_config(path), MemoryPublisher())) as http:
        data["sources"]["tlas"]["secrets"] = ["tlas-new-secret-0001"]
        write_config(path, data)
        assert post_tlas(http, 1, "tlas-new-secret-0001").status_code == 401  # not yet reloaded
        answer = http.post("/admin/reload", headers=AUTH)
        assert answer.status_code == 200 and answer.json()["status"] == "reloaded"
        assert post_tlas(http, 2, "tlas-new-secret-0001").status_code == 200
        assert post_tlas(http, 3).status_code == 401  # the old secret is gone
        path.write_text(yaml.safe_dump({**data, "sources": {"tlas": {"provider": "tlas"}}}))
        refused = http.post("/admin/reload", headers=AUTH)
        assert refused.status_code == 400
        assert "sources.tlas.secrets: required key is missing" in refused.json()["error"]
        assert post_tlas(http, 4, "tlas-new-secret-0001").status_code == 200  # the old config serves
        data["kafka"]["topic_prefix"] = "elsewhere"
        write_config(path, data)
        assert http.post("/admin/reload", headers=AUTH).json()["restart_required"] == ["kafka"]
        samples = http.get("/metrics").text
    assert 'gateway_config_reloads_total{result="ok"} 2.0' in samples
    assert 'gateway_config_reloads_total{result="rejected"} 1.0' in samples


def test_status_page_takes_the_bearer_header_or_a_one_time_token_that_becomes_a_cookie(tmp_path: Path) -> None:
    path, _ = setup(tmp_path)
    with TestClient(create_app(load_config(path), MemoryPublisher())) as http:
        post_tlas(http, 1)
        assert http.get("/admin/").status_code == 401
        assert http.get("/admin/", params={"token": "wrong"}).status_code == 401
        page = http.get("/admin/", headers=AUTH)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        first = http.get("/admin/", params={"token": TOKEN}, follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/admin/"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin/" in cookie
        shown = http.get("/admin/")  # the client kept the cookie
        assert shown.status_code == 200 and "data-source='tlas'" in shown.text
        assert http.post("/admin/reload").status_code == 401  # the cookie opens the page only


def test_the_openapi_document_describes_every_admin_endpoint(tmp_path: Path) -> None:
    path, _ = setup(tmp_path)
    with TestClient(create_app(load_config(path), MemoryPublisher())) as http:
        served = http.get("/admin/openapi.json", headers=AUTH).json()
        assert http.get("/admin/openapi.json").status_code == 401
        routes = {(r.path, m) for r in http.app.routes for m in getattr(r, "methods", ()) or ()}  # type: ignore[attr-defined]
    assert served == openapi() and served["openapi"].startswith("3.1")
    documented = {(p, m.upper()) for p, ops in served["paths"].items() for m in ops}
    pages = ("/admin/", "/admin/audit")  # HTML for a browser, not API operations
    admin = {(p, m) for p, m in routes if p.startswith("/admin/") and p not in (*pages, "/admin/openapi.json",
                                                                              "/admin/rejections") and m != "HEAD"}
    assert admin == documented
