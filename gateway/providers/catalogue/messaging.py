"""Presets of messaging, email, streaming, analytics and auth providers; Discord and SendGrid sign
with public-key schemes (gateway.verify.ed25519, gateway.verify.ecdsa)."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.headers import Headers
from gateway.providers import handshakes
from gateway.providers.base import CannotSign, Fields, Payload, text
from gateway.providers.preset import Mapping, Preset, sample
from gateway.verify import Verifier
from gateway.verify import ecdsa as ecdsa_scheme
from gateway.verify import ed25519 as ed25519_scheme
from gateway.verify import twitter as twitter_scheme
from gateway.verify.hmac import HmacSpec

TWITCH = Preset(
    name="twitch", title="Twitch EventSub",
    docs="https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
    hmac=HmacSpec(header="Twitch-Eventsub-Message-Signature", prefix="sha256=", require_prefix=True,
                  template="{id}{timestamp}{body}",
                  headers=(("id", "Twitch-Eventsub-Message-Id"),
                           ("timestamp", "Twitch-Eventsub-Message-Timestamp")),
                  timestamp="timestamp", timestamp_format="rfc3339"),
    tolerance_secs=600,  # Twitch: "older than 10 minutes"
    # a `revocation` message (Twitch ended the subscription) is `<subscription type>.revocation`
    mapping=Mapping(type=("header:Twitch-Eventsub-Subscription-Type",),
                    action="header:Twitch-Eventsub-Message-Type", usual_action="notification",
                    id=("header:Twitch-Eventsub-Message-Id",),
                    subject=("/event/broadcaster_user_id", "/subscription/id"),
                    time=("header:Twitch-Eventsub-Message-Timestamp",)),
    samples={"channel.follow": sample(
        '{"subscription":{"id":"$UUID","type":"channel.follow","version":"2","status":"enabled",'
        '"cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},'
        '"transport":{"method":"webhook","callback":"https://example.com/webhooks/twitch"},'
        '"created_at":"$NOW_ISO"},"event":{"user_id":"1234","user_login":"cool_user",'
        '"user_name":"Cool_User","broadcaster_user_id":"1337","broadcaster_user_login":'
        '"cooler_user","broadcaster_user_name":"Cooler_User","followed_at":"$NOW_ISO"}}',
        Twitch_Eventsub_Message_Type="notification",
        Twitch_Eventsub_Subscription_Type="channel.follow",
        Twitch_Eventsub_Subscription_Version="2")},
    handshake=handshakes.twitch,
    handshake_doc="`webhook_callback_verification`: answers the challenge as text/plain",
    checked="signed independently (`sha256=` hex over `{id}{timestamp}{body}`, Twitch's docs)",
)

POSTMARK = Preset(
    name="postmark", title="Postmark",
    docs="https://postmarkapp.com/developer/webhooks/webhooks-overview#protecting-your-webhook",
    basic=True,
    mapping=Mapping(type=("/RecordType",), subject=("/MessageID",),
                    time=("/DeliveredAt", "/BouncedAt", "/ReceivedAt", "/ChangedAt"),
                    tenant=("/ServerID",)),
    samples={"Delivery": sample(
        '{"RecordType":"Delivery","ServerID":23,"MessageStream":"outbound","MessageID":"$UUID",'
        '"Recipient":"john@example.com","Tag":"welcome-email","DeliveredAt":"$NOW_ISO",'
        '"Details":"Test delivery webhook details","Metadata":{"a_key":"a_value"}}')},
    checked="no signature: HTTP Basic credentials in the webhook URL, as Postmark documents",
)

SEGMENT = Preset(
    name="segment", title="Segment (Webhooks destination)",
    docs="https://segment.com/docs/connections/destinations/catalog/webhooks/#authentication",
    hmac=HmacSpec(header="X-Signature", algorithm="sha1"),
    mapping=Mapping(type=("/type",), id=("/messageId",),
                    subject=("/userId", "/anonymousId"), time=("/timestamp",)),
    samples={"track": sample(
        '{"type":"track","event":"Order Completed","userId":"user_$ID","messageId":"$UUID",'
        '"timestamp":"$NOW_ISO","properties":{"order_id":"50314b8e9bcf000000000000","total":27.5},'
        '"context":{"library":{"name":"analytics.js","version":"2.11.1"}}}')},
    checked="signed independently (hex HMAC-SHA1 of the body with the shared secret)",
)

CUSTOMERIO = Preset(
    name="customerio", title="Customer.io (reporting webhooks)",
    docs="https://docs.customer.io/journeys/webhooks/#securely-verify-requests",
    hmac=HmacSpec(header="X-CIO-Signature", template="v0:{timestamp}:{body}",
                  headers=(("timestamp", "X-CIO-Timestamp"),), timestamp="timestamp"),
    mapping=Mapping(type=("/object_type",), action="/metric", id=("/event_id",),
                    subject=("/data/customer_id", "/data/identifiers/id"), time=("/timestamp",)),
    samples={"email.sent": sample(
        '{"data":{"action_id":42,"campaign_id":23,"customer_id":"user-123","delivery_id":'
        '"RAECAAFwnUSneIa0ZXkmq8EdkAM==","identifiers":{"id":"user-123"},"recipient":'
        '"test@example.com","subject":"Thanks for signing up"},"event_id":"01E2EMRMM6TZ12TF9WGZN0WJQT",'
        '"metric":"sent","object_type":"email","timestamp":$NOW}')},
    checked="signed independently (hex HMAC-SHA256 over `v0:{timestamp}:{body}`)",
)


def _standard(name: str, title: str, docs: str, subject: tuple[str, ...], time: tuple[str, ...],
              tenant: tuple[str, ...], samples: dict[str, Any], checked: str) -> Preset:
    """A Standard Webhooks sender with Svix's `svix-*` headers and `whsec_` secrets."""
    return Preset(
        name=name, title=title, docs=docs, key="whsec",
        hmac=HmacSpec(header="svix-signature", encodings=("base64",), prefix="v1,",
                      require_prefix=True, commas=False, template="{id}.{timestamp}.{body}",
                      headers=(("id", "svix-id"), ("timestamp", "svix-timestamp")),
                      timestamp="timestamp"),
        header_format="v1,{sig}",
        mapping=Mapping(type=("/type",), id=("header:svix-id",), subject=subject, time=time,
                        tenant=tenant),
        samples=samples, checked=checked,
    )


