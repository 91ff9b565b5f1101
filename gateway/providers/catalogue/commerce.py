"""Presets of payment and commerce providers (the data; gateway.providers.preset is the machinery)."""

from __future__ import annotations

from gateway.providers.preset import Mapping, Preset, sample
from gateway.verify.hmac import HmacSpec

SHOPIFY = Preset(
    name="shopify", title="Shopify",
    docs="https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook",
    # Shopify's newer deliveries (Events webhooks) name their headers `shopify-*`, without the
    # `X-`: its own libraries read both (shopify-api-ruby's Webhooks::Request since 2026-02,
    # @shopify/shopify-api's ShopifyEventsHeader).
    hmac=HmacSpec(header="X-Shopify-Hmac-Sha256", encodings=("base64",),
                  aliases=("Shopify-Hmac-Sha256",)),
    mapping=Mapping(type=("header:X-Shopify-Topic", "header:Shopify-Topic"),
                    id=("header:X-Shopify-Event-Id", "header:X-Shopify-Webhook-Id",
                        "header:Shopify-Event-Id", "header:Shopify-Webhook-Id"),
                    subject=("/admin_graphql_api_id", "/id"),
                    time=("header:X-Shopify-Triggered-At", "header:Shopify-Triggered-At"),
                    tenant=("header:X-Shopify-Shop-Domain", "header:Shopify-Shop-Domain")),
    samples={"orders/create": sample(
        '{"id":820982911946154508,"admin_graphql_api_id":"gid://shopify/Order/820982911946154508",'
        '"email":"jon@example.com","created_at":"$NOW_ISO","currency":"USD","total_price":"403.00",'
        '"financial_status":"paid","name":"#9999","line_items":[{"id":866550311766439020,'
        '"title":"IPod Nano - 8GB","quantity":1,"price":"199.00"}]}',
        X_Shopify_Topic="orders/create", X_Shopify_Shop_Domain="example.myshopify.com",
        X_Shopify_Webhook_Id="$UUID", X_Shopify_Event_Id="$UUID", X_Shopify_API_Version="2025-01",
        X_Shopify_Triggered_At="$NOW_ISO")},
    checked="the test vector in Shopify's PHP library's own tests (Shopify/shopify-api-php, "
            "tests/Webhooks/RegistryTest.php, commit 4a144a84f767708515458689fc2bf769c9e465d6), "
            "under both header names; @shopify/shopify-api 13.1.0 (npm) createSHA256HMAC signs and "
            "webhooks.validate accepts, under both; ShopifyAPI (Python) has no webhook verifier",
)

SQUARE = Preset(
    name="square", title="Square",
    docs="https://developer.squareup.com/docs/webhooks/step3validate",
    hmac=HmacSpec(header="x-square-hmacsha256-signature", encodings=("base64",),
                  template="{url}{body}"),
    fixed=(("url", "notification_url"),),
    mapping=Mapping(type=("/type",), id=("/event_id",), subject=("/data/id",),
                    time=("/created_at",), tenant=("/merchant_id",)),
    samples={"payment.updated": sample(
        '{"merchant_id":"6SSW7HV8K2ST5","type":"payment.updated","event_id":"$UUID",'
        '"created_at":"$NOW_ISO","data":{"type":"payment","id":"KkAkhdMsgzn59SM8A89WgKwekxLZY",'
        '"object":{"payment":{"id":"KkAkhdMsgzn59SM8A89WgKwekxLZY","status":"COMPLETED",'
        '"amount_money":{"amount":100,"currency":"USD"}}}}}',
        Square_Environment="Sandbox")},
    checked="squareup 46.0.0.20260916 (Square's Python SDK) "
            "square.utils.webhooks_helper.verify_signature",
)

