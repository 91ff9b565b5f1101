"""`webhook-gateway secrets generate [--provider P]`: a strong new secret in the provider's format,
to paste into its dashboard and into the gateway's configuration (SECURITY.md: rotation).

Rotate without losing events: add the new secret to the source's `secrets:` list next to the old
one (either matches), restart, switch the provider to the new secret, then remove the old one.
"""

from __future__ import annotations

import argparse
import base64
import secrets

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
    cmd = commands.add_parser("secrets", help="generate webhook secrets", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = cmd.add_subparsers(dest="action", metavar="ACTION", required=True)
    gen = actions.add_parser("generate", help="print a strong new secret")
    gen.add_argument("--provider", help=f"the provider's format ({', '.join(sorted(FORMATS))})")
    gen.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(generate(args.provider))
    return 0