CLERK = _standard(
    "clerk", "Clerk", "https://clerk.com/docs/webhooks/overview", ("/data/id",), ("/timestamp",),
    ("/instance_id",),
    {"user.created": sample(
        '{"data":{"id":"user_$ID","object":"user","first_name":"Example","last_name":"Example",'
        '"created_at":$NOW_MS,"email_addresses":[{"email_address":"example@example.org",'
        '"id":"idn_$ID"}]},"event_attributes":{"http_request":{"client_ip":"0.0.0.0",'
        '"user_agent":"Mozilla/5.0"}},"instance_id":"ins_$ID","object":"event","timestamp":$NOW_MS,'
        '"type":"user.created"}')},
    "svix 2.9.1 (Svix's Python library) Webhook.sign and standardwebhooks 1.3.0 Webhook.sign")

RESEND = _standard(
    "resend", "Resend", "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests",
    ("/data/email_id", "/data/id"), ("/created_at",), (),
    {"email.delivered": sample(
        '{"type":"email.delivered","created_at":"$NOW_ISO","data":{"created_at":"$NOW_ISO",'
        '"email_id":"$UUID","from":"Acme <onboarding@resend.dev>","to":["delivered@resend.dev"],'
        '"subject":"Sending this example"}}')},
    "svix 2.9.1 (Svix's Python library) Webhook.sign and standardwebhooks 1.3.0 Webhook.sign")


def _asymmetric(keys_of: Any, build: Any) -> Any:
    def verifier(cfg: Any) -> Verifier:
        keys = [keys_of(secret.reveal()) for secret in cfg.secrets]
        return build(keys, cfg.tolerance_secs)

    return verifier


def _sign_with(cfg: Any, scheme: str, body: bytes, now: float) -> tuple[str, bytes]:
    """Only for `webhook-gateway send`: the private key of a test key pair (`sample_signing_key`,
    PEM) whose public key the source holds. Real deliveries are signed by the provider."""
    if cfg.sample_signing_key is None:
        raise CannotSign(f"{scheme} signs with its own private key: set the source's "
                         "sample_signing_key (a test key pair's PEM private key) to send samples")
    key = serialization.load_pem_private_key(cfg.sample_signing_key.reveal(), password=None)
    stamp = str(int(now))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return stamp, key.sign(stamp.encode() + body)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return stamp, key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))


def _discord_sign(cfg: Any, body: bytes, now: float) -> dict[str, str]:
    stamp, signature = _sign_with(cfg, "discord", body, now)
    return {"X-Signature-Ed25519": signature.hex(), "X-Signature-Timestamp": stamp}


def _sendgrid_sign(cfg: Any, body: bytes, now: float) -> dict[str, str]:
    stamp, signature = _sign_with(cfg, "sendgrid", body, now)
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp}


