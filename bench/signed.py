"""Pre-signed webhook requests for wrk (whose Lua has no HMAC): a file of raw HTTP/1.1 requests.

Each record is `<length>\n<request bytes>`; bench/webhooks.lua reads them in order, one per request,
so no two requests of a run share an event id (nothing dedupes). The bodies are the providers' own
samples (gateway.providers.*.samples, the same ones `webhook-gateway send` posts), padded to about
`body_bytes` with a `bench` field that also carries a sequence number: sources whose event id is the
SHA-256 of the body (tlas, azakaw) get distinct ids too. Sources rotate over every seed provider.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

from gateway.config import Config, parse_config
from gateway.providers import REGISTRY

# The four seed providers (../shared/seeds), azakaw with both of its auth schemes.
SECRETS = {
    "iof": "whsec_bench_iof_secret_0123456789",
    "compliancely": "cmp_bench_secret_abcdef",
    "tlas": "tlas-bench-webhook-secret",
    "acme": "acme-bench-password",
    "globex": "globex-bench-api-key",
}
# tolerance_secs: a file is signed once and replayed for the whole run (the soak lasts 10 minutes).
TOLERANCE_SECS = 86_400


def source_configs() -> dict[str, dict[str, Any]]:
    return {
        "iof": {"provider": "iof", "secrets": [SECRETS["iof"]], "tolerance_secs": TOLERANCE_SECS},
        "compliancely": {"provider": "compliancely", "secrets": [SECRETS["compliancely"]]},
        "tlas": {"provider": "tlas", "secrets": [SECRETS["tlas"]]},
        "azakaw-acme": {"provider": "azakaw", "tenant": "acme",
                        "auth": {"type": "basic", "username": "acme", "password": SECRETS["acme"]}},
        "azakaw-globex": {"provider": "azakaw", "tenant": "globex",
                          "auth": {"type": "api_key", "header": "X-API-Key", "key": SECRETS["globex"]}},
    }


def provider_topics(prefix: str) -> list[str]:
    return [f"{prefix}.{p}" for p in ("iof", "compliancely", "tlas", "azakaw")] + [f"{prefix}.deadletter"]


def sources_config() -> Config:
    return parse_config({"kafka": {"topic_prefix": "bench"}, "storage": {"path": "/nonexistent"},
                         "sources": source_configs()})


def generate(path: Path, count: int, body_bytes: int = 1024, first: int = 0, jobs: int = 2) -> int:
    """Write `count` signed requests to `path` (in `jobs` processes); -> the file's size. `first`
    offsets the sequence numbers so that two files never share an event."""
    chunk = 5000
    starts = range(first, first + count, chunk)
    spans = [(start, min(chunk, first + count - start), body_bytes) for start in starts]
    with open(path, "wb") as out:
        if jobs <= 1:
            for span in spans:
                out.write(_chunk(span))
        else:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                for data in pool.imap(_chunk, spans):
                    out.write(data)
    return os.path.getsize(path)


def _chunk(span: tuple[int, int, int]) -> bytes:
    first, count, body_bytes = span
    config = sources_config()
    names = list(config.sources)  # round-robin over the sources, then over each one's events
    events = {name: list(REGISTRY[cfg.provider].samples) for name, cfg in config.sources.items()}
    now = time.time()
    parts: list[bytes] = []
    for seq in range(first, first + count):
        name = names[seq % len(names)]
        event = events[name][seq // len(names) % len(events[name])]
        cfg = config.sources[name]
        provider = REGISTRY[cfg.provider]
        sample = provider.samples[event](now)
        pad = max(0, body_bytes - len(sample) - 40)
        body = sample[:-1] + b', "bench": {"seq": %d, "pad": "%s"}}' % (seq, b"x" * pad)
        headers = {"Host": "bench", "Content-Type": "application/json",
                   "User-Agent": f"{provider.name}-bench/1.0", "Content-Length": str(len(body)),
                   **provider.sign(cfg, body, now)}
        head = f"POST /webhooks/{name} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        request = head.encode("latin-1") + body
        parts.append(b"%d\n" % len(request))
        parts.append(request)
    return b"".join(parts)


if __name__ == "__main__":
    import sys

    started = time.perf_counter()
    size = generate(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"{size} bytes in {time.perf_counter() - started:.1f}s")
