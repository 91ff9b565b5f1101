"""JSON Schemas of the wire types, generated from the code's msgspec types (`webhook-gateway schemas`).

tests/unit/test_asyncapi.py fails when the committed files in schemas/ differ from what this produces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from gateway import asyncapi
from gateway.auditchain import Checkpoint
from gateway.envelope import AuditRecord, DeadLetter, Envelope
from gateway.providers import REGISTRY


def _schema(kind: Any, title: str, description: str) -> dict[str, Any]:
    schema = msgspec.json.schema(kind)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title,
              "description": description, **schema}
    return schema


def generate() -> dict[str, dict[str, Any]]:
    """File name -> schema."""
    files = {
        "envelope.schema.json": _schema(
            Envelope, "webhook-gateway envelope",
            "CloudEvents 1.0 structured JSON: the value of every record on {prefix}.{provider}. "
            "`data` is the provider's payload, byte for byte."),
        "deadletter.schema.json": _schema(
            DeadLetter, "webhook-gateway dead letter",
            "An authenticated request whose payload could not be mapped ({prefix}.deadletter)."),
        "audit.schema.json": _schema(
            AuditRecord, "webhook-gateway audit record",
            "One rejected request ({prefix}.rejected); credential headers hold fingerprints. "
            "`chain`, `seq`, `prev`: the writer's hash chain (SECURITY.md, \"Verifying the audit trail\")."),
        "audit-checkpoint.schema.json": _schema(
            Checkpoint, "webhook-gateway audit checkpoint",
            "A signed checkpoint of one audit chain, in the local audit log and on {prefix}.rejected "
            "beside the records (`type` is \"checkpoint\"). `signature` (hex) is Ed25519 or "
            "HMAC-SHA256 over the UTF-8 of \"webhook-gateway audit checkpoint v1\", chain, seq, prev "
            "and at, joined by \"\\n\" (SECURITY.md, \"Verifying the audit trail\")."),
    }
    for name, provider in sorted(REGISTRY.items()):
        if provider.payload is not None:
            files[f"providers/{name}.schema.json"] = _schema(
                provider.payload, f"{name} webhook payload",
                f"The `data` of envelopes from provider {name}, as its documents define it.")
    files["asyncapi.json"] = asyncapi.document()  # every topic, its key, headers and value
    return files


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def write(out: Path) -> list[Path]:
    written = []
    for name, schema in generate().items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema))
        written.append(path)
    return written
