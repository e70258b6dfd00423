import assert from "node:assert/strict";
import { SpanStatusCode } from "@opentelemetry/api";
import { buildApp } from "../support/harness.ts";
import { startRollbarStandIn } from "../support/rollbar_standin.ts";

Deno.test("malformed percent-escapes in a handle: 400 malformed_percent_encoding, no Rollbar item, no ERROR span", async () => {
  const rollbar = startRollbarStandIn();
  const h = await buildApp({
    ROLLBAR_ACCESS_TOKEN: "rollbar-token",
    ROLLBAR_ENDPOINT: rollbar.endpoint,
  });
  try {
    for (
      const path of [
        "/api/activities/@%ZZ",
        "/api/activities/@abc%",
        "/api/messages/@%E0%A4%A",
        "/api/messages/@%C0%AF",
      ]
    ) {
      const res = await h.app.request(path);
      assert.equal(res.status, 400, path);
      assert.deepEqual(await res.json(), ["malformed_percent_encoding"], path);
    }
    await h.telemetry.forceFlush(Date.now() + 3000);
    assert.equal(rollbar.bodies.length, 0, "nothing reported to Rollbar");
    const errors = h.exporter.spans.filter((s) => s.status.code === SpanStatusCode.ERROR);
    assert.deepEqual(errors.map((s) => s.name), [], "no span has ERROR status");
    const server = h.exporter.spans.filter((s) => s.name.startsWith("GET /api/"));
    assert.equal(server.length, 4);
    for (const span of server) assert.equal(span.attributes["http.response.status_code"], 400);
    assert.ok(!h.lines.some((l) => l.includes("Unhandled error")));
  } finally {
    await h.close();
    await rollbar.close();
  }
});

Deno.test("a handle is percent-decoded exactly once: @andrew%2562rown is not andrewbrown", async () => {
  const h = await buildApp();
  try {
    const once = await h.app.request("/api/activities/@andrew%2562rown");
    assert.equal(once.status, 200);
    assert.deepEqual(await once.json(), [], "no one is called andrew%62rown");
    const span = h.exporter.byName("user-activities");
    assert.equal(span.attributes["app.user_handle"], "andrew%62rown");
    // An ordinary escape is still decoded: %62 is "b".
    const decoded = await h.app.request("/api/activities/@andrew%62rown");
    const feed = await decoded.json() as Array<{ handle: string }>;
    assert.ok(feed.length > 0 && feed.every((a) => a.handle === "andrewbrown"));
    // Today's 500: %25 decoded twice made "%" and then a URIError. Once, it is the handle "%".
    const percent = await h.app.request("/api/activities/@%25");
    assert.equal(percent.status, 200);
    assert.deepEqual(await percent.json(), []);
    const messages = await h.app.request("/api/messages/@%2562ayko");
    assert.equal(messages.status, 200);
    assert.deepEqual(await messages.json(), []);
  } finally {
    await h.close();
  }
});
