"""A preset: a provider known by name, written as data over the schemes and the mapping we have.

Most SaaS providers sign with an HMAC whose parameters differ (header, prefix, encoding, what is
signed, where the timestamp is) and put the event's id, type and subject somewhere in the body or a
header. A `Preset` says those things; `provider()` turns it into a registered `Provider` with the
generic HMAC verifier (`gateway.verify.hmac.HmacSpec`), a shared-token or Basic check, or a
non-HMAC verifier module (`gateway.verify.ed25519`, `gateway.verify.ecdsa`). The catalogue of
presets is `gateway/providers/catalogue/`; docs/providers.md says how to add one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import secrets as _random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from pydantic import Field, create_model, field_validator

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.outcome import Reply
from gateway.providers import generic
from gateway.providers.base import CannotSign, Extract, Fields, Payload, Provider, text
from gateway.settings import OptionalSecrets, SecretValue, SignedSourceConfig
from gateway.verify import Detail, Reject, Verifier, credentials, guarded
from gateway.verify.hmac import HmacSpec, check_tolerance, whsec_key

_json = msgspec.json.Decoder(float_hook=float).decode

# How the configured secret becomes the HMAC key.
KEYS: dict[str, Callable[[bytes], bytes]] = {
    "raw": lambda secret: secret,
    "base64": lambda secret: base64.b64decode(secret, validate=True),  # Airtable's macSecretBase64
    "whsec": whsec_key,  # Standard Webhooks (Svix): `whsec_<base64>`
}


@dataclass(frozen=True)
class Mapping:
    """Where the envelope's fields are: JSON Pointers into the body, or `header:NAME`.

    `type` lists alternatives (the first present wins); `action`, when present, is appended with a
    dot (`issues` + `opened`). `id`, `subject`, `time` and `tenant` take the first present; no id
    means the body's SHA-256.
    """

    type: tuple[str, ...] = ()
    action: str | None = None
    usual_action: str | None = None  # an action not appended: Twitch's `notification`
    default_type: str | None = None
    id: tuple[str, ...] = ()
    subject: tuple[str, ...] = ()
    time: tuple[str, ...] = ()
    tenant: tuple[str, ...] = ()

    def extract(self) -> Extract:
        kinds = [generic._getter(ref) for ref in self.type]
        action = generic._getter(self.action)
        ids, subjects, times, tenants = ([generic._getter(ref) for ref in refs] for refs in (
            self.id, self.subject, self.time, self.tenant))
        default, usual = self.default_type, self.usual_action

        def first(getters: list[generic.Getter], payload: Payload, headers: Headers) -> object:
            for get in getters:
                found = get(payload, headers)
                if found is not None and found != "":
                    return found
            return None

        def extract(payload: Payload, headers: Headers) -> Fields:
            kind = text(first(kinds, payload, headers)) or default
            verb = text(action(payload, headers)) if kind else None
            if verb is not None and verb == usual:
                verb = None
            return Fields(
                type=f"{kind}.{verb}" if kind and verb else kind,
                id=text(first(ids, payload, headers)),
                subject=text(first(subjects, payload, headers)),
                time=generic._time(first(times, payload, headers)),
                tenant=text(first(tenants, payload, headers)),
            )

        return extract


# A sample: (body, headers the sender adds besides its signature). Tokens in either are filled
# in by `fill`: $ID (fresh hex), $UUID, $NOW (unix s), $NOW_MS, $NOW_ISO.
Sample = tuple[str, dict[str, str]]


def sample(body: str, **headers: str) -> Sample:
    return body, {name.replace("_", "-"): value for name, value in headers.items()}


def fill(template: str, now: float, fresh: dict[str, str]) -> str:
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".000Z"
    for token, value in (("$NOW_MS", str(int(now * 1000))), ("$NOW_ISO", iso),
                         ("$NOW", str(int(now))), ("$UUID", fresh["uuid"]), ("$ID", fresh["id"])):
        template = template.replace(token, value)
    return template


@dataclass(frozen=True)
class Preset:
    name: str
    title: str  # the provider as people call it, for docs/providers.md and check-config
    docs: str  # where the scheme is documented (URL)
    mapping: Mapping
    samples: dict[str, Sample]
    # exactly one of: hmac (with `key`), token (a header holding a shared secret), basic (user name
    # in `username:`, passwords in `secrets:`), or verifier (a non-HMAC module's factory)
    hmac: HmacSpec | None = None
    key: str = "raw"
    header_format: str = "{prefix}{sig}"  # the signature header as sent: `t={t},v1={sig}` ...
    fixed: tuple[tuple[str, str], ...] = ()  # template placeholder -> the source option holding it
    token: str | None = None
    token_scheme: str | None = None  # `Authorization: Bearer <token>`
    basic: bool = False
    verifier: Callable[[Any], Verifier] | None = None
    signer: Callable[[Any, bytes, float], dict[str, str]] | None = None  # with `verifier`
    # with `verifier`, where the signature is inside the body (Adyen, Mailgun): signs a sample's body
    body_signer: Callable[[Any, bytes, float], bytes] | None = None
    secret_check: Callable[[bytes], object] | None = None  # with `verifier`: raises ValueError
    tolerance_secs: int = 300
    # a JSON Pointer to a signed timestamp in the body (Linear's `webhookTimestamp`, unix ms),
    # checked after the signature against `tolerance_secs`, like a signed header's
    body_timestamp: str | None = None
    batch: bool = False  # the body is a JSON array of events (SendGrid), carried as one envelope
    form: bool = False  # a form body is a payload, published as its JSON object (Twilio)
    # the mapping as code, where pointers cannot say it (a type built from which SID is present)
    extract: Extract | None = None
    # more source options: name -> pydantic (type, default), e.g. Adyen's optional `basic:`
    options: dict[str, Any] = field(default_factory=dict)
    scheme: str = ""  # the authscheme on the envelope; default from the kind of check
    handshake: Callable[[Any, Headers, bytes], Reply | None] | None = None
    handshake_on_get: bool = False  # it comes as a GET (Okta)
    # a verification token sent unsigned (Notion): kept for the operator; with it, `secrets:` may
    # be empty until the token is known (gateway.tokens)
    unsigned_token: Callable[[Any, Headers, bytes], str | None] | None = None
    proof: Callable[[Any, Headers, bytes], Reply | None] | None = None  # X's CRC (unsigned)
    handshake_doc: str = ""  # what the handshake is, for the catalogue table
    checked: str = ""  # how the preset was checked: the SDK, or the documented vector
    extra: dict[str, Any] = field(default_factory=dict)  # payload-independent notes for docs


def _scheme(preset: Preset) -> str:
    if preset.scheme:
        return preset.scheme
    if preset.hmac is not None:
        return f"hmac-{preset.hmac.algorithm}"
    return "basic" if preset.basic else "api_key"


def config_model(preset: Preset) -> type[SignedSourceConfig]:
    decode = KEYS[preset.key] if preset.hmac is not None else preset.secret_check

    def keys_decode(cls: type, secrets: list[Any]) -> list[Any]:
        for index, secret in enumerate(secrets):
            try:
                if decode is not None:
                    decode(secret.reveal())
            except (ValueError, binascii.Error) as exc:
                raise ValueError(f"secret {index + 1} ({secret.ref}): {exc}") from None
        return secrets

    options: dict[str, Any] = {name: (str, ...) for _, name in preset.fixed}
    options.update(preset.options)
    if preset.basic:
        options["username"] = (str, ...)
    if preset.verifier is not None:  # public-key schemes: `send` needs a test key pair's private key
        options["sample_signing_key"] = (SecretValue | None, None)
    if preset.unsigned_token is not None:  # no secret until the operator has the token (Notion)
        options["secrets"] = (OptionalSecrets, Field(default_factory=list))
    model = create_model(
        f"{preset.name.title().replace('-', '')}Config",
        __base__=SignedSourceConfig,
        __validators__={"_keys": field_validator("secrets")(keys_decode)},
        tolerance_secs=(int, Field(preset.tolerance_secs, ge=1)),
        **options,
    )
    return model


def verifier(preset: Preset) -> Callable[[Any], Verifier]:
    scheme = _scheme(preset)

    def build(cfg: Any) -> Verifier:
        if preset.verifier is not None:
            return preset.verifier(cfg)
        raw = [secret.reveal() for secret in cfg.secrets]
        if preset.token is not None:
            return credentials.api_key(preset.token, raw, preset.token_scheme)
        if preset.basic:
            return credentials.basic(cfg.username.encode(), raw)
        assert preset.hmac is not None
        keys = [KEYS[preset.key](secret) for secret in raw]
        mac = dataclasses.replace(preset.hmac, tolerance_secs=cfg.tolerance_secs)
        fixed = {placeholder: getattr(cfg, option) for placeholder, option in preset.fixed}
        if preset.body_timestamp is None:
            return guarded(scheme, lambda headers, body, now: mac.check(headers, body, now, keys,
                                                                        fixed))
        stamped = _body_stamp(preset.body_timestamp, cfg.tolerance_secs)

        def check(headers: Headers, body: bytes, now: float) -> int:
            slot = mac.check(headers, body, now, keys, fixed)
            stamped(body, now, slot)
            return slot

        return guarded(scheme, check)

    return build


def _body_stamp(pointer: str, tolerance_secs: float) -> Callable[[bytes, float, int], None]:
    """The body's signed timestamp (unix ms) within tolerance of now. A body without one passes:
    the provider did not send it (it is signed, so nobody removed it), and refusing would refuse
    every such delivery; one that is not a whole number is a bad signature."""
    get = generic._getter(pointer)

    def check(body: bytes, now: float, slot: int) -> None:
        try:
            payload = _json(body)
        except (msgspec.DecodeError, RecursionError):
            return  # not JSON: the mapper dead-letters it; no timestamp to check
        found = get(payload, Headers({})) if isinstance(payload, dict) else None
        if found is None:
            return
        if type(found) is not int:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.TIMESTAMP_MALFORMED, slot=slot)
        check_tolerance(str(found), now, tolerance_secs, "unix_ms", slot)

    return check


def _stamp(form: str, now: float) -> str:
    if form == "unix_ms":
        return str(int(now * 1000))
    if form == "rfc3339":
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".000000000Z"
    return str(int(now))


def signer(preset: Preset) -> Callable[[Any, bytes, float], dict[str, str]]:
    """How the provider signs: `webhook-gateway send` and the tests' round trips use it."""

    def sign(cfg: Any, body: bytes, now: float) -> dict[str, str]:
        if preset.signer is not None:
            return preset.signer(cfg, body, now)
        if not cfg.secrets:
            raise CannotSign(f"no secret configured yet to sign a {preset.title} sample with")
        secret = cfg.secrets[0].reveal().decode("latin-1")
        if preset.token is not None:
            scheme = f"{preset.token_scheme} " if preset.token_scheme else ""
            return {preset.token: scheme + secret}
        if preset.basic:
            return credentials.basic_header(cfg.username.encode("latin-1"),
                                            cfg.secrets[0].reveal())
        mac = preset.hmac
        assert mac is not None
        values: dict[str, str] = {placeholder: getattr(cfg, option)
                                  for placeholder, option in preset.fixed}
        headers: dict[str, str] = {}
        for placeholder, header in mac.headers:
            stamp = placeholder == mac.timestamp
            headers[header] = _stamp(mac.timestamp_format, now) if stamp else str(uuid.uuid4())
        if mac.timestamp is not None and mac.timestamp not in dict(mac.headers):
            values[mac.timestamp] = _stamp(mac.timestamp_format, now)
        key = KEYS[preset.key](cfg.secrets[0].reveal())
        sig = mac.sign(key, body, Headers(headers), values)
        headers[mac.header] = preset.header_format.format(prefix=mac.prefix, sig=sig, **values)
        return headers

    return sign


