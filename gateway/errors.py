"""The fixed sets of codes shared by HTTP answers, audit records, logs and metrics, and the root
of the gateway's own exceptions.

Raw exception text never leaves the process as a code: everything observable is one of these.

The gateway's exceptions, each defined where it is raised (tests/unit/test_errors.py checks that
every exception class in the package is in this tree):

    GatewayError                      gateway.errors: the root; `except GatewayError` catches ours only
     ├── ConfigError                  gateway.errors: an unusable configuration or command line;
     │                                  the commands print its message and exit 2
     ├── StoreError                   gateway.errors (gateway.store): the local store cannot take
     │                                  a write or cannot be opened (disk full, read-only, I/O)
     ├── ReloadError                  gateway.reload: a reload refused; the running one stays
     ├── QueryError (+ ValueError)    gateway.auditquery: an audit filter that cannot be understood
     ├── DuplicateHeader              gateway.headers: a header that must appear once, repeated
     ├── Reject                       gateway.verify: a failed check inside a verifier; never
     │                                  leaves it (`guarded` turns it into a Verdict)
     ├── DecodeError (+ ValueError)   gateway.consumer: a Kafka record that is not an envelope
     ├── Unavailable                  gateway.publish: not in Kafka (no broker, no ack in time,
     │                                  refused): the caller spools the event
     ├── AlreadyPublished             gateway.publish: a copy of the record's (source, id) was
     │                                  acknowledged on another worker: a duplicate, not sent
     ├── KafkaCompatError (+ RuntimeError) gateway.publish.kafka_compat: the installed
     │                                  kafka-python lacks what the gateway relies on
     ├── CannotSign                   gateway.providers.base: `send` has no key to sign a sample
     └── BrokerError (+ RuntimeError) gateway.dev.broker: the embedded development broker failed
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a request was rejected (DESIGN.md, audit record `reason`)."""

    UNKNOWN_SOURCE = "unknown_source"
    MISSING_SIGNATURE = "missing_signature"
    INVALID_SIGNATURE = "invalid_signature"
    INVALID_CREDENTIALS = "invalid_credentials"
    STALE_TIMESTAMP = "stale_timestamp"
    BODY_TOO_LARGE = "body_too_large"
    RATE_LIMITED = "rate_limited"
    IP_NOT_ALLOWED = "ip_not_allowed"
    MALFORMED_REQUEST = "malformed_request"
    # an authenticated delivery whose (source, id) was accepted before with another body
    ID_CONFLICT = "id_conflict"


class Unmappable(StrEnum):
    """Why an authenticated payload went to the dead-letter topic."""

    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    TOO_DEEP = "too_deep"
    MISSING_TYPE = "missing_type"


class Outcome(StrEnum):
    """What happened to one request; the `status` of a 2xx answer where it has one."""

    PUBLISHED = "published"
    DUPLICATE = "duplicate"
    SPOOLED = "spooled"
    DEADLETTERED = "deadlettered"
    IGNORED = "ignored"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"


class GatewayError(Exception):
    """The root of the gateway's own exceptions (the tree is in the module docstring)."""


class ConfigError(GatewayError):
    """A configuration file that cannot be used; the message names the file and the place."""


class StoreError(GatewayError):
    """The local store cannot take a write (disk full, read-only, I/O error) or be opened."""
