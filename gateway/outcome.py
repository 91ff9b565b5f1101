"""What the pipeline decided for one request, with nothing of HTTP in it: gateway.answers maps a
Result to a status, body and headers (the one table), gateway.observe counts and logs it."""

from __future__ import annotations

import msgspec

from gateway.errors import Outcome, Reason


class Reply(msgspec.Struct, frozen=True, gc=False):
    """An endpoint handshake's answer, in the form the provider's documents ask for: a JSON object
    (Slack's challenge), plain text (Twitch's challenge), or neither: 204 No Content (Discord's
    PING)."""

    json: dict[str, str] | None = None
    text: str | None = None


class Result(msgspec.Struct, frozen=True, gc=False):  # a Struct: see gateway.publish.Record
    outcome: Outcome
    id: str | None = None  # the envelope id (or dead letter's), where there is one
    reason: Reason | None = None  # why it was rejected (the audit record's reason)
    # more precise than the reason, for the security team only: what cut a request short before
    # the pipeline saw it ("body_timeout", "head_too_large", "method": each has its own status,
    # gateway.answers.CUT_SHORT) or why verification failed (the same 401 whatever it says)
    detail: str | None = None
    wait: float = 1.0  # rate limited: seconds until the client may try again
    reply: Reply | None = None  # an endpoint handshake's answer (Slack's challenge...)
    provider: str | None = None  # for the request's log line and metrics
    publish_secs: float | None = None  # from handing the record to the producer to its ack


def accepted(outcome: Outcome, event_id: str, provider: str | None = None,
             publish_secs: float | None = None) -> Result:
    return Result(outcome, event_id, provider=provider, publish_secs=publish_secs)


UNAVAILABLE = Result(Outcome.UNAVAILABLE)
