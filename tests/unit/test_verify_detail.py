"""Why a verification failed (Verdict.detail, the audit record's `detail`) and which configured
secret matched (Verdict.slot): each code produced by a crafted request; the slot found for every
position, without stopping at the first match."""

from __future__ import annotations

import base64
import hmac

import pytest

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Detail, Verdict, first_slot
from gateway.verify.ed25519 import verifier as ed25519_verifier
from tests.unit.sources import BODY, NOW, SECRETS, mac, source

TLAS, IOF = source("tlas"), source("iof")
STRIPE = source("stripe")
STANDARD = source("standard-webhooks", secrets=["whsec_" + base64.b64encode(b"k" * 24).decode()])
BASIC = source("azakaw", tenant="acme",
               auth={"type": "basic", "username": "acme", "password": ["new-pass", "old-pass"]})
KEY = source("azakaw", tenant="globex",
             auth={"type": "api_key", "header": "X-Key", "key": ["new-key", "old-key"]})


def verify(src, headers: dict[str, str] | list[tuple[bytes, bytes]], body: bytes = BODY,
           now: float = NOW) -> Verdict:
    return src.verify(Headers(headers), body, now)


def basic(pair: bytes) -> str:
    return "Basic " + base64.b64encode(pair).decode()


def stamped(secret: str, stamp: int | str, body: bytes = BODY) -> str:
    return mac(secret, f"{stamp}.".encode() + body)


# -- the slot ------------------------------------------------------------------------------------

@pytest.mark.parametrize("slot", [0, 1])
def test_the_slot_is_the_position_of_the_secret_that_matched(slot: int) -> None:
    assert verify(TLAS, {"X-Webhook-Signature": mac(SECRETS[slot], BODY)}).slot == slot
    form3 = f"t={int(NOW)},v1={stamped(SECRETS[slot], int(NOW))}"
    assert verify(IOF, {"X-IOF-Signature": form3}).slot == slot
    assert verify(BASIC, {"Authorization": basic(b"acme:" + [b"new-pass", b"old-pass"][slot])}
                  ).slot == slot
    assert verify(KEY, {"X-Key": ["new-key", "old-key"][slot]}).slot == slot


def test_two_signatures_for_two_secrets_give_the_first_listed_secret() -> None:
    # Stripe sends one v1 per active secret while rolling: the newest configured slot is reported.
    both = f"t={int(NOW)},v1={stamped(SECRETS[1], int(NOW))},v1={stamped(SECRETS[0], int(NOW))}"
    assert verify(STRIPE, {"Stripe-Signature": both}).slot == 0


def test_first_slot_takes_the_lowest_match_and_none_without_one() -> None:
    assert first_slot([False, True, True]) == 1
    assert first_slot([True, False, True]) == 0
    assert first_slot([False, False]) is None
    assert first_slot([]) is None


def test_every_secret_is_tried_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[bytes] = []
    real = hmac.new

    def counting(key: bytes, message: bytes, digest: object) -> hmac.HMAC:
        tried.append(key)
        return real(key, message, digest)  # type: ignore[arg-type]

    signature = mac(SECRETS[0], BODY)
    monkeypatch.setattr("gateway.verify.hmac.hmac.new", counting)  # the stdlib's, for this test
    assert verify(TLAS, {"X-Webhook-Signature": signature}).slot == 0
    assert tried == [s.encode() for s in SECRETS]  # the second secret too: no early exit


# -- the detail codes ----------------------------------------------------------------------------

def test_header_missing() -> None:
    verdict = verify(TLAS, {"Content-Type": "application/json"})
    assert (verdict.reason, verdict.detail) == (Reason.MISSING_SIGNATURE, Detail.HEADER_MISSING)
    assert verify(BASIC, {}).detail == Detail.HEADER_MISSING


def test_header_repeated() -> None:
    verdict = verify(TLAS, [(b"x-webhook-signature", b"aa"), (b"x-webhook-signature", b"bb")])
    assert (verdict.reason, verdict.detail) == (Reason.MALFORMED_REQUEST, Detail.HEADER_REPEATED)


@pytest.mark.parametrize("headers", [
    {"X-IOF-Signature": "t=1700000000"},  # form 3 without v1
    {"X-IOF-Signature": "t=1,t=2,v1=" + "ab" * 32},  # two timestamps
    {"X-IOF-Signature": "v1=" + "ab" * 32 + ",garbage"},  # an item without `=`
    {"X-IOF-Signature": "ab" * 2000},  # longer than any list of signatures
], ids=["no v1", "two t", "not a pair", "too long"])
def test_header_malformed(headers: dict[str, str]) -> None:
    verdict = verify(IOF, headers)
    assert (verdict.reason, verdict.detail) == (Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)


