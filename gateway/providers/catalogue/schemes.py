"""Presets whose scheme is not a header over the body: Twilio signs the URL and the form's fields
(gateway.verify.twilio); Adyen and Mailgun put the signature inside the body
(gateway.verify.adyen, gateway.verify.mailgun), so `send` signs a sample's body itself."""

from __future__ import annotations

import secrets as _random
from typing import Annotated, Any

import msgspec
from pydantic import AfterValidator

from gateway import form
from gateway.headers import Headers
from gateway.providers.base import Fields, Payload, text
from gateway.providers.preset import Mapping, Preset, sample
from gateway.settings import Model, SecretList
from gateway.verify import Verifier, credentials
from gateway.verify import adyen as adyen_scheme
from gateway.verify import mailgun as mailgun_scheme
from gateway.verify import twilio as twilio_scheme


def _raw(cfg: Any) -> list[bytes]:
    return [secret.reveal() for secret in cfg.secrets]


# -- Twilio ----------------------------------------------------------------------------------------

def _twilio_extract(payload: Payload, headers: Headers) -> Fields:
    """Which resource the callback is about, from the SID it carries, and its status: a
    recording's callback names its call too, so it is looked at first. The SIDs are shared by
    every status of a message or call (queued, sent, delivered): they are the subject, never the
    id (the body's hash is: Twilio sends no signed delivery id)."""
    message = text(payload, "MessageSid") or text(payload, "SmsSid")
    call = text(payload, "CallSid")
    if text(payload, "RecordingSid"):
        kind, status = "recording", text(payload, "RecordingStatus")
    elif message:
        kind, status = "message", text(payload, "MessageStatus") or text(payload, "SmsStatus")
    elif call:
        kind, status = "call", text(payload, "CallStatus")
    else:
        kind, status = None, None
    return Fields(type=f"{kind}.{status.lower()}" if kind and status else None,
                  subject=message or call, tenant=text(payload, "AccountSid"))


def _twilio_sign(cfg: Any, body: bytes, now: float) -> dict[str, str]:
    key = cfg.secrets[0].reveal()
    return {"Content-Type": form.CONTENT_TYPE,
            "X-Twilio-Signature": twilio_scheme.sign(key, cfg.notification_url, body)}


TWILIO = Preset(
    name="twilio", title="Twilio (request signature)",
    docs="https://www.twilio.com/docs/usage/webhooks/webhooks-security",
    verifier=lambda cfg: twilio_scheme.verifier(_raw(cfg), cfg.notification_url),
    signer=_twilio_sign, scheme="hmac-sha1", form=True, extract=_twilio_extract,
    options={"notification_url": (Annotated[str, AfterValidator(twilio_scheme.check_url)], ...)},
    extra={"credential_headers": (twilio_scheme.SIGNATURE,)},
    mapping=Mapping(),
    samples={
        "message.received": sample(
            "ToCountry=US&ToState=CA&SmsMessageSid=SM$ID$ID&NumMedia=0&ToCity=SAN+FRANCISCO"
            "&FromZip=94105&SmsSid=SM$ID$ID&FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO"
            "&Body=Hello+from+Twilio%21&FromCountry=US&To=%2B15017122661&ToZip=94105"
            "&NumSegments=1&MessageSid=SM$ID$ID&AccountSid=AC$ID$ID&From=%2B15558675310"
            "&ApiVersion=2010-04-01"),
        "message.delivered": sample(
            "SmsSid=SM$ID$ID&SmsStatus=delivered&MessageStatus=delivered&To=%2B15558675310"
            "&MessageSid=SM$ID$ID&AccountSid=AC$ID$ID&From=%2B15017250604&ApiVersion=2010-04-01"),
        "call.completed": sample(
            "Called=%2B15017122661&ToState=CA&CallerCountry=US&Direction=outbound-api"
            "&Timestamp=Wed%2C+29+May+2024+16%3A26%3A10+%2B0000&CallbackSource=call-progress-events"
            "&SipResponseCode=200&CallerState=CA&CallSid=CA$ID$ID&To=%2B15017122661"
            "&CallStatus=completed&Duration=1&CallDuration=12&AccountSid=AC$ID$ID"
            "&From=%2B15558675310&ApiVersion=2010-04-01&SequenceNumber=0"),
    },
    checked="twilio 9.13.0 (Twilio's Python library) RequestValidator.compute_signature and "
            "validate",
)


# -- Adyen -----------------------------------------------------------------------------------------

class AdyenBasic(Model):
    """The Basic credentials set on the webhook in Adyen's Customer Area: required when set."""

    username: str
    password: SecretList


def _adyen_verifier(cfg: Any) -> Verifier:
    keys = [adyen_scheme.hmac_key(secret) for secret in _raw(cfg)]
    basic = None
    if cfg.basic is not None:
        basic = credentials.basic(cfg.basic.username.encode(),
                                  [secret.reveal() for secret in cfg.basic.password])
    return adyen_scheme.verifier(keys, basic)


def _adyen_item(payload: Payload) -> tuple[dict[str, Any], int]:
    found = payload.get("notificationItems")
    first = found[0] if isinstance(found, list) and found else None
    item = first.get("NotificationRequestItem") if isinstance(first, dict) else None
    return (item if isinstance(item, dict) else {}), len(found) if isinstance(found, list) else 0