def samples(preset: Preset) -> dict[str, Callable[[float], bytes]]:
    def build(body: str) -> Callable[[float], bytes]:
        return lambda now: fill(body, now, _fresh()).encode()

    return {event: build(body) for event, (body, _) in preset.samples.items()}


def _fresh() -> dict[str, str]:
    return {"id": _random.token_hex(8), "uuid": str(uuid.uuid4())}


def sample_headers(preset: Preset, event: str, now: float) -> dict[str, str]:
    """The unsigned headers of a sample (event name, delivery id), filled like its body."""
    fresh = _fresh()
    return {name: fill(value, now, fresh) for name, value in preset.samples[event][1].items()}


def credential_headers(preset: Preset) -> tuple[str, ...]:
    if preset.hmac is not None:
        return (preset.hmac.header, *preset.hmac.aliases)
    if preset.token is not None:
        return (preset.token,)
    if preset.basic:
        return ("Authorization",)
    return tuple(preset.extra.get("credential_headers", ()))


def provider(preset: Preset) -> Provider:
    return Provider(
        name=preset.name,
        config=config_model(preset),
        verifier=verifier(preset),
        extract=preset.extract or preset.mapping.extract(),
        sign=signer(preset),
        samples=samples(preset),
        sample_headers=lambda event, now: sample_headers(preset, event, now),
        payload=list if preset.batch else dict,  # any object (array) with a type maps
        credential_headers=lambda cfg: credential_headers(preset),
        handshake=preset.handshake,
        handshake_on_get=preset.handshake_on_get,
        unsigned_token=preset.unsigned_token,
        proof=preset.proof,
        batch=preset.batch,
        form=preset.form,
        sign_body=preset.body_signer,
    )
