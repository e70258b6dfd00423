import assert from "node:assert/strict";
import {
  collectSecretValues,
  isSecretName,
  REDACTED,
  redactSecretValues,
  scrubHeaderValue,
  scrubShapes,
} from "../../telemetry/scrub.ts";

Deno.test("isSecretName decides by pattern: auth, token, secret, key, signature, password, jwt, session, credential, cookie", () => {
  for (
    const name of [
      "x-goog-iap-jwt-assertion",
      "x-hub-signature-256",
      "x-webhook-signature",
      "x-auth",
      "x-oauth",
      "x-private-key",
      "x-jwt",
      "x-user-email",
      "X-Session-Id",
      "githubToken",
      "new_password",
      "aws-credential",
      "set-cookie",
      "sig",
    ]
  ) assert.ok(isSecretName(name), name);
  for (const name of ["content-type", "user-agent", "referer", "traceparent", "x-amzn-trace-id"]) {
    assert.ok(!isSecretName(name), name);
  }
});

Deno.test("scrubShapes removes JWTs, Bearer/Basic credentials and AWS access key ids, keeping plain text", () => {
  const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
  assert.equal(scrubShapes(`note ${jwt} end`), `note ${REDACTED} end`);
  assert.equal(scrubShapes("UA/1.0 Bearer abc.def-123"), `UA/1.0 Bearer ${REDACTED}`);
  assert.equal(scrubShapes("Basic dXNlcjpwYXNz"), `Basic ${REDACTED}`);
  assert.equal(scrubShapes("key AKIAIOSFODNN7EXAMPLE used"), `key ${REDACTED} used`);
  assert.equal(scrubShapes("ASIAY34FZKBOKMUTVV7A"), REDACTED);
  const plain = "Mozilla/5.0 (X11; Linux x86_64) basically fine";
  assert.equal(scrubShapes(plain), plain);
});

Deno.test("scrubHeaderValue: secret names REDACTED, Referer's query like url.query, shapes elsewhere", () => {
  assert.equal(scrubHeaderValue("X-Hub-Signature-256", "sha256=abc"), REDACTED);
  assert.equal(
    scrubHeaderValue("referer", "https://app.example/cb?code=abc123&state=s#frag"),
    `https://app.example/cb?code=${REDACTED}&state=${REDACTED}`,
  );
  assert.equal(scrubHeaderValue("user-agent", "curl Bearer tok123"), `curl Bearer ${REDACTED}`);
  assert.equal(scrubHeaderValue("accept", "application/json"), "application/json");
});

Deno.test("collectSecretValues finds Referer query values and credentials inside any header", () => {
  const headers = new Headers({
    referer: "https://app.example/cb?code=referer-code-1",
    "user-agent": "agent Bearer ua-token-123",
    "x-note": "AKIAIOSFODNN7EXAMPLE",
  });
  const found = collectSecretValues(headers, "http://h/api?x=1");
  for (const secret of ["referer-code-1", "ua-token-123", "AKIAIOSFODNN7EXAMPLE"]) {
    assert.ok(found.includes(secret), `${secret} in ${found}`);
  }
});

Deno.test("redactSecretValues replaces values, never keys, and leaves the kept fields alone", () => {
  const item = {
    level: "warning",
    environment: "production",
    body: { trace_chain: [{ exception: { class: "Error", message: "warning: production" } }] },
    custom: { note: "trace_chain" },
  };
  redactSecretValues(
    item,
    ["trace_chain", "warning", "production"],
    new Set(["level", "environment"]),
  );
  assert.equal(item.level, "warning");
  assert.equal(item.environment, "production");
  assert.ok(Array.isArray(item.body.trace_chain), "the key survives");
  assert.equal(item.body.trace_chain[0]?.exception.message, `${REDACTED}: ${REDACTED}`);
  assert.equal(item.custom.note, REDACTED);
});
