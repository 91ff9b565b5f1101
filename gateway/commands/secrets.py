"""`webhook-gateway secrets generate [--provider P]`: a strong new secret in the provider's format,
to paste into its dashboard and into the gateway's configuration (SECURITY.md: rotation).
`webhook-gateway secrets status --config FILE`: per source and configured secret (by position,
never its value), when it last authenticated a request, from the running gateway's admin API.

Rotate without losing events: put the new secret first in the source's `secrets:` list, the old
one after it (either matches), reload, switch the provider to the new secret, watch `secrets
status` until the old slot stops matching, then remove the old one.

`webhook-gateway secrets tokens --config FILE`: verification tokens a provider sent unsigned
(Notion's, when a subscription is created), kept under `storage.path` with who sent them and when.
Anyone can send one: pick the one from the provider's address and time, paste it into the
provider's Verify dialog, then add it to the source's `secrets:` and reload.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import time
from datetime import datetime
from typing import Any

from gateway import tokens
from gateway.commands.events import add_connection, call
from gateway.config import Config, load_config
from gateway.rotation import credentials
from gateway.secrets import describe

BYTES = 32  # 256 bits: as strong as the HMAC-SHA256 key can use


def _whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(BYTES)).decode()


FORMATS = {
    "iof": _whsec,  # IOF secrets look like whsec_...; the whole string is the HMAC key
    "standard-webhooks": _whsec,  # whsec_ + base64 of the key bytes, per the Standard Webhooks spec
    "stripe": _whsec,
    "compliancely": lambda: secrets.token_hex(BYTES),
    "tlas": lambda: secrets.token_hex(BYTES),
    "github": lambda: secrets.token_hex(BYTES),
    "azakaw": lambda: secrets.token_urlsafe(BYTES),  # an API key or a Basic password
}


def generate(provider: str | None = None) -> str:
    """A new secret; an unknown or absent provider gets 64 hex characters (256 bits)."""
    return FORMATS.get(provider or "", lambda: secrets.token_hex(BYTES))()


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("secrets", help="generate webhook secrets; which one each source matched (status)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = cmd.add_subparsers(dest="action", metavar="ACTION", required=True)
    gen = actions.add_parser("generate", help="print a strong new secret")
    gen.add_argument("--provider", help=f"the provider's format ({', '.join(sorted(FORMATS))})")
    gen.set_defaults(run=run)
    status = actions.add_parser(
        "status", help="when each configured secret last matched (a running gateway's view)",
        description="Per source and slot (the position in `secrets:`, `key:` or `password:`, "
        "from 0): when that secret last authenticated a request. URL and token default to the "
        "configuration's listen address and admin.token.")
    status.add_argument("--config", required=True, metavar="FILE", help="the gateway's config")
    status.add_argument("--source", help="only this source")
    status.add_argument("--json", action="store_true", help="the admin API's answer, one per line")
    add_connection(status)
    status.set_defaults(run=run_status, url=None)
    kept = actions.add_parser(
        "tokens", help="verification tokens sent unsigned (Notion's), kept for you",
        description="The verification tokens kept per source (the last 10, newest last), read "
        "from storage.path on this host.")
    kept.add_argument("--config", required=True, metavar="FILE", help="the gateway's config")
    kept.add_argument("--source", help="only this source")
    kept.add_argument("--json", action="store_true", help="one JSON object per token")
    kept.set_defaults(run=run_tokens)


def run(args: argparse.Namespace) -> int:
    print(generate(args.provider))
    return 0


def references(config: Config) -> dict[str, list[str]]:
    """Source -> how each of its secrets is referenced (`env:NAME`, `file:/path`), by slot."""
    return {name: [describe(secret.ref) for secret in credentials(cfg)]
            for name, cfg in config.sources.items()}


def _connection(args: argparse.Namespace, config: Config) -> None:
    if args.url is None:
        host = config.listen.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        args.url = os.environ.get("GATEWAY_URL") or f"http://{host}:{config.listen.port}"
    if args.token is None and not os.environ.get("GATEWAY_ADMIN_TOKEN") \
            and config.admin.token is not None:
        args.token = config.admin.token.reveal().decode()


def run_status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    _connection(args, config)
    code, body = call(args, "GET", "/admin/sources")
    if code != 200:
        print(f"webhook-gateway: {body.get('error', code)}", file=sys.stderr)
        return 1
    sources = [s for s in body["sources"] if args.source in (None, s["name"])]
    if args.json:
        for source in sources:
            sys.stdout.write(json.dumps(source) + "\n")
        return 0
    print_status(sources, references(config), time.time())
    return 0


def run_tokens(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    storage = config.storage.path
    found = [(name, entry) for name in tokens.sources(storage) if args.source in (None, name)
             for entry in tokens.read(storage, name)]
    if args.json:
        for name, entry in found:
            sys.stdout.write(json.dumps({"source": name, **entry}) + "\n")
        return 0
    if not found:
        print(f"no verification token kept under {storage / tokens.DIRECTORY}")
        return 0
    for name, entry in found:
        print(f"{name}\t{entry.get('at')}\tfrom {entry.get('from')}\t{entry.get('token')}")
    return 0


def print_status(sources: list[dict[str, Any]], refs: dict[str, list[str]], now: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="secrets by slot (0 is the first listed)", title_justify="left")
    for column in ("source", "slot", "secret", "last matched", "ago"):
        table.add_column(column)
    for source in sources:
        names = refs.get(source["name"], [])
        for slot in source.get("slots", []):
            index, at = slot["slot"], slot["last_matched_at"]
            ref = names[index] if index < len(names) else "?"
            table.add_row(source["name"], str(index), ref, at or "not since start", _ago(at, now))
    Console().print(table)


def _ago(at: str | None, now: float) -> str:
    if at is None:
        return ""
    secs = max(0, int(now - datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"
