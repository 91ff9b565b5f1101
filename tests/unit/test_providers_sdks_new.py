"""Twilio, Adyen and Mailgun checked against the providers' own Python libraries (pinned in
pyproject's dev list): what the library signs the gateway accepts, what the gateway accepts the
library accepts, and a flipped byte, another secret and (Mailgun) a stale timestamp are rejected.

Adyen and Mailgun sign inside the body, so `check` from test_providers_sdks (headers only) does
not fit them; the same claims are made here directly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from gateway.errors import Reason
from gateway.headers import QUERY, Headers
from tests.fixtures import flip
from tests.unit.test_providers_sdks import FAILED, OTHER, SECRET, URL, check, source

FORM = "application/x-www-form-urlencoded"
PARAMS = {"MessageSid": "SM" + "a1" * 16, "AccountSid": "AC" + "b2" * 16, "From": "+15558675310",
          "To": "+15017122661", "Body": "Hello: ü & more", "SmsStatus": "received"}


def twilio_source() -> Any:
    return source("twilio", [OTHER + "-old", SECRET], notification_url=URL)


def test_twilio_request_validator_form_post_with_query_and_port() -> None:
    from twilio.request_validator import RequestValidator

    body = urlencode(PARAMS)
    for signed_url in (URL, URL.replace(".com/", ".com:443/")):  # Twilio has signed both
        def sign(secret: str, body: str, now: int, signed_url: str = signed_url) -> dict[str, str]:
            signature = RequestValidator(secret).compute_signature(
                signed_url + "?tenant=acme&x=%2F1", PARAMS)
            return {"Content-Type": FORM, "X-Twilio-Signature": signature,
                    QUERY: "tenant=acme&x=%2F1"}

        check(twilio_source(), sign, body=body, signed_timestamp=False)
    headers = {"Content-Type": FORM, QUERY: "tenant=acme&x=%2F1",
               "X-Twilio-Signature": RequestValidator(SECRET).compute_signature(
                   URL + "?tenant=acme&x=%2F1", PARAMS)}
    assert RequestValidator(SECRET).validate(URL + "?tenant=acme&x=%2F1", PARAMS,
                                             headers["X-Twilio-Signature"])
    src, now = twilio_source(), time.time()
    assert src.verify(Headers(headers), body.encode(), now).ok
    # The query is signed: another one (or none) is rejected.
    moved = {**headers, QUERY: "tenant=other&x=%2F1"}
    assert src.verify(Headers(moved), body.encode(), now).reason in FAILED
    bare = {k: v for k, v in headers.items() if k != QUERY}
    assert src.verify(Headers(bare), body.encode(), now).reason in FAILED


def test_twilio_request_validator_json_body_sha256() -> None:
    from twilio.request_validator import RequestValidator

    body = json.dumps(PARAMS)
    query = "bodySHA256=" + hashlib.sha256(body.encode()).hexdigest()

    def sign(secret: str, body: str, now: int) -> dict[str, str]:
        signature = RequestValidator(secret).compute_signature(f"{URL}?{query}", {})
        return {"Content-Type": "application/json", "X-Twilio-Signature": signature, QUERY: query}

    check(twilio_source(), sign, body=body, signed_timestamp=False)
    headers = sign(SECRET, body, 0)
    assert RequestValidator(SECRET).validate(f"{URL}?{query}", body, headers["X-Twilio-Signature"])
    # A JSON body without its hash in the URL would be unsigned: rejected.
    signature = RequestValidator(SECRET).compute_signature(URL, {})
    unsigned = {"Content-Type": "application/json", "X-Twilio-Signature": signature}
    assert twilio_source().verify(Headers(unsigned), body.encode(), time.time()).reason in FAILED


def test_twilio_shared_key_hmac_sha256() -> None:
    from twilio.request_validator import RequestValidator

    settings = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"

    def sign(secret: str, body: str, now: int) -> dict[str, str]:
        signature = RequestValidator(secret).compute_signature(URL, PARAMS, "HMAC_SHA256")
        return {"Content-Type": FORM, "X-Twilio-Signature": signature,
                "X-Twilio-Webhooks-Signature-Settings": settings}

    check(twilio_source(), sign, body=urlencode(PARAMS), signed_timestamp=False)
    verdict = twilio_source().verify(Headers(sign(SECRET, "", 0)), urlencode(PARAMS).encode(), 0)
    assert verdict.scheme == "hmac-sha256"
    unknown = {**sign(SECRET, "", 0), "X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_X"}
    assert twilio_source().verify(Headers(unknown), urlencode(PARAMS).encode(), 0).reason in FAILED


ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
ADYEN_OTHER = "0123456789ABCDEF" * 4
ITEM = {"additionalData": {"authCode": "058679"}, "amount": {"currency": "EUR", "value": 1130},
        "eventCode": "AUTHORISATION", "eventDate": "2024-05-29T16:26:10+02:00",
        "merchantAccountCode": "YOUR_MERCHANT_ACCOUNT", "merchantReference": "order-1",
        "pspReference": "QFQTPCQ8HXSKGK82", "success": "true"}


def adyen_body(key: str) -> dict[str, Any]:
    from Adyen.util import generate_notification_sig

    item = json.loads(json.dumps(ITEM))
    signed = {k: v for k, v in item.items() if k != "additionalData"}
    item["additionalData"]["hmacSignature"] = generate_notification_sig(signed, key).decode()
    return {"live": "false", "notificationItems": [{"NotificationRequestItem": item}]}


def test_adyen_generate_notification_sig() -> None:
    from Adyen.util import is_valid_hmac_notification

    src = source("adyen", [ADYEN_OTHER, ADYEN_KEY])
    document = adyen_body(ADYEN_KEY)
    assert is_valid_hmac_notification(document, ADYEN_KEY)
    body = json.dumps(document).encode()
    verdict = src.verify(Headers({}), body, time.time())
    assert verdict.ok and verdict.slot == 1
    assert src.verify(Headers({}), body.replace(b"1130", b"1131"), time.time()).reason in FAILED
    other = json.dumps(adyen_body("AB" * 32)).encode()
    assert src.verify(Headers({}), other, time.time()).reason in FAILED
    # Every item must verify: a second item signed with another key fails the whole body.
    document["notificationItems"].append(adyen_body("AB" * 32)["notificationItems"][0])
    two = json.dumps(document).encode()
    assert src.verify(Headers({}), two, time.time()).reason in FAILED


def test_adyen_basic_credentials_are_required_when_configured() -> None:
    import base64

    src = source("adyen", [ADYEN_KEY], basic={"username": "adyen", "password": SECRET})
    body = json.dumps(adyen_body(ADYEN_KEY)).encode()
    good = {"Authorization": "Basic " + base64.b64encode(f"adyen:{SECRET}".encode()).decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(f"adyen:{OTHER}".encode()).decode()}
    assert src.verify(Headers(good), body, 0).ok
    assert src.verify(Headers(bad), body, 0).reason is Reason.INVALID_CREDENTIALS
    assert src.verify(Headers({}), body, 0).reason is Reason.MISSING_SIGNATURE


def mailgun_body(key: str, now: int, token: str) -> bytes:
    signature = hmac.new(key.encode(), f"{now}{token}".encode(), hashlib.sha256).hexdigest()
    return json.dumps({"signature": {"timestamp": str(now), "token": token, "signature": signature},
                       "event-data": {"id": "CPgfbmQMTCKtHW6uIWtuVe", "event": "delivered"}}
                      ).encode()


def test_mailgun_security_guard_verify_webhook() -> None:
    from mailgun.security import SecurityGuard

    src = source("mailgun", [OTHER + "-old", SECRET])
    now, token = int(time.time()), secrets.token_hex(25)
    body = mailgun_body(SECRET, now, token)
    found = json.loads(body)["signature"]
    assert SecurityGuard.verify_webhook(SECRET, found["token"], found["timestamp"],
                                        found["signature"])
    assert src.verify(Headers({}), body, now).ok
    assert src.verify(Headers({}), body.replace(token.encode(), flip(token.encode())),
                      now).reason in FAILED
    assert src.verify(Headers({}), mailgun_body(OTHER, now, token), now).reason in FAILED
    late = now + src.config.tolerance_secs + 1
    assert src.verify(Headers({}), body, late).reason is Reason.STALE_TIMESTAMP
    assert src.verify(Headers({}), b'{"event-data":{}}', now).reason is Reason.MISSING_SIGNATURE


def test_twilio_over_http_the_request_query_is_what_is_signed(tmp_path: Any) -> None:
    """Through the HTTP path (gateway.guard puts the query in the :query pseudo-header)."""
    from starlette.testclient import TestClient
    from twilio.request_validator import RequestValidator

    from gateway.app import create_app
    from gateway.config import parse_config
    from gateway.publish.memory import MemoryPublisher

    url = "https://hooks.example.com/webhooks/tw"
    config = parse_config({"storage": {"path": str(tmp_path)}, "sources": {
        "tw": {"provider": "twilio", "secrets": [SECRET], "notification_url": url}}})
    body = urlencode(PARAMS)
    signature = RequestValidator(SECRET).compute_signature(url + "?order=o-1", PARAMS)
    headers = {"Content-Type": FORM, "X-Twilio-Signature": signature}
    publisher = MemoryPublisher()
    with TestClient(create_app(config, publisher)) as client:
        assert client.post("/webhooks/tw?order=o-2", content=body, headers=headers).status_code == 401
        answer = client.post("/webhooks/tw?order=o-1", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
    [record] = [r for r in publisher.records if r.topic.endswith(".twilio")]
    envelope = json.loads(record.value)
    assert envelope["type"] == "twilio.message.received" and envelope["data"] == PARAMS