def _adyen_extract(payload: Payload, headers: Headers) -> Fields:
    """eventCode lowercased is the type (`AUTHORISATION` -> `authorisation`). The id is
    `{pspReference}:{eventCode}:{success}`: Adyen identifies an event by eventCode and
    pspReference, and a later `success` for the same pair is a new fact, not a retry to drop.
    A legacy batch of several items has no one id: its body's hash is."""
    item, count = _adyen_item(payload)
    code, psp = text(item, "eventCode"), text(item, "pspReference")
    ident = f"{psp}:{code}:{text(item, 'success') or ''}" if count == 1 and psp and code else None
    return Fields(type=code.lower() if code else None, id=ident, subject=psp,
                  time=item.get("eventDate"), tenant=text(item, "merchantAccountCode"))


def _adyen_sign_body(cfg: Any, body: bytes, now: float) -> bytes:
    payload = msgspec.json.decode(body)
    key = adyen_scheme.hmac_key(cfg.secrets[0].reveal())
    for entry in payload["notificationItems"]:
        item = entry["NotificationRequestItem"]
        item.setdefault("additionalData", {})["hmacSignature"] = adyen_scheme.sign(key, item)
    return msgspec.json.encode(payload)


def _adyen_sign(cfg: Any, body: bytes, now: float) -> dict[str, str]:
    if cfg.basic is None:
        return {}
    return credentials.basic_header(cfg.basic.username.encode("latin-1"),
                                    cfg.basic.password[0].reveal())


ADYEN = Preset(
    name="adyen", title="Adyen (HMAC webhooks)",
    docs="https://docs.adyen.com/development-resources/webhooks/verify-hmac-signatures",
    verifier=_adyen_verifier, secret_check=adyen_scheme.hmac_key, signer=_adyen_sign,
    body_signer=_adyen_sign_body, scheme="hmac-sha256", extract=_adyen_extract,
    options={"basic": (AdyenBasic | None, None)},
    extra={"credential_headers": ("Authorization",)},
    mapping=Mapping(),
    samples={"authorisation": sample(
        '{"live":"false","notificationItems":[{"NotificationRequestItem":{"additionalData":'
        '{"hmacSignature":"","expiryDate":"03/2030","authCode":"058679","cardSummary":"0004"},'
        '"amount":{"currency":"EUR","value":1130},"eventCode":"AUTHORISATION",'
        '"eventDate":"$NOW_ISO","merchantAccountCode":"YOUR_MERCHANT_ACCOUNT",'
        '"merchantReference":"order-$NOW","operations":["CANCEL","CAPTURE","REFUND"],'
        '"paymentMethod":"visa","pspReference":"$ID","reason":"058679:0004:03/2030",'
        '"success":"true"}}]}')},
    checked="Adyen 16.0.0 (Adyen's Python library) util.generate_notification_sig and "
            "is_valid_hmac_notification",
)


# -- Mailgun ---------------------------------------------------------------------------------------

def _mailgun_sign_body(cfg: Any, body: bytes, now: float) -> bytes:
    payload = msgspec.json.decode(body)
    stamp, token = str(int(now)), _random.token_hex(25)  # 50 characters, as Mailgun's
    key = cfg.secrets[0].reveal()
    payload["signature"] = {"timestamp": stamp, "token": token,
                            "signature": mailgun_scheme.sign(key, stamp, token)}
    return msgspec.json.encode(payload)


MAILGUN = Preset(
    name="mailgun", title="Mailgun (webhooks)",
    docs="https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/"
         "#securing-webhooks",
    verifier=lambda cfg: mailgun_scheme.verifier(_raw(cfg), cfg.tolerance_secs),
    signer=lambda cfg, body, now: {}, body_signer=_mailgun_sign_body, scheme="hmac-sha256",
    tolerance_secs=900,  # the mailgun library's verify_webhook default (max_age_seconds)
    mapping=Mapping(type=("/event-data/event",), id=("/event-data/id",),
                    subject=("/event-data/message/headers/message-id",),
                    time=("/event-data/timestamp",)),
    samples={"delivered": sample(
        '{"signature":{"timestamp":"$NOW","token":"","signature":""},"event-data":{"id":'
        '"$ID","timestamp":$NOW.0,"log-level":"info","event":"delivered",'
        '"delivery-status":{"tls":true,"mx-host":"smtp-in.example.com","code":250,"description":'
        '"","session-seconds":0.43,"message":"OK","attempt-no":1},"flags":{"is-routed":false,'
        '"is-authenticated":true,"is-system-test":false,"is-test-mode":false},"envelope":'
        '{"transport":"smtp","sender":"bob@sandbox.mailgun.org","sending-ip":"209.61.154.250",'
        '"targets":"alice@example.com"},"message":{"headers":{"to":"Alice <alice@example.com>",'
        '"message-id":"20130503182626.18666.16540@sandbox.mailgun.org","from":'
        '"Bob <bob@sandbox.mailgun.org>","subject":"Test delivered webhook"},"attachments":[],'
        '"size":111},"recipient":"alice@example.com","recipient-domain":"example.com",'
        '"storage":{"url":"https://se.api.mailgun.net/v3/domains/sandbox.mailgun.org/messages/'
        'message_key","key":"message_key"},"campaigns":[],"tags":["my_tag_1"],'
        '"user-variables":{"my_var_1":"Mailgun Variable #1"}}}')},
    checked="mailgun 1.10.0 (Mailgun's Python library) SecurityGuard.verify_webhook",
)

PRESETS = (TWILIO, ADYEN, MAILGUN)
