// Signs (and, where the provider's library has it, verifies) webhook requests with the providers'
// own npm libraries, for tests/unit/test_providers_sdks_js.py.
//
// stdin: a JSON list of {"provider", "secret", "other", "body", "flipped", "now"}; stdout: a
// JSON list, one {"headers", "other_headers", "library"} per request, in order. `headers` is the
// request signed with `secret`, `other_headers` the same signed with `other`. Where a library
// signs, it makes the headers; where it only verifies, they are made the way the provider's docs
// say. `library` is the library's own verdict on three requests, checked with `secret`:
// {"signed": headers + body, "flipped": headers + flipped body, "other": other_headers + body}
// Zoom's also has `answer`: what the library's receiver answers the signed request.
import { createHmac } from "node:crypto";

import Mux from "@mux/mux-node";
import { signWebhookPayload, verifyWebhookSignature } from "@notionhq/client";
import { sign as githubSign, verify as githubVerify } from "@octokit/webhooks-methods";
import { LinearWebhookClient } from "@linear/sdk/webhooks";
import "@shopify/shopify-api/adapters/node";
import { ApiVersion, LogSeverity, shopifyApi } from "@shopify/shopify-api";
import { createSHA256HMAC, HashFormat } from "@shopify/shopify-api/runtime";
import { AwsLambdaReceiver } from "@zoom/rivet/meetings";
import { WebflowClient } from "webflow-api";

const hex = (secret, message) => createHmac("sha256", secret).update(message).digest("hex");

async function settles(promise) {  // true if it resolves, false if it throws
  try {
    await promise;
    return true;
  } catch {
    return false;
  }
}

// Each provider: sign(secret, body, now) -> headers; verify(secret, body, headers) -> bool.
const PROVIDERS = {
  github: {
    sign: async (secret, body) => ({ "X-Hub-Signature-256": await githubSign(secret, body) }),
    verify: (secret, body, headers) => githubVerify(secret, body, headers["X-Hub-Signature-256"]),
  },
  notion: {
    sign: async (secret, body) => ({
      "X-Notion-Signature": await signWebhookPayload({ body, verificationToken: secret }),
    }),
    verify: (secret, body, headers) => verifyWebhookSignature(
      { body, signature: headers["X-Notion-Signature"], verificationToken: secret }),
  },
  linear: {  // verify only; it also wants the body's webhookTimestamp within a minute of now
    sign: async (secret, body) => ({ "Linear-Signature": hex(secret, body) }),
    verify: async (secret, body, headers) => {
      try {
        return new LinearWebhookClient(secret).verify(Buffer.from(body), headers["Linear-Signature"]);
      } catch {
        return false;
      }
    },
  },
  mux: {  // verify only (webhooks.verifySignature, which unwrap calls)
    sign: async (secret, body, now) => ({ "Mux-Signature": `t=${now},v1=${hex(secret, `${now}.${body}`)}` }),
    verify: (secret, body, headers) => settles(
      new Mux({ tokenId: "unused", tokenSecret: "unused" }).webhooks.unwrap(body, headers, secret)),
  },
  webflow: {  // verify only
    sign: async (secret, body, now) => {
      const stamp = String(now * 1000);
      return { "x-webflow-timestamp": stamp, "x-webflow-signature": hex(secret, `${stamp}:${body}`) };
    },
    verify: (secret, body, headers) => new WebflowClient({ accessToken: "unused" }).webhooks
      .verifySignature({ headers, body, secret }),
  },
  zoom: {  // verify only: the receiver for AWS Lambda answers 200 to a verified event, 400 if not
    sign: async (secret, body, now) => ({
      "x-zm-request-timestamp": String(now),
      "x-zm-signature": `v0=${hex(secret, `v0:${now}:${body}`)}`,
    }),
    verify: async (secret, body, headers) => (await zoom(secret, body, headers)).statusCode === 200,
    // what it answers: for endpoint.url_validation, {plainToken, encryptedToken}
    answer: async (secret, body, headers) => JSON.parse((await zoom(secret, body, headers)).body),
  },
  shopify: shopify("X-Shopify-", {}),
  // Shopify's newer "events" deliveries: the same HMAC under unprefixed header names
  "shopify-events": shopify("shopify-", { "shopify-event-id": "7f2d9c1e-5b0a-4c3e-9d8f-1a2b3c4d5e6f" }),
};

// The library's own HMAC (createSHA256HMAC, which webhooks.validate computes too) signs; the
// library's webhooks.validate (node adapter) verifies, headers it requires included.
function shopify(prefix, extra) {
  return {
    sign: async (secret, body) => ({
      [`${prefix}Hmac-Sha256`]: await createSHA256HMAC(secret, body, HashFormat.Base64),
      [`${prefix}Topic`]: "orders/create", [`${prefix}Shop-Domain`]: "example.myshopify.com",
      [`${prefix}API-Version`]: "2025-01",
      [`${prefix}Webhook-Id`]: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", ...extra,
    }),
    verify: async (secret, body, headers) => {
      const api = shopifyApi({
        apiKey: "unused", apiSecretKey: secret, scopes: [], hostName: "gateway.example.com",
        apiVersion: ApiVersion.January25, isEmbeddedApp: false,
        logger: { level: LogSeverity.Error, log: async () => {} },
      });
      const rawRequest = { method: "POST", url: "/webhooks/hook", headers: lower(headers) };
      const result = await api.webhooks.validate({ rawBody: body, rawRequest, rawResponse: {} });
      return result.valid;
    },
  };
}

const zoom = (secret, body, headers) => new AwsLambdaReceiver({ webhooksSecretToken: secret })
  .start()({ body, headers, isBase64Encoded: false }, {});

const lower = (headers) => Object.fromEntries(
  Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));

async function run({ provider, secret, other, body, flipped, now }) {
  const { sign, verify, answer } = PROVIDERS[provider];
  const headers = await sign(secret, body, now);
  const otherHeaders = await sign(other, body, now);
  const library = {
    signed: await verify(secret, body, headers),
    flipped: await verify(secret, flipped, headers),
    other: await verify(secret, body, otherHeaders),
  };
  const result = { headers, other_headers: otherHeaders, library };
  if (answer) result.answer = await answer(secret, body, headers);
  return result;
}

console.debug = () => {};  // @zoom/rivet logs every event it processes to stdout
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const requests = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const results = [];
for (const request of requests) results.push(await run(request));
process.stdout.write(JSON.stringify(results));
