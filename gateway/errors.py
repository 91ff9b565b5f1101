"""The fixed sets of codes shared by HTTP answers, audit records, logs and (later) metrics.

Raw exception text never leaves the process as a code: everything observable is one of these.
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


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the file and the place."""
