"""Build sources the way the gateway does (parse_config + build_sources), for verifier/mapper tests."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from gateway.config import parse_config
from gateway.sources import Source, build_sources

NOW = 1_705_314_630.0
BODY = b'{"id":"evt_1","type":"contract.created","data":{"object":{"id":"c_1"}}}'
SECRETS = ["whsec_current_secret_aaaa", "whsec_previous_secret_bbbb"]


def source(provider: str, name: str | None = None, **options: Any) -> Source:
    name = name or provider
    cfg: dict[str, Any] = {"provider": provider, **options}
    if provider != "azakaw":
        cfg.setdefault("secrets", list(SECRETS))
    return build_sources(parse_config({"sources": {name: cfg}}))[name]


def mac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
