"""The models a configuration file is made of: its sections (listen, kafka, storage, admin, limits),
the secret references, and what every source shares (`SourceConfig`, `SignedSourceConfig`, the
`auth:` block).

Each provider's source model extends these (gateway.providers), and the root model in
gateway.config puts them together; so this module imports no provider, and nothing here knows
which providers exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PlainSerializer,
    ValidationInfo,
    WrapValidator,
    field_validator,
)

from gateway import secrets
from gateway.secrets import Secret

DEFAULT_MAX_BODY_BYTES = 1_048_576


def _secret(value: Any, handler: Any, info: ValidationInfo) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ValueError("a secret is a string: env:NAME, file:/path or the value itself")
    secret, literal = secrets.resolve(value)
    if literal and info.context is not None:
        info.context.setdefault("literal_secrets", []).append(info.field_name)
    return secret


SecretValue = Annotated[
    Secret,
    WrapValidator(_secret),
    PlainSerializer(lambda s: secrets.describe(s.ref), return_type=str),
]
# One secret or several (rotation: any may match; the first is the one samples are signed with)...
OptionalSecrets = Annotated[
    list[SecretValue], BeforeValidator(lambda v: v if isinstance(v, list) else [v])]
# ... where none yet is allowed only if the provider hands the secret over first (Notion's token).
SecretList = Annotated[OptionalSecrets, Field(min_length=1)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Listen(Model):
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535)


KAFKA_SECRET_OPTIONS = ("sasl_plain_password", "ssl_password")


class KafkaSettings(BaseModel):
    """Known options, plus kafka-python producer options passed through (security_protocol, sasl_*...)."""

    model_config = ConfigDict(extra="allow", frozen=True, arbitrary_types_allowed=True)

    bootstrap_servers: list[str] = Field(default_factory=lambda: ["127.0.0.1:9092"], min_length=1)
    topic_prefix: str = Field("webhooks", pattern=r"^[A-Za-z0-9._-]+$")
    ack_timeout_ms: int = Field(2000, ge=1, le=120_000)
    # The producer library: kafka-python (default, pure Python) or confluent-kafka (librdkafka, an
    # optional install: about a tenth of the CPU per record; docs/benchmarks.md).
    client: Literal["kafka-python", "confluent-kafka"] = "kafka-python"
    # Where the producer runs under `serve`: one process per host beside the workers (default; the
    # client's per-record CPU leaves the workers' cores, gateway.publish.process), or in each worker.
    publisher: Literal["process", "worker"] = "process"
    # The producer options that are credentials: secret references like any other secret, so they
    # can come from env:/file: and never show in repr() or logs.
    sasl_plain_password: SecretValue | None = None
    ssl_password: SecretValue | None = None

    @property
    def producer_options(self) -> dict[str, Any]:
        options = dict(self.model_extra or {})
        for name in KAFKA_SECRET_OPTIONS:
            secret = getattr(self, name)
            if secret is not None:
                options[name] = secret.reveal().decode()
        return options


class Storage(Model):
    path: Path = Path("./var")  # spool, dedupe window (gateway.db), audit log
    # Longer than any seed provider's retry schedule (TLAS retries for 24 h, IOF for 2 h).
    dedupe_window_secs: int = Field(72 * 3600, ge=60)
    # Past it, the oldest marks go, by whole seconds, down to 90 % of it (gateway.store).
    dedupe_max_entries: int = Field(5_000_000, ge=1000)
    # The event history (GET /admin/events, replay): rows older than this, or beyond the count, go.
    history_retention_secs: int = Field(7 * 86400, ge=60)
    history_max_rows: int = Field(100_000, ge=100)


class Admin(Model):
    token: SecretValue | None = None
    enabled: bool = True  # the admin API is off without a token, or with `enabled: false`


class Audit(Model):
    """The audit trail's hash chains and signed checkpoints (SECURITY.md, "Verifying the audit
    trail"). Read at start-up only."""

    replica: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]+$")  # names new chains; default: host name
    # An Ed25519 private key in PEM (`webhook-gateway audit keygen`: auditors verify with the public
    # key alone) or an HMAC-SHA256 secret of 16+ bytes; none: chains without checkpoints.
    checkpoint_key: SecretValue | None = None
    checkpoint_every_secs: float = Field(60.0, gt=0)
    checkpoint_every_records: int = Field(10_000, ge=1)

    @field_validator("checkpoint_key")
    @classmethod
    def _usable(cls, value: Secret | None) -> Secret | None:
        if value is not None:
            from gateway.auditchain import key_from_secret

            key_from_secret(value.reveal())  # raises ValueError naming the problem, never the value
        return value