DISCORD = Preset(
    name="discord", title="Discord (webhook events)",
    docs="https://discord.com/developers/docs/events/webhook-events#setting-up-an-endpoint",
    verifier=_asymmetric(ed25519_scheme.public_key, lambda keys, tolerance: ed25519_scheme.verifier(
        keys, "X-Signature-Ed25519", "X-Signature-Timestamp", tolerance)),
    secret_check=ed25519_scheme.public_key, signer=_discord_sign, scheme="ed25519",
    extra={"credential_headers": ("X-Signature-Ed25519",)},
    mapping=Mapping(type=("/event/type",), subject=("/event/data/user/id", "/event/data/guild/id"),
                    time=("/event/timestamp",), tenant=("/application_id",)),
    samples={"APPLICATION_AUTHORIZED": sample(
        '{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":'
        '"APPLICATION_AUTHORIZED","timestamp":"$NOW_ISO","data":{"integration_type":0,"scopes":'
        '["applications.commands"],"user":{"id":"$NOW","username":"discord"}}}}')},
    handshake=handshakes.discord, handshake_doc="PING (`type: 0`): answered 204, no body",
    checked="discord-interactions 0.4.0 (Discord's Python library) verify_key",
)

SENDGRID = Preset(
    name="sendgrid", title="SendGrid Event Webhook (signed)",
    docs="https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-"
         "event-webhook-security-features",
    verifier=_asymmetric(ecdsa_scheme.public_key, lambda keys, tolerance: ecdsa_scheme.verifier(
        keys, "X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp",
        tolerance)),
    secret_check=ecdsa_scheme.public_key, signer=_sendgrid_sign, scheme="ecdsa-p256",
    extra={"credential_headers": ("X-Twilio-Email-Event-Webhook-Signature",)},
    batch=True,
    mapping=Mapping(default_type="events", subject=("/0/sg_message_id",),
                    time=("/0/timestamp",)),
    samples={"events": sample(
        '[{"email":"example@test.com","timestamp":$NOW,"smtp-id":"<14c5d75ce93.dfd.64b469@'
        'ismtpd-555>","event":"delivered","category":"cat facts","sg_event_id":"$ID",'
        '"sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","response":'
        '"250 OK"}]')},
    checked="sendgrid 6.12.5 (Twilio SendGrid's Python library) EventWebhook.verify_signature",
)


def _twitter_extract(payload: Payload, headers: Headers) -> Fields:
    """An Account Activity delivery names its kind by its one `*_events` key
    (`tweet_create_events`: `tweet_create`), for the user in `for_user_id`."""
    kind = next((key[:-len("_events")] for key in payload if key.endswith("_events")
                 and len(key) > len("_events")), None)
    events = payload.get(f"{kind}_events") if kind else None
    first = events[0] if isinstance(events, list) and events else None
    stamp = first.get("timestamp_ms") if isinstance(first, dict) else None
    return Fields(type=kind, subject=text(payload, "for_user_id"),
                  time=int(stamp) if isinstance(stamp, str) and stamp.isdigit() else None)


def _twitter_sign(cfg: Any, body: bytes, now: float) -> dict[str, str]:
    return {"x-twitter-webhooks-signature": twitter_scheme.sign(cfg.secrets[0].reveal(), body)}


TWITTER = Preset(
    name="twitter", title="X (Twitter) Account Activity API",
    docs="https://docs.x.com/x-api/enterprise-gnip-2.0/fundamentals/account-activity#securing-"
         "webhooks",
    verifier=lambda cfg: twitter_scheme.verifier([s.reveal() for s in cfg.secrets]),
    signer=_twitter_sign, scheme="hmac-sha256", extract=_twitter_extract,
    mapping=Mapping(),  # `extract` above: the kind is a key's name, not a value
    handshake_on_get=True, proof=handshakes.twitter_crc,
    handshake_doc="CRC (GET with `crc_token`, unsigned): answers its `response_token`",
    samples={"tweet_create": sample(
        '{"for_user_id":"2244994945","tweet_create_events":[{"created_at":"Mon Dec 07 10:00:00 '
        '+0000 2026","id_str":"$NOW","text":"hello @XDevelopers","user":{"id_str":"6253282",'
        '"screen_name":"XDevelopers"},"timestamp_ms":"$NOW_MS"}]}')},
    checked="signed independently (`sha256=` base64 HMAC-SHA256 of the body); the CRC answer "
            "computed independently over HTTP, X's documented recipe",
)

PRESETS = (TWITCH, POSTMARK, SEGMENT, CUSTOMERIO, CLERK, RESEND, DISCORD, SENDGRID, TWITTER)
