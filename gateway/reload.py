"""Reload without restart: SIGHUP or POST /admin/reload re-reads the configuration file.

The new file is loaded and validated, and every source built from it (verifiers with their
secrets bound), before anything changes; then the pipeline's source map is replaced in one
assignment. A request already past its source lookup finishes with the source it looked up; the
next one sees the new map. A file that cannot be used changes nothing: the old configuration keeps
serving and the message says what is wrong.

What a reload applies: `sources:` (secrets, auth, events, topic, body limit, tolerance, allowlist).
Other sections (listen, kafka, storage, admin, limits, trusted_proxies) are read at start-up only;
a reload that changes them says so (`restart_required`) and applies the sources all the same.

With several workers each process reloads itself: the supervisor forwards SIGHUP to every worker
(gateway.commands.serve), and POST /admin/reload on one worker signals the supervisor likewise.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, replace

from gateway import logs
from gateway.audit import secret_values
from gateway.config import Config, load_config
from gateway.errors import ConfigError
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.sources import build_sources

log = logging.getLogger("gateway.reload")
WORKERS_ENV = "WEBHOOK_GATEWAY_WORKERS"
STARTUP_ONLY = ("listen", "kafka", "storage", "admin", "limits", "trusted_proxies")


class ReloadError(Exception):
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
            sources = build_sources(new)
        except ConfigError as exc:
            self._count("rejected")
            log.error("reloading the configuration: %s; the previous configuration keeps serving", exc,
                      extra={"event": "config_rejected"})
            raise ReloadError(f"reloading the configuration: {exc}") from None
        restart = [name for name in STARTUP_ONLY if getattr(new, name) != getattr(self.config, name)]
        self.config = replace(self.config, sources=new.sources, warnings=new.warnings)
        self.pipeline.config = self.config
        self.pipeline.sources = sources  # one assignment: each request sees the old map or the new
        if self.metrics is not None:
            self.metrics.sources = frozenset(sources)
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
