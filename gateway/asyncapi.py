"""The AsyncAPI 3.0 document of the gateway's topics (schemas/asyncapi.json), for consumer teams.

Generated from the same types as the JSON Schemas (`webhook-gateway schemas`): a channel per
registered provider's topic plus the dead-letter and rejected topics; each message carries its
record key (Kafka message binding), its headers and its value schema. The envelope's `data` is the
provider's documented payload (gateway.providers.REGISTRY[name].payload) where it has one.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway import __version__
from gateway.auditchain import Checkpoint
from gateway.envelope import CONTENT_TYPE, AuditRecord, DeadLetter, Envelope, record_headers
from gateway.providers import REGISTRY

REF = "#/components/schemas/{name}"
KAFKA_BINDING = "0.5.0"
Parts = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]  # (channel, operation, message)
PREFIX = {"prefix": {"default": "webhooks",
                     "description": "`kafka.topic_prefix` of the gateway's configuration"}}


def _header_schema() -> dict[str, Any]:
    """The record headers, read off gateway.envelope.record_headers (ce_subject: with a subject)."""
    sample = Envelope(specversion="1.0", id="i", source="s", type="t", subject="x", time="t",
                      datacontenttype="application/json", data=msgspec.Raw(b"{}"), provider="p",
                      receivedat="t", authscheme="none")
    always = {name for name, _ in record_headers(msgspec.structs.replace(sample, subject=None))}
    described = {"ce_subject": "the envelope's `subject`; absent when it has none",
                 "content-type": f"always `{CONTENT_TYPE}`"}
    properties = {name: {"type": "string",
                         "description": described.get(name, f"the envelope's `{name[3:]}`")}
                  for name, _ in record_headers(sample)}
    return {"type": "object", "properties": properties,
            "required": [name for name in properties if name in always]}


def _key(description: str) -> dict[str, Any]:
    return {"kafka": {"key": {"type": "string", "description": description},
                      "bindingVersion": KAFKA_BINDING}}


def _schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """-> (provider name -> its `data` schema, every named component)."""
    named = [name for name, p in sorted(REGISTRY.items()) if p.payload is not None]
    types = [Envelope, DeadLetter, AuditRecord, Checkpoint] + [REGISTRY[name].payload for name in named]
    refs, components = msgspec.json.schema_components(types, ref_template=REF)
    data = {name: _asyncapi_schema(ref) for name, ref in zip(named, refs[4:], strict=True)}
    for name, provider in REGISTRY.items():
        if provider.payload is None:
            data[name] = {"description": "any JSON object: this provider's payload is configured, "
                                         "not documented", "type": "object"}
    return data, {name: _asyncapi_schema(schema) for name, schema in components.items()}


def _asyncapi_schema(schema: Any) -> Any:
    """msgspec writes OpenAPI's `discriminator: {propertyName, mapping}`; AsyncAPI's Schema Object
    wants the property name alone (a tagged union such as azakaw's `Type`)."""
    if isinstance(schema, list):
        return [_asyncapi_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    found = {key: _asyncapi_schema(value) for key, value in schema.items()}
    if isinstance(found.get("discriminator"), dict) and "propertyName" in found["discriminator"]:
        found["discriminator"] = found["discriminator"]["propertyName"]
    return found


def _provider_parts(name: str, data: dict[str, Any]) -> Parts:
    """-> (channel, operation, message) of one provider's topic."""
    message_id = f"{name}.envelope"
    message = {
        "name": message_id,
        "title": f"{name} event",
        "summary": f"An authenticated {name} webhook as a CloudEvents 1.0 envelope.",
        "contentType": CONTENT_TYPE,
        "headers": {"$ref": "#/components/schemas/RecordHeaders"},
        "payload": {"allOf": [
            {"$ref": REF.format(name="Envelope")},
            {"type": "object", "properties": {
                "provider": {"const": name},
                "type": {"type": "string", "pattern": f"^{name.replace('.', '[.]')}[.]"},
                "data": data,
            }},
        ]},
        "correlationId": {"description": "the envelope id: the same for every retry of a delivery",
                          "location": "$message.header#/ce_id"},
        "bindings": _key("the envelope's `subject`, or its `id` when it has no subject: "
                         "one entity's "
                         "events share a partition, in order"),
    }
    channel = {
        "address": f"{{prefix}}.{name}",
        "title": f"{name} events",
        "description": f"Accepted events of sources with `provider: {name}` (a source's own "
                       "`topic:` replaces this address).",
        "parameters": PREFIX,
        "messages": {"envelope": {"$ref": f"#/components/messages/{message_id}"}},
    }
    operation = {"action": "send", "channel": {"$ref": f"#/channels/{name}"},
                 "summary": f"The gateway publishes each accepted {name} event (acks=all).",
                 "messages": [{"$ref": f"#/channels/{name}/messages/envelope"}]}
    return channel, operation, message


def _fixed_parts() -> dict[str, Parts]:
    deadletter = {
        "name": "deadletter", "title": "dead letter", "contentType": "application/json",
        "summary": "An authenticated request whose payload could not be mapped; never dropped.",
        "payload": {"$ref": REF.format(name="DeadLetter")},
        "bindings": _key("the dead letter's `id` (SHA-256 of the body)"),
    }
    rejected = {
        "name": "rejected", "title": "audit record", "contentType": "application/json",
        "summary": "One rejected request; credential headers hold keyed fingerprints, "
                   "never values.",
        "payload": {"$ref": REF.format(name="AuditRecord")},
        "bindings": _key("the audit record's `source` (the source name, "
                         "or the unknown path segment)"),
    }
    parts: dict[str, Parts] = {}
    for name, message, what in (("deadletter", deadletter, "unmappable authenticated payloads"),
                                ("rejected", rejected, "audit records of rejected requests")):
        channel: dict[str, Any] = {
            "address": f"{{prefix}}.{name}", "title": what, "parameters": PREFIX,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}}}
        operation: dict[str, Any] = {
            "action": "send", "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}]}
        parts[name] = (channel, operation, message)
    # A chain's signed checkpoints travel with its records (gateway.auditchain): `type` tells them apart.
    parts["rejected"][0]["messages"]["checkpoint"] = {"$ref": "#/components/messages/checkpoint"}
    parts["rejected"][1]["messages"].append({"$ref": "#/channels/rejected/messages/checkpoint"})
    return parts


CHECKPOINT_MESSAGE = {
    "name": "checkpoint", "title": "audit checkpoint", "contentType": "application/json",
    "summary": "A signed checkpoint of one audit chain (`type: checkpoint`); readers of rejections skip it.",
    "payload": {"$ref": REF.format(name="Checkpoint")},
    "bindings": _key("the checkpoint's `chain`"),
}


def document() -> dict[str, Any]:
    data, components = _schemas()
    parts = {name: _provider_parts(name, data[name]) for name in sorted(REGISTRY)}
    parts.update(_fixed_parts())
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "webhook-gateway topics",
            "version": __version__,
            "description": "Inbound webhooks, verified and mapped to CloudEvents 1.0 envelopes "
                           "(structured JSON mode). Consumers: see docs/consumers.md; the rules "
                           "for evolving these shapes: docs/envelope-versioning.md.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {"kafka": {"host": "{bootstrap}", "protocol": "kafka",
                              "description": "The Kafka cluster of `kafka.bootstrap_servers`.",
                              "variables": {"bootstrap": {"default": "127.0.0.1:9092"}}}},
        "channels": {name: channel for name, (channel, _, _) in parts.items()},
        "operations": {f"publish.{name}": operation for name, (_, operation, _) in parts.items()},
        "components": {
            "schemas": {**components, "RecordHeaders": _header_schema()},
            "messages": {**{message["name"]: message for _, _, message in parts.values()},
                         "checkpoint": CHECKPOINT_MESSAGE},
        },
    }
