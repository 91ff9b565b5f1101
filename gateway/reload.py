"""Reload without restart: SIGHUP or POST /admin/reload re-reads the configuration file.

The new file is loaded and validated, and everything derived from it built by the same function
as at start-up (gateway.runtime: sources with their secrets bound, limits, the audit redaction,
trusted proxies), before anything changes; then the pipeline's runtime is replaced in one
assignment. A request already under way finishes with the runtime it started with; the next one
sees the new one. A file that cannot be used changes nothing: the old configuration keeps serving
and the message says what is wrong.

What a reload applies: `sources:`, `limits.rate_limit`, `limits.failed_auth`,
`limits.max_clients_tracked` and `trusted_proxies` (the limits start with full buckets). The rest
(`runtime.RESTART_ONLY`: listen, kafka, storage, admin and uvicorn's own limits) is read at
start-up only; a reload that changes it says so (`restart_required`) and applies the rest.

With several workers each process reloads itself: the supervisor forwards SIGHUP to every worker
(gateway.commands.serve), and POST /admin/reload on one worker signals the supervisor likewise.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass

from gateway import logs
from gateway.audit import secret_values
from gateway.config import Config, load_config
from gateway.errors import ConfigError, GatewayError
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.runtime import build, in_force, restart_required

log = logging.getLogger("gateway.reload")
WORKERS_ENV = "WEBHOOK_GATEWAY_WORKERS"


class ReloadError(GatewayError):
    """The new configuration was refused; the message says why (never a secret's value)."""


@dataclass(frozen=True)
class Reloaded:
    sources: list[str]
    restart_required: list[str]
    warnings: list[str]


class Reloader:
    def __init__(self, config: Config, pipeline: Pipeline, metrics: Metrics | None = None) -> None:
        self.config = config
        self.pipeline = pipeline
        self.metrics = metrics

    def reload(self) -> Reloaded:
        """Apply the file's sources, or raise ReloadError and change nothing."""
        if self.config.path is None:
            raise ReloadError("reloading the configuration: the gateway was not started from a file")
        try:
            new = load_config(self.config.path)
            runtime = build(in_force(self.config, new))
        except ConfigError as exc:
            self._count("rejected")
            log.error("reloading the configuration: %s; the previous configuration keeps serving", exc,
                      extra={"event": "config_rejected"})
            raise ReloadError(f"reloading the configuration: {exc}") from None
        restart = restart_required(self.config, new)
        self.pipeline.runtime = runtime  # one assignment: each request sees the old or the new
        self.config = runtime.config
        sources = runtime.sources
        logs.redact_secrets(secret_values(new))
        self._count("ok")
        for warning in new.warnings:
            log.warning("config: %s", warning)
        log.info("configuration reloaded: %d source(s)%s", len(sources),
                 f"; restart to apply {', '.join(restart)}" if restart else "",
                 extra={"event": "config_reloaded", "sources": sorted(sources),
                        "restart_required": restart})
        return Reloaded(sorted(sources), restart, list(new.warnings))

    def on_signal(self) -> None:
        """SIGHUP: reload; a refusal is logged by reload() and changes nothing."""
        try:
            self.reload()
        except ReloadError:
            pass

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.reloads.labels(result).inc()


def tell_siblings() -> None:
    """With several workers, ask the supervisor to forward SIGHUP to every worker."""
    if int(os.environ.get(WORKERS_ENV, "1")) > 1:
        os.kill(os.getppid(), signal.SIGHUP)
