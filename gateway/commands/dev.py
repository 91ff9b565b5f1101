"""`webhook-gateway dev`: the embedded default. Starts a local Kafka-protocol broker (Tansu), writes
a demo config with all four seed providers and generated secrets, turns the admin API on with a
generated token (so the status and audit pages are there), and runs the gateway on it."""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

import yaml

from gateway.commands import serve
from gateway.config import load_config
from gateway.dev.broker import Broker

DEMO_SOURCES = {
    "iof": {"provider": "iof", "secrets": ["file:{secrets}/iof"]},
    "compliancely": {"provider": "compliancely", "secrets": ["file:{secrets}/compliancely"]},
    "tlas": {"provider": "tlas", "secrets": ["file:{secrets}/tlas"]},
    "azakaw-acme": {"provider": "azakaw", "tenant": "acme",
                    "auth": {"type": "basic", "username": "acme", "password": "file:{secrets}/azakaw-acme"}},
    "azakaw-globex": {"provider": "azakaw", "tenant": "globex",
                      "auth": {"type": "api_key", "header": "X-API-Key", "key": "file:{secrets}/azakaw-globex"}},
}
PREFIXES = {"iof": "whsec_", "azakaw-acme": "", "azakaw-globex": "ak_"}
ADMIN_TOKEN = "admin"  # its file under secrets/: generated once, or the one written there


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("dev", help="run on an embedded broker with a demo config", description=__doc__)
    cmd.add_argument("--dir", default="var/dev", type=Path, help="where the demo state lives (default var/dev)")
    cmd.add_argument("--port", type=int, default=8080, help="gateway port (default 8080)")
    cmd.set_defaults(run=run)


def write_demo(root: Path, bootstrap: str, port: int) -> Path:
    """The demo config and its secret files (kept across runs, so `send` and a page opened with
    the admin token keep working)."""
    secret_dir = root / "secrets"
    secret_dir.mkdir(parents=True, exist_ok=True)
    for name in [*DEMO_SOURCES, ADMIN_TOKEN]:
        path = secret_dir / name
        if not path.exists():
            path.write_text(PREFIXES.get(name, "") + secrets.token_urlsafe(32) + "\n")
            path.chmod(0o600)
    sources = yaml.safe_load(yaml.safe_dump(DEMO_SOURCES).replace("{secrets}", str(secret_dir.resolve())))
    config = {
        "listen": {"host": "127.0.0.1", "port": port},
        "kafka": {"bootstrap_servers": [bootstrap], "topic_prefix": "webhooks"},
        "storage": {"path": str((root / "state").resolve())},
        "admin": {"token": f"file:{(secret_dir / ADMIN_TOKEN).resolve()}"},
        "sources": sources,
    }
    path = root / "gateway.yaml"
    path.write_text("# written by `webhook-gateway dev`; the broker port changes every run\n"
                    + yaml.safe_dump(config, sort_keys=False))
    return path


def run(args: argparse.Namespace) -> int:
    args.dir.mkdir(parents=True, exist_ok=True)
    with Broker(log_path=args.dir / "broker.log") as broker:
        path = write_demo(args.dir, broker.bootstrap, args.port)
        config = load_config(path)
        assert config.admin.token is not None
        token = config.admin.token.reveal().decode()
        print(NEXT_STEPS.format(broker=broker.bootstrap, config=path, port=args.port, token=token,
                                token_file=args.dir / "secrets" / ADMIN_TOKEN), flush=True)
        serve.serve(config, None, None)
    return 0


NEXT_STEPS = """
webhook-gateway dev: broker (Tansu, in memory) on {broker}, gateway on http://127.0.0.1:{port}
  config: {config}   (sources: iof, compliancely, tlas, azakaw-acme, azakaw-globex)

In a browser (the token in the address becomes a cookie for /admin/, then leaves the address):
  status page: http://127.0.0.1:{port}/admin/?token={token}
  audit page:  http://127.0.0.1:{port}/admin/audit?token={token}
  admin API:   Authorization: Bearer <the token in {token_file}>

In another terminal (after `. .venv/bin/activate`):
  webhook-gateway tail                                   # envelopes as they reach Kafka
  webhook-gateway send iof contract.created              # a signed IOF webhook
  webhook-gateway send azakaw-acme RiskAssessmentCalculated
  webhook-gateway send tlas                              # list a source's sample events
  GATEWAY_ADMIN_TOKEN=$(cat {token_file}) webhook-gateway events   # the event history
Ctrl-C stops the gateway and the broker.
"""