PADDLE = Preset(
    name="paddle", title="Paddle Billing",
    docs="https://developer.paddle.com/webhooks/signature-verification",
    hmac=HmacSpec(header="Paddle-Signature", pairs="h1", pair_separator=";",
                  template="{ts}:{body}", timestamp="ts"),
    header_format="ts={ts};h1={sig}",
    tolerance_secs=5,  # the default of Paddle's own SDK verifier
    mapping=Mapping(type=("/event_type",), id=("/event_id",), subject=("/data/id",),
                    time=("/occurred_at",)),
    samples={"transaction.completed": sample(
        '{"event_id":"evt_$ID","event_type":"transaction.completed","occurred_at":"$NOW_ISO",'
        '"notification_id":"ntf_$ID","data":{"id":"txn_$ID","status":"completed",'
        '"customer_id":"ctm_01hv6y1jedq4p1n0yqn5ba3ky4","currency_code":"USD"}}')},
    checked="paddle-python-sdk 1.16.1 (Paddle's Python SDK) PaddleSignature signs and "
            "Notifications Verifier verifies",
)

LEMON_SQUEEZY = Preset(
    name="lemonsqueezy", title="Lemon Squeezy",
    docs="https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
    hmac=HmacSpec(header="X-Signature"),
    mapping=Mapping(type=("/meta/event_name", "header:X-Event-Name"), subject=("/data/id",),
                    time=("/data/attributes/updated_at", "/data/attributes/created_at"),
                    tenant=("/data/attributes/store_id",)),
    samples={"order_created": sample(
        '{"meta":{"event_name":"order_created","webhook_id":"$UUID"},"data":{"type":"orders",'
        '"id":"$NOW","attributes":{"store_id":1,"customer_id":1,"status":"paid",'
        '"total":999,"currency":"USD","created_at":"$NOW_ISO","updated_at":"$NOW_ISO"}}}',
        X_Event_Name="order_created")},
    checked="signed independently (hex HMAC-SHA256 of the body, the docs' Node example)",
)

MOLLIE = Preset(
    name="mollie", title="Mollie (next-gen webhooks)",
    docs="https://docs.mollie.com/reference/webhooks-new#signature-verification",
    hmac=HmacSpec(header="X-Mollie-Signature", prefix="sha256=", require_prefix=True),
    mapping=Mapping(type=("/type",), id=("/id",), subject=("/entityId",), time=("/createdAt",)),
    samples={"payment-link.paid": sample(
        '{"resource":"event","id":"event_$ID","type":"payment-link.paid","entityId":"pl_$ID",'
        '"createdAt":"$NOW_ISO","_links":{"documentation":{"href":"https://docs.mollie.com/",'
        '"type":"text/html"}}}')},
    checked="mollie-api-py 1.10.20 (Mollie's Python SDK) "
            "mollie.utils.webhooks.SignatureValidator (create_signature and validate)",
)

RAZORPAY = Preset(
    name="razorpay", title="Razorpay",
    docs="https://razorpay.com/docs/webhooks/validate-test/",
    hmac=HmacSpec(header="X-Razorpay-Signature"),
    mapping=Mapping(type=("/event",), id=("header:X-Razorpay-Event-Id",),
                    subject=("/payload/payment/entity/id", "/payload/order/entity/id",
                             "/payload/subscription/entity/id", "/payload/refund/entity/id"),
                    time=("/created_at",), tenant=("/account_id",)),
    samples={"payment.captured": sample(
        '{"entity":"event","account_id":"acc_BFQ7uQEaa7j2z7","event":"payment.captured",'
        '"contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_$ID","entity":"payment",'
        '"amount":50000,"currency":"INR","status":"captured","order_id":"order_$ID"}}},'
        '"created_at":$NOW}', X_Razorpay_Event_Id="$ID")},
    checked="razorpay 2.0.1 (Razorpay's Python SDK) Utility.verify_webhook_signature",
)

