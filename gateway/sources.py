"""A configured source, built once from its config: the verifier with secrets bound, the mapper,
the topic and the event filter. This is what the pipeline works with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import partial

from gateway.config import Config
from gateway.headers import Headers
from gateway.outcome import Reply
from gateway.providers import REGISTRY
from gateway.providers.base import Fields, Payload
from gateway.settings import SourceConfig
from gateway.verify import Verifier


@dataclass(frozen=True)
class Source:
    name: str
    provider: str
    config: SourceConfig
    verify: Verifier
    extract: Callable[[Payload, Headers], Fields]
    topic: str
    credential_headers: frozenset[str]
    # event types answered 200 "ignored" whatever `events:` says (GitHub's `ping`)
    ignores: Callable[[str], bool] = lambda event_type: False
    # an authenticated endpoint handshake (Slack's url_verification) -> its JSON answer, else None
    handshake: Callable[[Headers, bytes], Reply | None] | None = None
    handshake_on_get: bool = False  # a GET is accepted, for the handshake only (Okta)
    # an unsigned verification token (Notion's) -> kept for the operator, before verification
    unsigned_token: Callable[[Headers, bytes], str | None] | None = None
    proof: Callable[[Headers, bytes], Reply | None] | None = None  # X's CRC, before verification
    batch: bool = False  # a JSON array of events is a payload (SendGrid), not unmappable
    form: bool = False  # a form body is a payload, published as its JSON object (Twilio)

    @property
    def path(self) -> str:
        return f"/webhooks/{self.name}"

    def accepts(self, event_type: str) -> bool:
        """The provider's own ignores (GitHub's `ping`), then the `events:` allowlist (if any)."""
        globs = self.config.events
        if self.ignores(event_type):
            return False
        return globs is None or any(fnmatchcase(event_type, glob) for glob in globs)


def build_sources(config: Config) -> dict[str, Source]:
    prefix = config.kafka.topic_prefix
    built = {}
    for name, cfg in config.sources.items():
        provider = REGISTRY[cfg.provider]
        built[name] = Source(
            name=name,
            provider=provider.name,
            config=cfg,
            verify=provider.verifier(cfg),
            extract=provider.extract_for(cfg),
            topic=cfg.topic or f"{prefix}.{provider.name}",
            credential_headers=frozenset(h.lower() for h in provider.credential_headers(cfg)),
            ignores=partial(provider.ignores, cfg),
            handshake=partial(provider.handshake, cfg) if provider.handshake else None,
            handshake_on_get=provider.handshake_on_get,
            unsigned_token=(partial(provider.unsigned_token, cfg) if provider.unsigned_token
                            else None),
            proof=partial(provider.proof, cfg) if provider.proof else None,
            batch=provider.batch,
            form=provider.form,
        )
    return built


def topics(config: Config) -> dict[str, str]:
    """Every topic the configuration implies -> what it carries."""
    prefix = config.kafka.topic_prefix
    found = {s.topic: "accepted events" for s in build_sources(config).values()}
    found[f"{prefix}.deadletter"] = "unmappable authenticated payloads"
    found[f"{prefix}.rejected"] = "audit records of rejected requests"
    return found
