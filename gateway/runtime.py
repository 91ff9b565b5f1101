"""Everything the gateway derives from a configuration, built by one function into one immutable
object: the sources (verifiers with their secrets bound), the abuse limits, the auditor's
redaction (credential header names, secret values), the trusted proxies.

Start-up and reload both call `build()`, and a reload swaps the result in one assignment
(`Pipeline.runtime`), so nothing derived from the old file can be left behind: a request sees
the old configuration or the new one, whole. What only a restart applies (the listening socket,
the Kafka client, the store, uvicorn's limits) is listed in `RESTART_ONLY`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gateway.audit import Redaction, secret_values
from gateway.config import Config
from gateway.diagnose import Diagnosis
from gateway.limits import Limiter, Network
from gateway.sources import Source, build_sources

# Read once at start-up: changing these in the file takes a restart (`restart_required`).
RESTART_ONLY = ("listen", "kafka", "storage", "admin", "audit", "limits.read_timeout_secs",
                "limits.max_header_bytes", "limits.max_connections")


@dataclass(frozen=True)
class Runtime:
    config: Config
    sources: Mapping[str, Source]
    limiter: Limiter
    redaction: Redaction
    trusted_proxies: tuple[Network, ...]
    default_max_body_bytes: int  # for a request to an unknown source
    # the budget of failed signatures re-checked for a rewritten body (audit detail only)
    diagnosis: Diagnosis = field(default_factory=Diagnosis)


def build(config: Config) -> Runtime:
    sources = build_sources(config)
    limits = config.limits
    limiter = Limiter({name: s.rate_limit for name, s in config.sources.items()
                       if s.rate_limit is not None},
                      limits.rate_limit, limits.failed_auth, limits.max_clients_tracked)
    headers = frozenset().union(*(s.credential_headers for s in sources.values()))
    return Runtime(
        config=config,
        sources=MappingProxyType(sources),
        limiter=limiter,
        redaction=Redaction(headers, secret_values(config)),
        trusted_proxies=tuple(config.trusted_proxies),
        default_max_body_bytes=max(s.config.max_body_bytes for s in sources.values()),
    )


def restart_required(old: Config, new: Config) -> list[str]:
    """The settings that differ between two configurations but apply only at start-up."""
    changed = []
    for name in RESTART_ONLY:
        section, _, field = name.partition(".")
        before, after = getattr(old, section), getattr(new, section)
        if field:
            before, after = getattr(before, field), getattr(after, field)
        if before != after:
            changed.append(name)
    return changed


def in_force(old: Config, new: Config) -> Config:
    """`new` as a running gateway applies it: with `old`'s restart-only settings."""
    limits = new.limits.model_copy(update={
        name.split(".", 1)[1]: getattr(old.limits, name.split(".", 1)[1])
        for name in RESTART_ONLY if name.startswith("limits.")})
    return new.model_copy(update={"listen": old.listen, "kafka": old.kafka, "storage": old.storage,
                                  "admin": old.admin, "limits": limits})