CHECKOUT = Preset(
    name="checkout", title="Checkout.com",
    docs="https://www.checkout.com/docs/developer-resources/webhooks/manage-webhooks",
    hmac=HmacSpec(header="Cko-Signature"),
    mapping=Mapping(type=("/type",), id=("/id",), subject=("/data/id",), time=("/created_on",)),
    samples={"payment_approved": sample(
        '{"id":"evt_$ID","type":"payment_approved","version":"1.0.33","created_on":"$NOW_ISO",'
        '"data":{"id":"pay_$ID","action_id":"act_$ID","amount":6540,"currency":"USD",'
        '"reference":"ORD-5023-4E89"}}')},
    checked="signed independently (hex HMAC-SHA256 of the body with the secret key)",
)

WOOCOMMERCE = Preset(
    name="woocommerce", title="WooCommerce",
    docs="https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks",
    hmac=HmacSpec(header="X-WC-Webhook-Signature", encodings=("base64",)),
    mapping=Mapping(type=("header:X-WC-Webhook-Topic",), id=("header:X-WC-Webhook-Delivery-ID",),
                    subject=("/id",), time=("/date_modified_gmt", "/date_created_gmt"),
                    tenant=("header:X-WC-Webhook-Source",)),
    samples={"order.created": sample(
        '{"id":727,"status":"processing","currency":"USD","total":"29.35",'
        '"date_created_gmt":"$NOW_ISO","date_modified_gmt":"$NOW_ISO",'
        '"billing":{"first_name":"John","last_name":"Doe","email":"john.doe@example.com"}}',
        X_WC_Webhook_Topic="order.created", X_WC_Webhook_Resource="order",
        X_WC_Webhook_Event="created", X_WC_Webhook_Delivery_ID="$NOW",
        X_WC_Webhook_Source="https://shop.example.com/")},
    checked="signed independently (base64 HMAC-SHA256 of the body, WooCommerce's "
            "wc_webhook->generate_signature)",
)

MUX = Preset(
    name="mux", title="Mux",
    docs="https://docs.mux.com/core/verify-webhook-signatures",
    hmac=HmacSpec(header="Mux-Signature", pairs="v1", template="{t}.{body}", timestamp="t"),
    header_format="t={t},v1={sig}",
    mapping=Mapping(type=("/type",), id=("/id",), subject=("/object/id", "/data/id"),
                    time=("/created_at",), tenant=("/environment/id",)),
    samples={"video.asset.ready": sample(
        '{"type":"video.asset.ready","object":{"type":"asset","id":"$ID"},"id":"$UUID",'
        '"environment":{"name":"Production","id":"j0863n"},"data":{"id":"$ID","status":"ready"},'
        '"created_at":"$NOW_ISO"}')},
    checked="the test vector in Mux's Elixir library's own tests (muxinc/mux-elixir, "
            "test/mux/webhooks_test.exs, commit 631fe1fc2371da10721fd03b5e0213baaa8791d6), "
            "accepted at its t and stale after the tolerance; @mux/mux-node 15.3.0 (npm) "
            "webhooks.unwrap (verifySignature) accepts what the gateway accepts",
)

PERSONA = Preset(
    name="persona", title="Persona",
    docs="https://docs.withpersona.com/docs/webhooks-best-practices#checking-signatures",
    hmac=HmacSpec(header="Persona-Signature", pairs="v1", template="{t}.{body}", timestamp="t"),
    header_format="t={t},v1={sig}",
    mapping=Mapping(type=("/data/attributes/name",), id=("/data/id",),
                    subject=("/data/attributes/payload/data/id",),
                    time=("/data/attributes/created-at",)),
    samples={"inquiry.completed": sample(
        '{"data":{"type":"event","id":"evt_$ID","attributes":{"name":"inquiry.completed",'
        '"created-at":"$NOW_ISO","payload":{"data":{"type":"inquiry","id":"inq_$ID",'
        '"attributes":{"status":"completed","reference-id":"user-1234"}}}}}}')},
    checked="signed independently (`t=,v1=` over `{t}.{body}`, Persona's docs)",
)

PRESETS = (SHOPIFY, SQUARE, PADDLE, LEMON_SQUEEZY, MOLLIE, RAZORPAY, CHECKOUT, WOOCOMMERCE, MUX,
           PERSONA)
