"""Presets of workplace tools: chat, meetings, forms, scheduling, signatures, CRM, identity."""

from __future__ import annotations

from gateway.providers import handshakes
from gateway.providers.preset import Mapping, Preset, sample
from gateway.verify.hmac import HmacSpec

SLACK = Preset(
    name="slack", title="Slack (Events API)",
    docs="https://api.slack.com/authentication/verifying-requests-from-slack",
    hmac=HmacSpec(header="X-Slack-Signature", prefix="v0=", require_prefix=True,
                  template="v0:{timestamp}:{body}",
                  headers=(("timestamp", "X-Slack-Request-Timestamp"),), timestamp="timestamp"),
    mapping=Mapping(type=("/event/type", "/type"), id=("/event_id",),
                    subject=("/event/channel", "/event/item/channel", "/event/user"),
                    time=("/event_time",), tenant=("/team_id", "/enterprise_id")),
    samples={"app_mention": sample(
        '{"token":"XXYYZZ","team_id":"T123ABC456","api_app_id":"A123ABC456","event":{"type":'
        '"app_mention","user":"U123ABC456","text":"<@U0LAN0Z89> is it everything a river should '
        'be?","ts":"$NOW.000200","channel":"C123ABC456","event_ts":"$NOW.000200"},"type":'
        '"event_callback","event_id":"Ev$ID","event_time":$NOW}')},
    handshake=handshakes.slack, handshake_doc="`url_verification`: answers the challenge",
    checked="slack-sdk 3.48.0 (Slack's Python SDK) SignatureVerifier generate_signature and "
            "is_valid",
)

ZOOM = Preset(
    name="zoom", title="Zoom",
    docs="https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events",
    hmac=HmacSpec(header="x-zm-signature", prefix="v0=", require_prefix=True,
                  template="v0:{timestamp}:{body}",
                  headers=(("timestamp", "x-zm-request-timestamp"),), timestamp="timestamp"),
    mapping=Mapping(type=("/event",), subject=("/payload/object/uuid", "/payload/object/id"),
                    time=("/event_ts",), tenant=("/payload/account_id",)),
    samples={"meeting.started": sample(
        '{"event":"meeting.started","event_ts":$NOW_MS,"payload":{"account_id":"AAAAAABBBB",'
        '"object":{"id":"1234567890","uuid":"4444AAAiAAAAAiAiAiiAii==","host_id":"x1yCzABCDEfg",'
        '"topic":"My Meeting","type":2,"start_time":"$NOW_ISO","timezone":"America/Los_Angeles"}}}')},
    handshake=handshakes.zoom,
    handshake_doc="`endpoint.url_validation`: answers plainToken and encryptedToken",
    checked="@zoom/rivet 0.4.0 (npm) AwsLambdaReceiver: verifies it (`v0:{timestamp}:{body}`) and "
            "answers endpoint.url_validation as the gateway does",
)

INTERCOM = Preset(
    name="intercom", title="Intercom",
    docs="https://developers.intercom.com/docs/webhooks/setting-up-webhooks#signed-notifications",
    hmac=HmacSpec(header="X-Hub-Signature", algorithm="sha1", prefix="sha1=", require_prefix=True),
    mapping=Mapping(type=("/topic",), id=("/id",), subject=("/data/item/id",),
                    time=("/created_at",), tenant=("/app_id",)),
    samples={"conversation.user.created": sample(
        '{"type":"notification_event","app_id":"a86dr8yl","data":{"type":"notification_event_data",'
        '"item":{"type":"conversation","id":"$NOW","created_at":$NOW,"state":"open"}},'
        '"id":"notif_$UUID","topic":"conversation.user.created","delivery_status":"pending",'
        '"delivery_attempts":1,"created_at":$NOW}')},
    checked="signed independently (`sha1=` hex HMAC-SHA1 of the body with the client secret)",
)

TYPEFORM = Preset(
    name="typeform", title="Typeform",
    docs="https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
    hmac=HmacSpec(header="Typeform-Signature", encodings=("base64",), prefix="sha256=",
                  require_prefix=True),
    mapping=Mapping(type=("/event_type",), id=("/event_id",),
                    subject=("/form_response/form_id",), time=("/form_response/submitted_at",)),
    samples={"form_response": sample(
        '{"event_id":"$ID","event_type":"form_response","form_response":{"form_id":"lT4Z3j",'
        '"token":"a3a12ec67a1365927098a606107fac15","submitted_at":"$NOW_ISO","landed_at":'
        '"$NOW_ISO","answers":[{"type":"text","text":"It\'s cold right now!","field":{"id":'
        '"JwWggjAKtOkA","type":"short_text"}}]}}')},
    checked="signed independently (`sha256=` base64 HMAC-SHA256 of the body, Typeform's docs)",
)

