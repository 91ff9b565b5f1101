"""A provider's payload type as the gateway publishes it, made from the type its documents give.

The mapper needs only the event type (DESIGN.md: an unknown or oddly typed optional field is never
a reason to refuse an authenticated event), so a field the provider documents can reach the topic
holding any JSON. A payload type stricter than that would fail consumers on events the gateway
published (tests/property/test_accepted_payloads.py). So the published type, the one in
schemas/providers/ and `gateway.consumer.typed_data`'s, keeps every documented field by name,
optional, any JSON, its documented type in its description; the event type's field is typed as the
mapper checks it. The documented type stays in the provider's module for a consumer who wants it
strict (`gateway.consumer.data_as(envelope, iof.Event)`, which raises on a mismatch).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import inspect

# What the mappers read an event type from (gateway.providers.base.text): non-empty text or a number.
EVENT_TYPE: Any = Annotated[str, msgspec.Meta(min_length=1)] | int | float


def published(documented: Any, doc: str, **checked: Any) -> type[msgspec.Struct]:
    """`documented`: a Struct, or a union of tagged Structs (their fields merged). `checked`: the
    fields the mapper does check, with the type it checks (required when documented so)."""
    infos = inspect.type_info(documented)
    structs = infos.types if isinstance(infos, inspect.UnionType) else (infos,)
    fields: dict[str, Any] = {}
    for struct in structs:
        assert isinstance(struct, inspect.StructType), documented
        if struct.tag_field is not None and struct.tag_field not in fields:
            tags = ", ".join(repr(getattr(each, "tag", None)) for each in structs)
            meta = msgspec.Meta(description=f"documented as one of {tags}")
            kind = _annotated(checked.get(struct.tag_field, Any), meta)
            fields[struct.tag_field] = ((struct.tag_field, kind) if struct.tag_field in checked
                                        else (struct.tag_field, kind, None))
        for info in struct.fields:
            if info.encode_name in fields:
                continue
            always = " (always sent)" if info.required else ""
            meta = msgspec.Meta(description=f"documented as {describe(info.type)}{always}")
            kind = _annotated(checked.get(info.name, Any), meta)
            required = info.name in checked and info.required
            fields[info.encode_name] = (info.encode_name, kind) if required else (
                info.encode_name, kind, None)
    ordered = sorted(fields.values(), key=len)  # required fields first, as Python wants
    # named as the documented type was, so the schemas' titles stay
    made = msgspec.defstruct(getattr(documented, "__name__", "Event"), ordered,
                             module=getattr(documented, "__module__", __name__))
    made.__doc__ = doc
    return made


def _annotated(kind: Any, meta: msgspec.Meta) -> Any:
    return Annotated[kind, meta]


def describe(info: inspect.Type) -> str:
    """A documented type in words, for the published type's descriptions."""
    if isinstance(info, inspect.UnionType):
        return " or ".join(describe(each) for each in info.types)
    if isinstance(info, inspect.StructType):
        inner = ", ".join(f"`{f.encode_name}` ({describe(f.type)})" for f in info.fields)
        return f"an object with {inner}" if inner else "an object"
    if isinstance(info, inspect.ListType):
        return f"a list of {describe(info.item_type)}"
    if isinstance(info, inspect.LiteralType):
        return "one of " + ", ".join(repr(value) for value in info.values)
    if isinstance(info, inspect.Metadata):
        return describe(info.type)
    return _WORDS.get(type(info), "any JSON")


_WORDS: dict[type, str] = {inspect.StrType: "text", inspect.IntType: "an integer",
                           inspect.FloatType: "a number", inspect.BoolType: "true or false",
                           inspect.NoneType: "null", inspect.DictType: "an object"}