def test_signature_encoding_and_length() -> None:
    bad = verify(TLAS, {"X-Webhook-Signature": "sha256=" + "zz" * 32})
    assert (bad.reason, bad.detail) == (Reason.INVALID_SIGNATURE, Detail.SIGNATURE_ENCODING)
    short = verify(TLAS, {"X-Webhook-Signature": "sha256=" + "ab" * 20})
    assert (short.reason, short.detail) == (Reason.INVALID_SIGNATURE, Detail.SIGNATURE_LENGTH)


def test_timestamp_malformed_after_a_good_signature() -> None:
    headers = {"X-IOF-Signature": "sha256=" + stamped(SECRETS[1], "soon"), "X-IOF-Timestamp": "soon"}
    verdict = verify(IOF, headers)
    assert (verdict.reason, verdict.detail) == (Reason.INVALID_SIGNATURE, Detail.TIMESTAMP_MALFORMED)
    assert verdict.slot == 1  # the signature matched: the secret is known


@pytest.mark.parametrize("offset", [-3600, 901])
def test_timestamp_skew_says_how_far_off(offset: int) -> None:
    stamp = int(NOW) - offset
    verdict = verify(IOF, {"X-IOF-Signature": f"t={stamp},v1={stamped(SECRETS[0], stamp)}"})
    assert (verdict.reason, verdict.detail) == (Reason.STALE_TIMESTAMP, Detail.TIMESTAMP_SKEW)
    assert verdict.skew_secs == offset  # now minus the signed time: positive is in the past
    assert verdict.slot == 0


def test_no_secret_matched() -> None:
    verdict = verify(TLAS, {"X-Webhook-Signature": mac("whsec_retired", BODY)})
    assert (verdict.reason, verdict.detail) == (Reason.INVALID_SIGNATURE, Detail.NO_SECRET_MATCHED)
    assert verdict.slot is None


def test_standard_webhooks_entries_of_other_schemes_only_are_a_malformed_header() -> None:
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(NOW)),
               "webhook-signature": "v1a,abcd"}
    assert verify(STANDARD, headers).detail == Detail.HEADER_MALFORMED


@pytest.mark.parametrize("value", [
    "Bearer abc", "Basic !!!notbase64", basic(b"no-colon"), "Basic " + "A" * 2000,
], ids=["scheme", "base64", "colon", "too long"])
def test_credentials_malformed(value: str) -> None:
    verdict = verify(BASIC, {"Authorization": value})
    assert (verdict.reason, verdict.detail) == (Reason.INVALID_CREDENTIALS,
                                                Detail.CREDENTIALS_MALFORMED)


def test_credentials_wrong() -> None:
    for pair in (b"acme:retired-pass", b"mallory:new-pass"):
        verdict = verify(BASIC, {"Authorization": basic(pair)})
        assert (verdict.reason, verdict.detail) == (Reason.INVALID_CREDENTIALS,
                                                    Detail.CREDENTIALS_WRONG)
    assert verify(KEY, {"X-Key": "guess"}).detail == Detail.CREDENTIALS_WRONG


def test_ed25519_encoding_length_and_slot() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = [Ed25519PrivateKey.generate() for _ in range(2)]
    check = ed25519_verifier([p.public_key() for p in private], "X-Sig", "X-Time", 300)
    stamp = str(int(NOW))

    def sent(signature: str) -> Verdict:
        return check(Headers({"X-Sig": signature, "X-Time": stamp}), BODY, NOW)

    assert sent(private[1].sign(stamp.encode() + BODY).hex()).slot == 1
    assert sent("zz" * 64).detail == Detail.SIGNATURE_ENCODING
    assert sent("ab" * 10).detail == Detail.SIGNATURE_LENGTH
    assert sent("ab" * 64).detail == Detail.NO_SECRET_MATCHED


def test_an_accepted_verdict_has_no_detail() -> None:
    verdict = verify(TLAS, {"X-Webhook-Signature": mac(SECRETS[1], BODY)})
    assert verdict.ok and verdict.detail is None and verdict.skew_secs is None


def test_every_detail_is_documented() -> None:
    from pathlib import Path

    security = (Path(__file__).parents[2] / "SECURITY.md").read_text()
    for detail in Detail:
        assert f"`{detail.value}`" in security, detail
