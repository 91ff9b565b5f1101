"""`provider: generic`: an HMAC (or API key / Basic / none) provider from configuration alone.

A source declares how requests are authenticated, either `hmac:` (the generic HMAC scheme that the
built-in providers are parameters over) or `auth:` (the same block as azakaw's), and a `mapping:`
saying where the envelope's fields are: a JSON Pointer into the body (`/data/object/id`) or a
header (`header:X-Acme-Event`). Every pointer is parsed at start-up, so a typo is a config error.
See docs/providers.md for a complete example.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from gateway import pointer
from gateway.headers import Headers
from gateway.providers import azakaw
from gateway.providers.base import Extract, Fields, Payload, Provider, new_id, text
from gateway.settings import Auth, Model, SecretList, SourceConfig
from gateway.verify import Verifier, guarded
from gateway.verify.hmac import HmacSpec

HEADER_REF = "header:"
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an HTTP header name (RFC 9110 token)
_BRACES = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^[a-z_]+$")


def _header_name(name: str) -> str:
    if not _TOKEN.match(name):
        raise ValueError(f"{name!r} is not an HTTP header name")
    return name


def _field_ref(ref: str) -> str:
    """`header:NAME` or a JSON Pointer; raises ValueError naming what is wrong."""
    if ref.startswith(HEADER_REF):
        _header_name(ref[len(HEADER_REF):])
        return ref
    try:
        pointer.parse(ref)
    except ValueError as exc:
        raise ValueError(f"{exc}, or header:NAME for a header") from None
    return ref


HeaderName = Annotated[str, AfterValidator(_header_name)]
FieldRef = Annotated[str, AfterValidator(_field_ref)]


class HmacOptions(Model):
    header: HeaderName
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""  # e.g. `sha256=`; optional on each signature
    template: str = "{body}"  # what is signed: `{body}`, `{timestamp}.{body}`, ...
    # placeholder -> header; the `timestamp` placeholder is checked against tolerance_secs
    headers: dict[str, HeaderName] = {}

    @model_validator(mode="after")
    def _template(self) -> Self:
        names = _BRACES.findall(self.template)
        bad = [name for name in names if not _NAME.match(name)]
        if bad:
            raise ValueError(f"template placeholder {{{bad[0]}}} is not a lower-case name")
        if names.count("body") != 1:
            raise ValueError("the template must contain {body} exactly once "
                             "(the signature must cover the body)")
        missing = [name for name in names if name != "body" and name not in self.headers]
        if missing:
            raise ValueError(f"template placeholder {{{missing[0]}}} needs a header: "
                             f"headers: {{{missing[0]}: Header-Name}}")
        unused = [name for name in self.headers if name not in names]
        if unused:
            raise ValueError(f"headers.{unused[0]} is not used by the template {self.template!r}")
        return self


class Mapping(Model):
    type: FieldRef | None = "/type"
    type_prefix: str = ""  # fixed, prepended: `acme.` -> `generic.acme.payment.succeeded`
    default_type: str | None = None  # when the type is absent (else the payload is dead-lettered)
    id: FieldRef | None = None  # absent: the SHA-256 of the body
    subject: FieldRef | None = None
    time: FieldRef | None = None  # ISO 8601 or unix seconds/milliseconds; absent: received time
    tenant: FieldRef | None = None

    @field_validator("type_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and value[-1] not in "._-:/":
            raise ValueError(f"end the prefix with a separator, e.g. {value + '.'!r}")
        return value

    @model_validator(mode="after")
    def _some_type(self) -> Self:
        if self.type is None and self.default_type is None:
            raise ValueError("set `type` (where the event type is) or `default_type`")
        return self


class Config(SourceConfig):
    secrets: SecretList | None = None  # the HMAC keys, with `hmac:`
    hmac: HmacOptions | None = None
    auth: Auth | None = None
    mapping: Mapping = Field(default_factory=Mapping)

    @model_validator(mode="after")
    def _one_scheme(self) -> Self:
        if (self.hmac is None) == (self.auth is None):
            raise ValueError("set exactly one of `hmac:` (with `secrets:`) and `auth:`")
        if self.hmac is not None and self.secrets is None:
            raise ValueError("`hmac:` needs `secrets:` (one or more; any may match)")
        if self.auth is not None and self.secrets is not None:
            raise ValueError("`secrets:` belongs with `hmac:`; "
                             "`auth:` holds its own key or password")
        return self


def spec(cfg: Config) -> HmacSpec:
    options = cfg.hmac
    assert options is not None
    return HmacSpec(
        header=options.header,
        algorithm=options.algorithm,
        encodings=(options.encoding,),
        prefix=options.prefix,
        template=options.template,
        headers=tuple(options.headers.items()),
        timestamp="timestamp" if "timestamp" in options.headers else None,
        tolerance_secs=cfg.tolerance_secs,
        commas="," not in options.prefix,  # a `v1,` prefix: signatures are separated by spaces
    )


def verifier(cfg: Config) -> Verifier:
    if cfg.hmac is None:
        return azakaw.verifier(cfg)  # type: ignore[arg-type]  # any config with `auth:`
    assert cfg.secrets is not None
    keys = [secret.reveal() for secret in cfg.secrets]
    mac = spec(cfg)
    return guarded(f"hmac-{mac.algorithm}",
                   lambda headers, body, now: mac.check(headers, body, now, keys))


Getter = Callable[[Payload, Headers], object]


def _getter(ref: str | None) -> Getter:
    if ref is None:
        return lambda payload, headers: None
    if ref.startswith(HEADER_REF):
        name = ref[len(HEADER_REF):]
        return lambda payload, headers: headers.get(name)
    tokens = pointer.parse(ref)
    return lambda payload, headers: pointer.resolve(payload, tokens)


def _time(value: object) -> object:
    # A header, or a body string, holding unix seconds: gateway.map reads numbers as unix time.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 13:
        return int(value)
    return value


def extractor(cfg: Config) -> Extract:
    return _mapped(cfg.mapping)


def _mapped(mapping: Mapping) -> Extract:
    kind, ident, subject, when, tenant = (_getter(ref) for ref in (
        mapping.type, mapping.id, mapping.subject, mapping.time, mapping.tenant))

    def extract(payload: Payload, headers: Headers) -> Fields:
        found = text(kind(payload, headers)) or mapping.default_type
        return Fields(
            type=mapping.type_prefix + found if found else None,
            id=text(ident(payload, headers)),
            subject=text(subject(payload, headers)),
            time=_time(when(payload, headers)),
            tenant=text(tenant(payload, headers)),
        )

    return extract


def sign(cfg: Config, body: bytes, now: float) -> dict[str, str]:
    if cfg.hmac is None:
        return azakaw.sign(cfg, body, now)  # type: ignore[arg-type]
    assert cfg.secrets is not None
    headers = {header: str(int(now)) if name == "timestamp" else new_id("msg_")
               for name, header in cfg.hmac.headers.items()}
    signature = spec(cfg).sign(cfg.secrets[0].reveal(), body, Headers(headers))
    return {**headers, cfg.hmac.header: cfg.hmac.prefix + signature}


def credential_headers(cfg: Config) -> tuple[str, ...]:
    if cfg.hmac is None:
        return azakaw.credential_headers(cfg)  # type: ignore[arg-type]
    return (cfg.hmac.header,)


PROVIDER = Provider(
    name="generic",
    config=Config,
    verifier=verifier,
    extract=_mapped(Mapping()),  # the defaults: the type at /type
    extractor=extractor,
    sign=sign,
    samples={},  # the body's shape is the sender's own; post real deliveries
    credential_headers=credential_headers,
)