class Bucket(Model):
    """A token bucket: `rate_per_sec` sustained, up to `burst` at once."""

    rate_per_sec: float = Field(gt=0)
    burst: int = Field(ge=1)


class RateLimit(Model):
    """`per_client` is checked before verification, per source and client address: only the
    address's own requests spend it. `per_source` counts authenticated events only, after
    verification, so failed requests never spend it; off by default, since a provider
    redelivering a backlog bursts legitimately and a 429 only delays it. `null` turns a bucket off."""

    per_source: Bucket | None = None
    per_client: Bucket | None = Bucket(rate_per_sec=100, burst=200)


class Limits(Model):
    """Abuse limits for every source (a source may override `rate_limit`); see SECURITY.md."""

    rate_limit: RateLimit = RateLimit()
    # Failed verifications an address may make: past the burst its failures are answered 429
    # (and audited in aggregate) until a token refills. Its valid events still get through.
    failed_auth: Bucket | None = Bucket(rate_per_sec=1, burst=20)
    read_timeout_secs: float = Field(10.0, gt=0, le=600)  # headers + body must arrive within it
    # Request line + headers, enforced while they arrive: over it, 431 and the connection closed.
    max_header_bytes: int = Field(65_536, ge=1024, le=16 * 1_048_576)
    max_connections: int = Field(1000, ge=1)  # uvicorn's limit_concurrency: beyond it, 503
    max_clients_tracked: int = Field(100_000, ge=100)  # per-address buckets kept (LRU)


class NoneAuth(Model):
    type: Literal["none"]


class ApiKeyAuth(Model):
    type: Literal["api_key"]
    header: str = "X-API-Key"
    scheme: str | None = None  # e.g. "ApiKey" for `Authorization: ApiKey <key>`
    key: SecretList


class BasicAuth(Model):
    type: Literal["basic"]
    username: str
    password: SecretList


Auth = Annotated[NoneAuth | ApiKeyAuth | BasicAuth, Field(discriminator="type")]


class SourceConfig(Model):
    """What every source accepts; providers subclass it with their own options."""

    provider: str
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1, le=64 * 1_048_576)
    tolerance_secs: int = Field(300, ge=1)
    topic: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]+$")
    events: list[str] | None = None  # glob allowlist over the event type (after `{provider}.`)
    tenant: str | None = None
    max_age_secs: int | None = Field(None, ge=1)  # replay protection over the signed event time
    rate_limit: RateLimit | None = None  # default: the top-level `limits.rate_limit`
    allow_cidrs: list[IPvAnyNetwork] | None = None  # client addresses allowed; default: any
    # Rotation: a secret other than the first still matching this long after the first was first
    # seen matching is logged (old_secret_still_used; gateway.rotation).
    secret_overlap_secs: int = Field(7 * 86400, ge=60)
    # A delivery whose id was accepted before with another body (audited as `id_conflict`):
    # answered as a duplicate (record), refused with 409 (reject), or published as a new event
    # whose id is the body's SHA-256 (publish).
    on_id_conflict: Literal["record", "reject", "publish"] = "record"


class SignedSourceConfig(SourceConfig):
    """A provider that signs with a shared secret; several secrets allow rotation."""

    secrets: SecretList
