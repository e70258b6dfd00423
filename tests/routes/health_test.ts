import assert from "node:assert/strict";
import { buildApp } from "../support/harness.ts";

Deno.test("GET /api/health-check answers success with the version and no telemetry by default", async () => {
  const h = await buildApp({ SERVICE_VERSION: "1.2.3" });
  try {
    const res = await h.app.request("/api/health-check");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      success: true,
      ver: 1,
      version: "1.2.3",
      database: { store: "memory", ready: true },
    });
  } finally {
    await h.close();
  }
});

Deno.test("GET /api/health-check includes sink counters only when HEALTH_CHECK_DETAIL is on", async () => {
  const h = await buildApp({ HEALTH_CHECK_DETAIL: "true" });
  try {
    const body = await (await h.app.request("/api/health-check")).json();
    assert.equal(body.success, true);
    assert.equal(body.ver, 1);
    assert.equal(typeof body.telemetry, "object");
    assert.deepEqual(Object.keys(body.telemetry), Object.keys(h.telemetry.stats()));
  } finally {
    await h.close();
  }
});

Deno.test("GET /rollbar/test answers Hello World! as plain text", async () => {
  const h = await buildApp();
  try {
    const res = await h.app.request("/rollbar/test");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    assert.equal(await res.text(), "Hello World!");
  } finally {
    await h.close();
  }
});