CALENDLY = Preset(
    name="calendly", title="Calendly",
    docs="https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures",
    hmac=HmacSpec(header="Calendly-Webhook-Signature", pairs="v1", template="{t}.{body}",
                  timestamp="t"),
    header_format="t={t},v1={sig}",
    tolerance_secs=180,  # the 3 minutes of Calendly's own example
    mapping=Mapping(type=("/event",), subject=("/payload/uri",), time=("/created_at",)),
    samples={"invitee.created": sample(
        '{"created_at":"$NOW_ISO","created_by":"https://api.calendly.com/users/AAAAAAAAAAAAAAAA",'
        '"event":"invitee.created","payload":{"uri":"https://api.calendly.com/scheduled_events/'
        'GBGBDCAADAEDCRZ2/invitees/$ID","email":"test@example.com","name":"John Doe",'
        '"status":"active"}}')},
    checked="signed independently (`t=,v1=` over `{t}.{body}`, Calendly's docs)",
)

DOCUSIGN = Preset(
    name="docusign", title="DocuSign Connect",
    docs="https://developers.docusign.com/platform/webhooks/connect/hmac/",
    hmac=HmacSpec(header="X-DocuSign-Signature-1", encodings=("base64",), every_header=True,
                  aliases=tuple(f"X-DocuSign-Signature-{n}" for n in range(2, 11))),
    mapping=Mapping(type=("/event",), subject=("/data/envelopeId",),
                    time=("/generatedDateTime",), tenant=("/data/accountId",)),
    samples={"envelope-completed": sample(
        '{"event":"envelope-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/'
        '$UUID/envelopes/$UUID","retryCount":0,"configurationId":10418,"generatedDateTime":'
        '"$NOW_ISO","data":{"accountId":"$UUID","userId":"$UUID","envelopeId":"$UUID"}}')},
    checked="signed independently (base64 HMAC-SHA256 of the body; one header per key)",
)

HUBSPOT = Preset(
    name="hubspot", title="HubSpot (signature v3)",
    docs="https://developers.hubspot.com/docs/api/webhooks/validating-requests",
    hmac=HmacSpec(header="X-HubSpot-Signature-v3", encodings=("base64",),
                  template="POST{url}{body}{timestamp}",
                  headers=(("timestamp", "X-HubSpot-Request-Timestamp"),), timestamp="timestamp",
                  timestamp_format="unix_ms"),
    fixed=(("url", "notification_url"),),
    batch=True,
    mapping=Mapping(default_type="events", subject=("/0/objectId",), time=("/0/occurredAt",),
                    tenant=("/0/portalId",)),
    samples={"events": sample(
        '[{"eventId":$NOW,"subscriptionId":12345,"portalId":62515,"appId":54321,"occurredAt":'
        '$NOW_MS,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":123,'
        '"changeSource":"CRM","propertyName":"email","propertyValue":"sample@example.com"}]')},
    checked="hubspot-api-client 12.0.0 (HubSpot's Python library) Signature.get_signature (v3)",
)

OKTA = Preset(
    name="okta", title="Okta event hooks",
    docs="https://developer.okta.com/docs/concepts/event-hooks/",
    token="Authorization",
    mapping=Mapping(type=("/data/events/0/eventType",), id=("/eventId",), time=("/eventTime",),
                    subject=("/data/events/0/target/0/id", "/data/events/0/actor/id")),
    samples={"user.session.start": sample(
        '{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1",'
        '"source":"https://example.okta.com/api/v1/eventHooks/whoql0HfiLGPWc8Jx0g3","eventId":'
        '"$UUID","data":{"events":[{"uuid":"$UUID","published":"$NOW_ISO","eventType":'
        '"user.session.start","displayMessage":"User login to Okta","actor":{"id":"00u1qw1mqitPHM8AJ0g7",'
        '"type":"User"},"target":[{"id":"00u1qw1mqitPHM8AJ0g7","type":"User"}]}]},'
        '"eventTime":"$NOW_ISO","contentType":"application/json"}')},
    handshake=handshakes.okta, handshake_on_get=True,
    handshake_doc="one-time GET with `X-Okta-Verification-Challenge`: answered `{\"verification\": ...}`",
    checked="no signature: the Authorization header value is compared (Okta's docs)",
)

