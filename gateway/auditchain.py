"""The audit log's hash chains and signed checkpoints: what makes a removed, reordered, inserted or
edited record visible (SECURITY.md, "Verifying the audit trail"; the checker is gateway.auditverify).

Each writer (one audit log slot of one replica) keeps one chain. Every line it writes, audit record
or checkpoint, carries `chain` (the writer's name), `seq` (1, 2, ... across restarts) and `prev`:
the lowercase hex SHA-256 of the previous line's exact bytes as written (without its newline), or
GENESIS for seq 1. A checkpoint is a line of its own, signed with Ed25519 or HMAC-SHA256 over
`signed_message()`: it commits to everything before it, so rewriting the chain needs the key.

The chain fields are spliced onto the record's encoded bytes: no re-encoding on the flood path,
one SHA-256 of the ~1 KB line per record.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import msgspec

GENESIS = "0" * 64  # the `prev` of seq 1
CHECKPOINT = "checkpoint"
SIGNED_PREFIX = "webhook-gateway audit checkpoint v1"
_HMAC_KEY_ID = b"webhook-gateway audit key id"


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A signed checkpoint: the chain up to `seq - 1` ended with the line whose hash is `prev`."""

    type: Literal["checkpoint"] = "checkpoint"
    chain: str
    seq: int
    prev: str  # hex SHA-256 of the line before: the head this checkpoint signs
    at: str  # ISO 8601 UTC, milliseconds
    alg: Literal["ed25519", "hmac-sha256"]
    key_id: str  # ed25519: SHA-256 of the raw 32-byte public key; hmac: HMAC(key, "webhook-gateway audit key id"); first 16 hex
    signature: str  # lowercase hex, over signed_message()


class Link(msgspec.Struct):
    """The chain fields of any line (records from before chaining have none)."""

    type: str = ""
    chain: str = ""
    seq: int = 0
    prev: str = ""


link_of = msgspec.json.Decoder(Link).decode
decode_checkpoint = msgspec.json.Decoder(Checkpoint).decode
_encode = msgspec.json.Encoder().encode


def digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def signed_message(chain: str, seq: int, prev: str, at: str) -> bytes:
    """What a checkpoint's signature covers: five lines joined by "\\n", no trailing newline."""
    return "\n".join((SIGNED_PREFIX, chain, str(seq), prev, at)).encode()


def iso_now(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Key:
    """A checkpoint key: signs when it holds a private part, verifies always."""

    alg: Literal["ed25519", "hmac-sha256"]
    key_id: str
    sign: Callable[[bytes], bytes] | None
    check: Callable[[bytes, bytes], bool]  # (message, signature) -> valid


def key_from_secret(secret: bytes) -> Key:
    """An Ed25519 private key in PEM (PKCS#8, `audit keygen`), or else an HMAC-SHA256 secret.
    Raises ValueError with a message fit for the operator (never the value)."""
    if secret.lstrip().startswith(b"-----BEGIN"):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            private = load_pem_private_key(secret.strip() + b"\n", password=None)
        except (ValueError, TypeError):
            raise ValueError("the checkpoint key is PEM but not an unencrypted private key") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError("the checkpoint key must be an Ed25519 private key (audit keygen)")
        public = ed25519_public(private.public_key().public_bytes_raw())
        return Key("ed25519", public.key_id, private.sign, public.check)
    if len(secret) < 16:
        raise ValueError("an HMAC checkpoint key needs at least 16 bytes")
    key_id = hmac.new(secret, _HMAC_KEY_ID, hashlib.sha256).hexdigest()[:16]

    def sign(message: bytes) -> bytes:
        return hmac.new(secret, message, hashlib.sha256).digest()

    return Key("hmac-sha256", key_id, sign, lambda m, s: hmac.compare_digest(sign(m), s))


def ed25519_public(raw: bytes) -> Key:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = Ed25519PublicKey.from_public_bytes(raw)

    def check(message: bytes, signature: bytes) -> bool:
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    return Key("ed25519", hashlib.sha256(raw).hexdigest()[:16], None, check)


def public_key_from_pem(pem: bytes) -> Key:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        public = load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ValueError("not a PEM public key") from None
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return ed25519_public(public.public_bytes_raw())


def generate_pem() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair -> (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    return (private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
            private.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))


class Chain:
    """One writer's chain: links each line to the one before and signs checkpoints when due.

    Not thread-safe: the slot's owner (one event loop) is its only writer.
    """

    def __init__(self, replica: str, key: Key | None = None, every_secs: float = 60.0,
                 every_records: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.replica = replica
        self.key = key
        self.every_secs = every_secs
        self.every_records = every_records
        self.clock = clock
        self.name = ""
        self.seq = 0
        self.head = GENESIS
        self.unsigned = 0  # records since the last checkpoint
        self._fields = b""
        self._signed_at = clock()

    def resume(self, slot: str, last: bytes | None) -> None:
        """Continue the chain whose last line is `last`, or start one. A new chain's name has its
        start time, so a wiped storage or a reused host name never starts a second seq 1 under
        an existing name."""
        link = None
        if last is not None:
            try:
                link = link_of(last)
            except msgspec.DecodeError:  # a torn or foreign line: start a new chain
                link = None
        if link is not None and link.chain and link.seq > 0:
            self.name, self.seq, self.head = link.chain, link.seq, digest(last or b"")
            self.unsigned = 0 if link.type == CHECKPOINT else 1  # at least the last one
        else:
            started = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
            self.name, self.seq, self.head, self.unsigned = f"{self.replica}/{slot}@{started}", 0, GENESIS, 0
        self._fields = b'"chain":%s,"seq":' % _encode(self.name)  # built once, not per record
        self._signed_at = self.clock()

    def link(self, line: bytes) -> bytes:
        """`line` (a JSON object) with `chain`, `seq` and `prev` appended; the chain moves on."""
        if line[-1:] != b"}":  # compact JSON, as msgspec writes it
            raise ValueError("an audit record is a JSON object")
        self.seq += 1
        linked = b"".join((line[:-1], b"," if len(line) > 2 else b"", self._fields, b"%d" % self.seq,
                           b',"prev":"', self.head.encode(), b'"}'))
        self.head = digest(linked)
        self.unsigned += 1
        return linked

    def mark(self) -> tuple[int, str, int]:
        return self.seq, self.head, self.unsigned

    def undo(self, mark: tuple[int, str, int]) -> None:
        """Back to `mark`: the line linked since was never written."""
        self.seq, self.head, self.unsigned = mark

    def due(self) -> bool:
        return (self.key is not None and self.unsigned > 0
                and (self.unsigned >= self.every_records or self.clock() - self._signed_at >= self.every_secs))

    def checkpoint(self) -> bytes | None:
        """A signed checkpoint line for the chain so far (None without a key or nothing new)."""
        if self.key is None or self.key.sign is None or self.unsigned == 0:
            return None
        seq, at = self.seq + 1, iso_now(self.clock())
        signature = self.key.sign(signed_message(self.name, seq, self.head, at)).hex()
        line = _encode(Checkpoint(chain=self.name, seq=seq, prev=self.head, at=at, alg=self.key.alg,
                                  key_id=self.key.key_id, signature=signature))
        self.seq, self.head, self.unsigned, self._signed_at = seq, digest(line), 0, self.clock()
        return line
