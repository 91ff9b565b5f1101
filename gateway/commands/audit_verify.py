"""`webhook-gateway audit verify` and `audit keygen`: the audit trail's chains and checkpoints
(gateway.auditchain; SECURITY.md, "Verifying the audit trail").

    webhook-gateway audit verify --config gateway.yaml                  # the local log
    webhook-gateway audit verify --from-kafka --public-key audit.pub    # and {prefix}.rejected
    webhook-gateway audit keygen --out /etc/webhook-gateway/audit-key   # writes audit-key, audit-key.pub

Exit status 0 when every chain verifies, 1 at the first problem (printed with its position).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from gateway.auditchain import Key, generate_pem, key_from_secret, public_key_from_pem
from gateway.auditverify import Lines, Report, compare, read_local, read_topic, verify
from gateway.commands.send import DEV_CONFIG
from gateway.config import Config, load_config
from gateway.errors import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("verify", help="check the audit trail's hash chains and signed checkpoints",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("--config", default=DEV_CONFIG, metavar="FILE", help=f"default {DEV_CONFIG}")
    cmd.add_argument("--from-kafka", action="store_true",
                     help="also the {prefix}.rejected topic, and the local log against it")
    cmd.add_argument("--public-key", action="append", default=[], metavar="FILE",
                     help="an Ed25519 public key (PEM) checkpoints may be signed with; repeatable "
                          "(default: the configured audit.checkpoint_key)")
    cmd.set_defaults(run=run_verify)
    gen = commands.add_parser("keygen", help="a new Ed25519 key pair for audit checkpoints")
    gen.add_argument("--out", metavar="FILE", help="write the private key here (mode 0600) and the "
                                                  "public key to FILE.pub; default: print both")
    gen.set_defaults(run=run_keygen)


def keys(config: Config, public: list[str]) -> dict[str, Key]:
    found = []
    for path in public:
        try:
            found.append(public_key_from_pem(Path(path).read_bytes()))
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ConfigError(f"audit verify: --public-key {path}: {reason}") from None
    if not found and config.audit.checkpoint_key is not None:
        found.append(key_from_secret(config.audit.checkpoint_key.reveal()))
    return {key.key_id: key for key in found}


def _topic(config: Config) -> Iterator[tuple[int, int, bytes]]:
    from gateway.publish.kafka_consumer import follow

    topic = f"{config.kafka.topic_prefix}.rejected"
    for record in follow(config.kafka.bootstrap_servers, [topic], from_beginning=True,
                         options=config.kafka.producer_options, idle_secs=2.0):
        yield record.partition, record.offset, record.value


def run_verify(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    given = keys(config, args.public_key)
    root = config.storage.path / "audit"
    local = read_local(root)
    failed = show(f"local log {root}", local, verify(local, given, ordered=True), given)
    if args.from_kafka:
        topic = read_topic(_topic(config))
        reports = verify(topic, given, ordered=False)
        failed += show(f"topic {config.kafka.topic_prefix}.rejected", topic, reports, given)
        for problem in compare(verify(local, given, ordered=True), reports):
            print(f"  FAILED {problem}")
            failed += 1
    print("verdict: " + ("every chain verifies" if not failed else f"{failed} problem(s): tampered with, "
                         "or damaged"))
    return 1 if failed else 0


def show(title: str, lines: Lines, reports: list[Report], given: dict[str, Key]) -> int:
    print(f"{title}: {len(reports)} chain(s)")
    if lines.unchained:
        print(f"  {lines.unchained} record(s) from before chaining (not verifiable)")
    for _, where in lines.unreadable:
        print(f"  note: an unreadable line at {where} (a torn write, if the chains verify)")
    failed = 0
    for report in reports:
        signed = f", {report.checkpoints} checkpoint(s)" + (" verified" if given else " (signatures "
                                                             "not checked: no key)")
        repeats = (f", {report.repeats} repeat(s) of the same bytes (at-least-once delivery, not "
                   "tampering)") if report.repeats else ""
        counted = f"seq {report.first}-{report.last}, {report.records} record(s){signed}{repeats}"
        print(f"  chain {report.chain}: " + (f"{counted}: ok" if report.problem is None else
                                             f"FAILED after {counted}"))
        if report.problem is not None:
            print(f"    FAILED {report.problem}")
            failed += 1
        for note in report.notes:
            print(f"    note: {note}")
    return failed


def run_keygen(args: argparse.Namespace) -> int:
    private, public = generate_pem()
    if not args.out:
        sys.stdout.write(private.decode() + public.decode())
        return 0
    path = Path(args.out)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"audit keygen: writing {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(private)
    Path(f"{path}.pub").write_bytes(public)
    print(f"wrote {path} (private, mode 0600) and {path}.pub\n"
          f"config:  audit: {{checkpoint_key: file:{path.resolve()}}}\n"
          f"auditor: webhook-gateway audit verify --public-key {path}.pub")
    return 0
