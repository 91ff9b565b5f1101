"""Who gets in: everything decided about a request before it is an event.

    source lookup -> unsigned provider checks -> verify -> single-use token -> rate per source

Each refusal is audited (gateway.audit) and answered as a Result; a sender past its failure budget
gets 429 and its failures are audited in aggregate (gateway.limits). What is admitted goes on to
gateway.pipeline: handshake, map, dedupe, publish or spool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import msgspec

from gateway import nonces, tokens
from gateway.audit import Auditor, RequestInfo
from gateway.errors import Outcome, Reason
from gateway.outcome import Reply, Result
from gateway.rotation import Rotation
from gateway.runtime import Runtime
from gateway.sources import Source
from gateway.store import Store
from gateway.verify import Detail, Verdict


class Admitted(msgspec.Struct, frozen=True, gc=False):  # a Struct: see gateway.publish.Record
    source: Source
    verdict: Verdict
    digest: bytes  # the body's SHA-256: the dedupe mark's, the conflict check's


class Admission:
    def __init__(self, auditor: Auditor, store: Store, rotation: Rotation, storage: Path) -> None:
        self.auditor = auditor
        self.rotation = rotation  # which secret matched, per source
        self.tokens = tokens.Keeper(storage)  # unsigned verification tokens (Notion's)
        self.nonces = nonces.Nonces(store)  # single-use signed tokens (Mailgun's)

    def reject(self, runtime: Runtime, request: RequestInfo, reason: Reason, name: str,
               body: bytes = b"", body_size: int | None = None, wait: float = 1.0,
               repeats: int | None = 0, detail: str | None = None,
               skew_secs: int | None = None) -> Result:
        """Audit (unless `repeats` is None: counted only) a rejection; `detail` and `skew_secs`
        (gateway.verify.Detail) go to the audit record only, never into the answer."""
        source = runtime.sources.get(name)
        provider = source.provider if source else None
        if repeats is not None:
            self.auditor.record(request, reason, name, provider, body,
                                len(body) if body_size is None else body_size, runtime.redaction,
                                repeats, detail, skew_secs)
        return Result(Outcome.REJECTED, reason=reason, detail=detail, wait=wait, provider=provider)

    def failed(self, runtime: Runtime, request: RequestInfo, reason: Reason, name: str,
               body: bytes, explain: Callable[[], tuple[str | None, int | None]] | None = None
               ) -> Result:
        """A request that failed verification (or named no source). An address past its failure
        budget gets 429, and its failures are audited in aggregate (gateway.limits). `explain`
        -> (detail, skew_secs) is asked only for a request audited on its own, so a penalised
        address spends no diagnosis budget (gateway.diagnose)."""
        refused = runtime.limiter.failed(request.remote_addr)
        if refused is None:
            detail, skew_secs = explain() if explain is not None else (None, None)
            return self.reject(runtime, request, reason, name, body, detail=detail,
                               skew_secs=skew_secs)
        return self.reject(runtime, request, Reason.RATE_LIMITED, name, body, wait=refused.wait,
                           repeats=refused.repeats)

    async def admit(self, runtime: Runtime, name: str, request: RequestInfo, body: bytes,
                    now: float) -> Admitted | Result:
        source = runtime.sources.get(name)
        if source is None:
            return self.failed(runtime, request, Reason.UNKNOWN_SOURCE, name, body)
        if source.proof is not None or source.unsigned_token is not None:
            early = await self._unsigned(runtime, request, source, body, now)
            if early is not None:
                return early
        verdict = source.verify(request.headers, body, now)
        if not verdict.ok:
            assert verdict.reason is not None
            return self.failed(runtime, request, verdict.reason, name, body, lambda: (
                runtime.diagnosis.explain(name, source.verify, request.headers, body, verdict, now),
                verdict.skew_secs))
        digest = hashlib.sha256(body).digest()
        if verdict.nonce is not None and self.nonces.reused(name, verdict.nonce, digest):
            return self.failed(runtime, request, Reason.INVALID_SIGNATURE, name, body,
                               lambda: (Detail.TOKEN_REUSED.value, None))
        if verdict.slot is not None:
            self.rotation.matched(source, verdict.slot, now)
        wait = runtime.limiter.authenticated(name)
        if wait:
            return self.reject(runtime, request, Reason.RATE_LIMITED, name, body, wait=wait)
        return Admitted(source, verdict, digest)

    async def _unsigned(self, runtime: Runtime, request: RequestInfo, source: Source,
                        body: bytes, now: float) -> Result | None:
        """A provider's check that comes unsigned, answered before verification: X's CRC (the
        answer proves we hold the secret) or Notion's verification token (kept for the operator,
        never published, gateway.tokens). Anyone can send either, so each spends the sender's
        failure budget. None: not such a request, verify it."""
        reply = source.proof(request.headers, body) if source.proof is not None else None
        token = (source.unsigned_token(request.headers, body)
                 if reply is None and source.unsigned_token is not None else None)
        if reply is None and token is None:
            return None
        refused = runtime.limiter.failed(request.remote_addr)
        if refused is not None:
            return self.reject(runtime, request, Reason.RATE_LIMITED, source.name, body,
                               wait=refused.wait, repeats=refused.repeats)
        if reply is not None:
            return Result(Outcome.IGNORED, reply=reply, provider=source.provider)
        assert token is not None
        if not await self.tokens.keep(source.name, token, request.remote_addr, now):
            return self.reject(runtime, request, Reason.RATE_LIMITED, source.name, body)
        return Result(Outcome.IGNORED, reply=Reply(json={"status": "received"}),
                      provider=source.provider)
