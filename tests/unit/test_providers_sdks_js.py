"""Presets checked against the providers' own code on the npm registry (tests/sdk_js/).

As in tests/unit/test_providers_sdks.py: a request signed by the provider's library is accepted
by the gateway's source; one flipped body byte, a timestamp past the tolerance (where one is
signed) and a signature under another secret are rejected. Where the library only verifies, the
request is signed the way the provider's docs say and the library's own verifier is shown to
accept it and to reject the flipped body and the other secret, so both sides agree.

One `node tests/sdk_js/sign.mjs` runs per module, for every request at once. Without node or
tests/sdk_js/node_modules (`make test` runs `npm ci`) these tests skip, except under CI, where
they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.outcome import Reply
from tests.fixtures import flip
from tests.unit.test_providers_sdks import BODY, OTHER, SECRET, Sign, check, source

SDK_JS = Path(__file__).resolve().parents[1] / "sdk_js"
# Non-ASCII text too: the libraries sign JavaScript strings (UTF-8 encoded), the gateway the bytes.
BODY_UTF8 = BODY[:-1] + ',"note":"Zoë ✓ 日本"}'
AGREES = {"signed": True, "flipped": False, "other": False}  # the library's verdicts, when right
ZOOM_VALIDATION = '{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,' \
                  '"event":"endpoint.url_validation"}'
ZOOM = '{"event":"meeting.started","event_ts":1654503849680,"payload":{"account_id":"AAAAAABBBB",' \
       '"object":{"id":"1234567890","uuid":"4444AAAiAAAAAiAiAiiAii==","topic":"Zoë ✓ 日本"}}}'


def linear_body(now_ms: int) -> str:
    """Linear's library wants the signed body's `webhookTimestamp` within a minute of its clock."""
    return ('{"action":"create","type":"Issue","data":{"id":"obj_1"},"organizationId":"org_1",'
            f'"webhookTimestamp":{now_ms},"webhookId":"wh_1"}}')


def requests(now: int) -> dict[str, dict[str, Any]]:
    """Every request the module's tests sign, by name: one node run does them all."""
    bodies = {"linear": linear_body(now * 1000), "linear-stale": linear_body((now - 600) * 1000),
              "zoom": ZOOM, "zoom-validation": ZOOM_VALIDATION}
    names = ["github", "notion", "linear", "linear-stale", "mux", "webflow", "zoom",
             "zoom-validation", "shopify", "shopify-events"]
    made = {}
    for name in names:
        body = bodies.get(name, BODY_UTF8)
        provider = name.removesuffix("-stale").removesuffix("-validation")
        made[name] = {"provider": provider, "secret": SECRET, "other": OTHER, "body": body,
                      "flipped": flip(body.encode()).decode(), "now": now}
    return made


def unavailable() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (the npm libraries' checks need Node.js 20+)"
    if not (SDK_JS / "node_modules").is_dir():
        return ("tests/sdk_js/node_modules is missing: `make test` installs it "
                "(npm ci --prefix tests/sdk_js)")
    return None


@pytest.fixture(scope="module")
def signed() -> dict[str, dict[str, Any]]:
    """name -> {"request", "headers", "other_headers", "library"} (see tests/sdk_js/sign.mjs)."""
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the npm libraries' checks: {reason}")
        pytest.skip(reason)
    made = requests(int(time.time()))
    run = subprocess.run(["node", str(SDK_JS / "sign.mjs")], input=json.dumps(list(made.values())),
                         capture_output=True, encoding="utf-8", timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    return {name: {"request": request, **result}
            for (name, request), result in zip(made.items(), results, strict=True)}


def signer(result: dict[str, Any]) -> Sign:
    """The `sign` that `check` calls: the headers the node run made for that body and secret."""
    def sign(secret: str, body: str, now: int) -> dict[str, str]:
        assert body == result["request"]["body"]
        return result["headers"] if secret == SECRET else result["other_headers"]

    return sign


def check_js(result: dict[str, Any], provider: str, *, signed_timestamp: bool,
             **options: Any) -> None:
    assert result["library"] == AGREES
    check(source(provider, [SECRET], **options), signer(result), body=result["request"]["body"],
          signed_timestamp=signed_timestamp)


def test_github_octokit_webhooks_methods(signed: dict[str, dict[str, Any]]) -> None:
    """@octokit/webhooks-methods sign (the header) and verify, on the built-in `github`."""
    check_js(signed["github"], "github", signed_timestamp=False)


def test_notion_client_sign_and_verify(signed: dict[str, dict[str, Any]]) -> None:
    """@notionhq/client signWebhookPayload (the header) and verifyWebhookSignature."""
    check_js(signed["notion"], "notion", signed_timestamp=False)


def test_linear_webhook_client_verify(signed: dict[str, dict[str, Any]]) -> None:
    """@linear/sdk/webhooks LinearWebhookClient.verify accepts the documented signature, and
    refuses it over a body whose `webhookTimestamp` is ten minutes old."""
    check_js(signed["linear"], "linear", signed_timestamp=False)
    assert signed["linear-stale"]["library"]["signed"] is False


def test_linear_stale_webhook_timestamp_is_refused_by_the_gateway_too(
        signed: dict[str, dict[str, Any]]) -> None:
    """Linear's library refuses a body whose signed webhookTimestamp is over a minute old (its
    replay check); so does the preset (`body_timestamp`, 60 s)."""
    stale = signed["linear-stale"]
    verdict = source("linear", [SECRET]).verify(Headers(stale["headers"]),
                                                stale["request"]["body"].encode(),
                                                stale["request"]["now"])
    assert verdict.reason is Reason.STALE_TIMESTAMP


def test_mux_node_verify_signature(signed: dict[str, dict[str, Any]]) -> None:
    """@mux/mux-node webhooks.unwrap (verifySignature): `t=,v1=` over `{t}.{body}`."""
    check_js(signed["mux"], "mux", signed_timestamp=True)


def test_webflow_api_verify_signature(signed: dict[str, dict[str, Any]]) -> None:
    """webflow-api WebflowClient.webhooks.verifySignature: ms timestamp, `{timestamp}:{body}`."""
    check_js(signed["webflow"], "webflow", signed_timestamp=True)


def test_zoom_rivet_receiver(signed: dict[str, dict[str, Any]]) -> None:
    """@zoom/rivet's receiver (AwsLambdaReceiver) verifies `v0=` over `v0:{timestamp}:{body}`, and
    answers endpoint.url_validation exactly as the gateway does."""
    check_js(signed["zoom"], "zoom", signed_timestamp=True)
    validation = signed["zoom-validation"]
    assert validation["library"] == AGREES
    src = source("zoom", [SECRET])
    headers, body = Headers(validation["headers"]), ZOOM_VALIDATION.encode()
    assert src.verify(headers, body, validation["request"]["now"]).ok
    assert src.handshake is not None
    assert src.handshake(headers, body) == Reply(json=validation["answer"])


def test_shopify_api_webhooks_validate(signed: dict[str, dict[str, Any]]) -> None:
    """@shopify/shopify-api createSHA256HMAC (the header) and webhooks.validate (node adapter)."""
    check_js(signed["shopify"], "shopify", signed_timestamp=False)


def test_shopify_api_events_headers(signed: dict[str, dict[str, Any]]) -> None:
    """Shopify's newer event deliveries carry `shopify-hmac-sha256` (no `X-` prefix), which the
    library's webhooks.validate accepts; so does the preset."""
    check_js(signed["shopify-events"], "shopify", signed_timestamp=False)
