"""More presets checked against the providers' own code: Python libraries on PyPI, and test
vectors that a provider prints in its documentation or pins in an official SDK's own tests.

The Python libraries are used as in tests/unit/test_providers_sdks.py (`check`: a request signed
by the library is accepted; a flipped byte, a stale timestamp, another secret are rejected; where
the library only verifies, it is shown to accept the same request). A vector is the provider's
exact (headers, body, secret, time): accepted as printed, rejected with one byte flipped.
"""

from __future__ import annotations

import time

import pytest

from gateway.errors import Reason
from gateway.headers import Headers
from tests.fixtures import flip
from tests.unit.test_providers_sdks import BODY, FAILED, OTHER, SECRET, check, source


def test_mollie_signature_validator() -> None:
    from mollie.utils.webhooks import InvalidSignatureException, SignatureValidator

    def sign(secret: str, body: str, now: int) -> dict[str, str]:
        signature = SignatureValidator.create_signature(body, secret)
        return {SignatureValidator.SIGNATURE_HEADER: "sha256=" + signature}

    headers = sign(SECRET, BODY, 0)
    assert SignatureValidator.validate(BODY, SECRET, headers["X-Mollie-Signature"])
    with pytest.raises(InvalidSignatureException):
        SignatureValidator.validate(BODY, OTHER, headers["X-Mollie-Signature"])
    # The next-gen webhooks' secret can be rotated: the library and the gateway take several.
    assert SignatureValidator.validate(BODY, [OTHER, SECRET], headers["X-Mollie-Signature"])
    check(source("mollie", [OTHER + "-old", SECRET]), sign, signed_timestamp=False)


# --- Test vectors pinned by the providers themselves --------------------------------------------

_PAGERDUTY_BODY = (  # PagerDuty/go-pagerduty's defaultBody, byte for byte
    '{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated",'
    '"resource_type":"incident","occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":'
    '"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":'
    '"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},'
    '"client":null,"data":{"id":"PGR0VU2","type":"incident","self":'
    '"https://api.pagerduty.com/incidents/PGR0VU2","html_url":'
    '"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":'
    '"A little bump in the road","service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH",'
    '"id":"PF9KMXH","self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service",'
    '"type":"service_reference"},"assignees":[{"html_url":'
    '"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G","self":'
    '"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],'
    '"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE",'
    '"id":"PUS0KTE","self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":'
    '"Default","type":"escalation_policy_reference"},"teams":[{"html_url":'
    '"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":'
    '"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering","type":"team_reference"}],'
    '"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities","id":"PSO75BM",'
    '"self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":'
    '"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,'
    '"conference_url":"https://example.com"},"resolve_reason":null}}}'
)

# (provider, headers, body, secret, the time the request is checked at, source options)
VECTORS = {
    # Shopify/shopify-api-php, tests/Webhooks/RegistryTest.php ($processHeaders, $processBody
    # json_encode'd) and tests/BaseTestCase.php (TEST_API_SECRET), commit
    # 4a144a84f767708515458689fc2bf769c9e465d6: what Registry::process accepts.
    "shopify": ("shopify", {"X-Shopify-Hmac-Sha256": "+R9TwYM4mbLTk3hEAOBkpA7zW2lc9vNFmVKs2u2jtyY=",
                            "X-Shopify-Topic": "products/update",
                            "X-Shopify-Shop-Domain": "test-shop.myshopify.io"},
                '{"foo":"bar"}', "7008c5f4da4718b9b45d26d3fcbbb157", None, {}),
    # The same request with the newer `shopify-*` header names, which Shopify's libraries read too
    # (Shopify/shopify-api-ruby, lib/shopify_api/webhooks/request.rb, commit
    # 34c98fdfd87413d3668b49df5698e672d497f146; @shopify/shopify-api's ShopifyEventsHeader).
    "shopify-new-headers": ("shopify", {
        "shopify-hmac-sha256": "+R9TwYM4mbLTk3hEAOBkpA7zW2lc9vNFmVKs2u2jtyY=",
        "shopify-topic": "products/update", "shopify-shop-domain": "test-shop.myshopify.io"},
        '{"foo":"bar"}', "7008c5f4da4718b9b45d26d3fcbbb157", None, {}),
    # PagerDuty/go-pagerduty (PagerDuty's Go library), webhookv3/webhookv3_test.go, case "valid",
    # commit 3df5eb4e62dcdf897d37106578d7be6ad54449dc: what webhookv3.VerifySignature accepts.
    "pagerduty": ("pagerduty", {"X-PagerDuty-Signature":
                                "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"},
                  _PAGERDUTY_BODY,
                  "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK", None, {}),
    # The same with a rotated-out key's signature first: PagerDuty sends one `v1=` per active key.
    "pagerduty-rotation": ("pagerduty", {"X-PagerDuty-Signature":
                           "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5,"
                           "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"},
                           _PAGERDUTY_BODY,
                           "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK", None,
                           {}),
    # muxinc/mux-elixir (Mux's Elixir library), test/mux/webhooks_test.exs
    # (@valid_signature_at_the_time, @payload, @secret), commit
    # 631fe1fc2371da10721fd03b5e0213baaa8791d6: valid at t=1565125718.
    "mux": ("mux", {"Mux-Signature": "t=1565125718,v1=854ece4c22acef7c66b57d4e504153bc512595e8e9c7"
                                     "72ece2a68150548c19a7"},
            '{"test":"body"}', "SuperSecret123", 1565125718, {}),
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_a_providers_own_vector_is_accepted_and_a_flipped_byte_is_not(name: str) -> None:
    provider, headers, body, secret, at, options = VECTORS[name]
    src = source(provider, [secret], **options)
    now = time.time() if at is None else at
    raw = body.encode()
    verdict = src.verify(Headers(headers), raw, now)
    assert verdict.ok, f"{name}: the provider's own vector rejected: {verdict.reason}"
    assert src.verify(Headers(headers), flip(raw), now).reason in FAILED
    assert not source(provider, [secret + "x"], **options).verify(Headers(headers), raw, now).ok
    if at is not None:  # signed timestamp: the same request a tolerance later is stale
        late = at + src.config.tolerance_secs + 1
        assert src.verify(Headers(headers), raw, late).reason is Reason.STALE_TIMESTAMP


def test_shopify_new_header_names_are_mapped_too() -> None:
    headers = {"shopify-topic": "orders/create", "shopify-event-id": "evt-1",
               "shopify-triggered-at": "2026-01-01T00:00:00Z",
               "shopify-shop-domain": "example.myshopify.com"}
    fields = source("shopify", [SECRET]).extract({"id": 1}, Headers(headers))
    assert (fields.type, fields.id, fields.time, fields.tenant) == (
        "orders/create", "evt-1", "2026-01-01T00:00:00Z", "example.myshopify.com")