XERO = Preset(
    name="xero", title="Xero",
    docs="https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/",
    hmac=HmacSpec(header="x-xero-signature", encodings=("base64",)),
    mapping=Mapping(type=("/events/0/eventCategory",), action="/events/0/eventType",
                    subject=("/events/0/resourceId",), time=("/events/0/eventDateUtc",),
                    tenant=("/events/0/tenantId",)),
    samples={"INVOICE.UPDATE": sample(
        '{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/$UUID",'
        '"resourceId":"$UUID","eventDateUtc":"$NOW_ISO","eventType":"UPDATE","eventCategory":'
        '"INVOICE","tenantId":"$UUID","tenantType":"ORGANISATION"}],"firstEventSequence":1,'
        '"lastEventSequence":1,"entropy":"S0m3r4Nd0mt3xt"}')},
    handshake=handshakes.xero, handshake_doc="intent to receive (no events): 200",
    checked="signed independently (base64 HMAC-SHA256 of the body, Xero's docs)",
)

AIRTABLE = Preset(
    name="airtable", title="Airtable",
    docs="https://airtable.com/developers/web/api/webhooks-overview#webhook-notification-delivery",
    hmac=HmacSpec(header="X-Airtable-Content-MAC", prefix="hmac-sha256=", require_prefix=True),
    key="base64",  # the webhook's macSecretBase64, as Airtable returns it
    mapping=Mapping(default_type="notification", subject=("/webhook/id",), time=("/timestamp",),
                    tenant=("/base/id",)),
    samples={"notification": sample(
        '{"base":{"id":"appAhjAhVS4tOqhHd"},"webhook":{"id":"ach00000000000000"},'
        '"timestamp":"$NOW_ISO"}')},
    checked="signed independently (`hmac-sha256=` hex, key = base64-decoded macSecretBase64)",
)

NOTION = Preset(
    name="notion", title="Notion",
    docs="https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads",
    hmac=HmacSpec(header="X-Notion-Signature", prefix="sha256=", require_prefix=True),
    mapping=Mapping(type=("/type",), id=("/id",), subject=("/entity/id",), time=("/timestamp",),
                    tenant=("/workspace_id",)),
    samples={"page.created": sample(
        '{"id":"$UUID","timestamp":"$NOW_ISO","workspace_id":"$UUID","workspace_name":"Acme",'
        '"subscription_id":"$UUID","integration_id":"$UUID","type":"page.created","authors":'
        '[{"id":"$UUID","type":"person"}],"attempt_number":1,"entity":{"id":"$UUID","type":"page"},'
        '"data":{"parent":{"id":"$UUID","type":"space"}}}')},
    unsigned_token=handshakes.notion_token,
    handshake_doc="one-time `verification_token` POST (unsigned): answered 200, the token kept "
                  "for `secrets tokens`",
    checked="@notionhq/client 5.26.0 (npm) signWebhookPayload and verifyWebhookSignature",
)

WEBFLOW = Preset(
    name="webflow", title="Webflow",
    docs="https://developers.webflow.com/data/docs/working-with-webhooks#validating-request-signatures",
    hmac=HmacSpec(header="x-webflow-signature", template="{timestamp}:{body}",
                  headers=(("timestamp", "x-webflow-timestamp"),), timestamp="timestamp",
                  timestamp_format="unix_ms"),
    mapping=Mapping(type=("/triggerType",), subject=("/payload/id",),
                    tenant=("/payload/siteId",)),
    samples={"form_submission": sample(
        '{"triggerType":"form_submission","payload":{"name":"Contact Us","siteId":'
        '"65427cf400e02b306eaa049c","data":{"First Name":"Zaphod","Email":"zaphod@heartofgold.ai"},'
        '"submittedAt":"$NOW_ISO","id":"$ID","formId":"65429eadebe8a9f3a30f62d0"}}')},
    checked="webflow-api 3.3.4 (npm) WebflowClient.webhooks.verifySignature",
)

PRESETS = (SLACK, ZOOM, INTERCOM, TYPEFORM, CALENDLY, DOCUSIGN, HUBSPOT, OKTA, XERO, AIRTABLE,
           NOTION, WEBFLOW)
