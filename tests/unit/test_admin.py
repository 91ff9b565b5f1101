"""The admin API: off without a token or when disabled, bearer token required, rejections filtered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.publish.memory import MemoryPublisher
from tests.helpers import config_dict

TOKEN = "admin-unit-token-0123"


def client(tmp_path: Path, admin: dict[str, Any] | None) -> TestClient:
    data = config_dict(tmp_path)
    if admin is not None:
        data["admin"] = admin
    return TestClient(create_app(parse_config(data), MemoryPublisher()))


def test_admin_api_is_off_without_a_token(tmp_path: Path) -> None:
    with client(tmp_path, None) as http:
        assert http.get("/admin/rejections", headers={"Authorization": "Bearer x"}).status_code == 404


def test_admin_api_can_be_disabled(tmp_path: Path) -> None:
    with client(tmp_path, {"token": TOKEN, "enabled": False}) as http:
        assert http.get("/admin/rejections", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_admin_api_needs_the_bearer_token(tmp_path: Path) -> None:
    with client(tmp_path, {"token": TOKEN}) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}):
            answer = http.get("/admin/rejections", headers=headers)
            assert answer.status_code == 401 and TOKEN not in answer.text
        assert http.get("/admin/rejections", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_rejections_are_filtered_newest_first(tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with client(tmp_path, {"token": TOKEN}) as http:
        http.post("/webhooks/nope", content=b"{}")
        http.post("/webhooks/tlas", content=b"{}", headers={"User-Agent": "first"})
        http.post("/webhooks/tlas", content=b"{}", headers={"User-Agent": "second"})
        http.post("/webhooks/iof", content=b"{}")
        everything = http.get("/admin/rejections", headers=auth).json()["rejections"]
        assert [r["source"] for r in everything] == ["iof", "tlas", "tlas", "nope"]
        tlas = http.get("/admin/rejections", params={"source": "tlas", "limit": 1}, headers=auth).json()
        assert [r["user_agent"] for r in tlas["rejections"]] == ["second"]
        unknown = http.get("/admin/rejections", params={"reason": "unknown_source"}, headers=auth).json()
        assert [r["source"] for r in unknown["rejections"]] == ["nope"]
        assert http.get("/admin/rejections", params={"since": "1m"}, headers=auth).json()["rejections"]
        assert http.get("/admin/rejections", params={"reason": "nonsense"}, headers=auth).status_code == 400
        assert http.get("/admin/rejections", params={"since": "yesterday"}, headers=auth).status_code == 400
