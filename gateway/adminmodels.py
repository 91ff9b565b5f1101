"""The admin API's request and response bodies (pydantic: what people read and write), and the
OpenAPI document generated from them (GET /admin/openapi.json). gateway.admin serves them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from gateway import __version__
from gateway.history import STATUSES, Event

Status = Literal["published", "spooled", "deadlettered", "duplicate"]
assert set(STATUSES) == set(Status.__args__)  # type: ignore[attr-defined]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(Body):
    error: str = Field(description="what went wrong, for a person; never a secret")


class EventSummary(Body):
    seq: int = Field(description="the history row (newer rows have larger numbers)")
    id: str = Field(description="the envelope id (what consumers dedupe on)")
    source: str
    type: str | None = Field(description="envelope type; null for a dead letter")
    subject: str | None
    status: Status
    topic: str
    partition: int | None = Field(description="Kafka partition, once acknowledged")
    offset: int | None = Field(description="Kafka offset, once acknowledged")
    received_at: str = Field(description="ISO 8601, UTC")
    published_at: str | None = Field(description="when Kafka acknowledged it, ISO 8601 UTC")
    replayed: bool = Field(description="this row is a republication by POST .../replay")
    secret_slot: int | None = Field(None, description="which configured secret or credential "
                                    "authenticated it: its position in the source's list (rotation)")

    @classmethod
    def of(cls, event: Event) -> EventSummary:
        return cls(seq=event.seq, id=event.id, source=event.source, type=event.type,
                   subject=event.subject, status=event.status,
                   topic=event.topic, partition=event.partition, offset=event.offset,
                   received_at=iso(event.received_at),
                   published_at=iso(event.published_at) if event.published_at else None,
                   replayed=event.replayed, secret_slot=event.secret_slot)


class EventList(Body):
    events: list[EventSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page")


class EventDetail(EventSummary):
    key: str = Field(description="the Kafka record key (UTF-8, undecodable bytes replaced)")
    headers: dict[str, str] = Field(description="the record's headers (ce_*, content-type)")
    record: Any = Field(description="the record value as stored: the CloudEvents envelope, or "
                                     "the dead-letter record")


class Replayed(Body):
    id: str
    status: Literal["published", "spooled"]
    topic: str
    partition: int | None
    offset: int | None


class SlotInfo(Body):
    slot: int = Field(description="position in the source's `secrets:` (or `key:`/`password:`), "
                                  "from 0; the value is never shown")
    last_matched_at: str | None = Field(description="when this secret last authenticated a "
                                                    "request, ISO 8601 UTC; null: not since start")


class SourceInfo(Body):
    name: str
    provider: str
    path: str = Field(description="where the provider posts: /webhooks/{name}")
    topic: str
    auth: str = Field(description="how requests are authenticated (a scheme name, no secret)")
    credentials: int = Field(description="how many secrets/keys are configured (rotation)")
    tenant: str | None
    events: list[str] | None = Field(description="the event-type allowlist, if any")
    max_body_bytes: int
    slots: list[SlotInfo] = Field(description="per configured secret, when it last matched: "
                                              "rotation (SECURITY.md)")


def slots(source: str, count: int, matched: Mapping[tuple[str, int], float]) -> list[SlotInfo]:
    return [SlotInfo(slot=slot, last_matched_at=iso(matched[(source, slot)])
                     if (source, slot) in matched else None) for slot in range(count)]


class SourceList(Body):
    sources: list[SourceInfo]


class Reloaded(Body):
    status: Literal["reloaded"]
    sources: list[str]
    restart_required: list[str] = Field(description="changed sections read only at start-up")
    warnings: list[str]


def model(body: BaseModel, status: int = 200) -> Response:
    return Response(body.model_dump_json(), status, media_type="application/json")


def error(message: str, status: int) -> Response:
    return model(Error(error=message), status)


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _param(name: str, where: str, description: str, schema: dict[str, Any],
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": description,
            "schema": schema}


def _answer(model: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "bad query: an unknown or invalid parameter", 401: "missing or wrong bearer token",
            404: "no such event"}
    return {str(code): _answer("Error", text[code]) for code in codes}


def openapi() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(m, "serialization") for m in (Error, EventList, EventDetail, Replayed, SourceList, Reloaded)],
        ref_template="#/components/schemas/{model}")
    string = {"type": "string"}
    since = _param("since", "query", "only newer: 30m, 1h, 7d or an ISO 8601 time",
                   {"anyOf": [{"type": "string", "pattern": "^[0-9]{1,5}[smhd]$"},
                              {"type": "string", "format": "date-time"}]})
    limit = _param("limit", "query", "at most this many (1-1000, default 100)",
                   {"type": "integer", "minimum": 1, "maximum": 1000})
    event_id = _param("id", "path", "the envelope id", {"type": "string", "pattern": "^[^/]+$"},
                      required=True)
    by_source = _param("source", "query", "the source, when two sources share an id", string)
    return {
        "openapi": "3.1.0",
        "info": {"title": "webhook-gateway admin API", "version": __version__},
        "components": {"schemas": defs["$defs"],
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/admin/events": {"get": {
                "summary": "the event history, newest first",
                "parameters": [_param("source", "query", "only this source", string),
                               _param("type", "query", "envelope type, exact or a glob with *", string),
                               _param("status", "query", "only this status",
                                      {"type": "string", "enum": list(STATUSES)}),
                               since, limit,
                               _param("cursor", "query", "next_cursor of the previous page",
                                      {"type": "string", "pattern": "^[0-9]{1,18}$"})],
                "responses": {"200": _answer("EventList", "events"), **_errors(400, 401)}}},
            "/admin/events/{id}": {"get": {
                "summary": "one event with its stored record",
                "parameters": [event_id, by_source],
                "responses": {"200": _answer("EventDetail", "the event"), **_errors(400, 401, 404)}}},
            "/admin/events/{id}/replay": {"post": {
                "summary": "republish the stored record (same envelope id, key and headers)",
                "parameters": [event_id, by_source],
                "responses": {"200": _answer("Replayed", "published: its new partition and offset"),
                              "202": _answer("Replayed", "Kafka unavailable: spooled, published later"),
                              **_errors(400, 401, 404),
                              "503": _answer("Error", "neither Kafka nor the spool can take it")}}},
            "/admin/sources": {"get": {
                "summary": "the configured sources, without secrets",
                "responses": {"200": _answer("SourceList", "sources"), **_errors(400, 401)}}},
            "/admin/reload": {"post": {
                "summary": "re-read the configuration file; a bad one changes nothing",
                "responses": {"200": _answer("Reloaded", "applied"),
                              "400": _answer("Error", "the new configuration was refused; the old "
                                                      "one keeps serving"), **_errors(401)}}},
        },
    }
