"""`webhook-gateway send SOURCE EVENT`: sign and post a realistic sample webhook, as the provider would.

The samples are built from the providers' own documents (../shared/seeds), with fresh ids each time;
the signature uses the source's first configured secret.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request

from gateway.config import Config, load_config
from gateway.providers import REGISTRY
from gateway.providers.azakaw import snake
from gateway.providers.base import CannotSign

DEV_CONFIG = "var/dev/gateway.yaml"


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("send", help="post a signed sample webhook", description=__doc__)
    cmd.add_argument("source", help="the source name (the key under `sources:`)")
    cmd.add_argument("event", nargs="?", help="event type; omit to list the source's sample events")
    cmd.add_argument("--config", default=DEV_CONFIG, metavar="FILE", help=f"default {DEV_CONFIG}")
    cmd.add_argument("--url", help="gateway base URL (default: from the config's listen address)")
    cmd.add_argument("--repeat", type=int, default=1, help="post the same delivery N times (retries)")
    cmd.set_defaults(run=run)


def build(config: Config, source: str, event: str, now: float) -> tuple[bytes, dict[str, str]]:
    """-> (body, headers) of a sample delivery for `source`, signed as its provider would."""
    cfg = config.sources[source]
    provider = REGISTRY[cfg.provider]
    name = event if event in provider.samples else snake(event)
    sample = provider.samples.get(name)
    if sample is None:
        raise KeyError(event)
    body = sample(now)
    if provider.sign_body is not None:  # the signature is inside the body (Adyen, Mailgun)
        body = provider.sign_body(cfg, body, now)
    headers = {"Content-Type": "application/json", "User-Agent": f"{provider.name}-sample/1.0"}
    headers.update(provider.sample_headers(name, now))  # the event name, delivery id...
    headers.update(provider.sign(cfg, body, now))
    return body, headers


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.source not in config.sources:
        print(f"send: no source {args.source!r} in {args.config} (have: {', '.join(config.sources)})",
              file=sys.stderr)
        return 2
    events = list(REGISTRY[config.sources[args.source].provider].samples)
    if args.event is None:
        print(f"sample events of {args.source}: " + ", ".join(events))
        return 0
    try:
        body, headers = build(config, args.source, args.event, time.time())
    except CannotSign as exc:
        print(f"send: {exc}", file=sys.stderr)
        return 2
    except KeyError:
        print(f"send: no sample event {args.event!r} for {args.source} (have: {', '.join(events)})",
              file=sys.stderr)
        return 2
    host = config.listen.host if config.listen.host not in ("0.0.0.0", "::") else "127.0.0.1"
    url = (args.url or f"http://{host}:{config.listen.port}").rstrip("/") + f"/webhooks/{args.source}"
    worst = 0
    for _ in range(args.repeat):
        status, answer = post(url, body, headers)
        print(f"POST {url} -> {status} {answer}")
        worst = max(worst, status)
    return 0 if 0 < worst < 300 else 1


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, f"cannot reach the gateway: {exc}"
