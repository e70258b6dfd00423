/**
 * The four views of one request: the OTel span, the X-Ray segment, the CloudWatch events and
 * the Rollbar item all carry the same trace id, through the real app and the real clients.
 */
import assert from "node:assert/strict";
import { buildApp } from "../support/harness.ts";
import { startCloudWatchStandIn } from "../support/cloudwatch_standin.ts";
import { startRollbarStandIn } from "../support/rollbar_standin.ts";
import { startUdpListener } from "../support/udp_listener.ts";
import { otelToXRayTraceId } from "../../telemetry/xray/trace_header.ts";

const AWS_ENV = {
  AWS_REGION: "ca-central-1",
  AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
  AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};

Deno.test("GET /api/activities/@:handle sends a segment with the user_activities subsegment, same trace id", async () => {
  const daemon = await startUdpListener();
  const h = await buildApp(
    { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}` },
    { xray: { flushIntervalMs: 5 } },
  );
  try {
    const res = await h.app.request("http://localhost:4567/api/activities/@andrewbrown", {
      headers: { "user-agent": "xray-test" },
    });
    assert.equal(res.status, 200);
    const bytes = (await res.arrayBuffer()).byteLength;
    await h.telemetry.forceFlush(Date.now() + 2000);
    const [received] = await daemon.waitFor(1);
    const segment = received!.doc;
    const server = h.exporter.byName("GET /api/activities/@:handle");
    const xrayId = otelToXRayTraceId(server.spanContext().traceId);
    assert.equal(segment.trace_id, xrayId);
    assert.equal(segment.id, server.spanContext().spanId);
    assert.equal(segment.name, "backend-deno");
    assert.equal(segment.http.request.method, "GET");
    assert.equal(segment.http.request.user_agent, "xray-test");
    assert.equal(segment.http.response.status, 200);
    assert.equal(segment.http.response.content_length, bytes);
    const sub = segment.subsegments?.[0];
    assert.equal(sub?.name, "user_activities");
    assert.equal(sub?.subsegments?.[0]?.name, "mock-data");
    assert.equal(sub?.subsegments?.[0]?.metadata?.app?.result_size, 2);
    assert.equal(sub?.annotations?.app_user_handle, "andrewbrown");
    assert.equal(res.headers.get("x-amzn-trace-id"), `Root=${xrayId}`);
    assert.deepEqual(daemon.rejected, []);
  } finally {
    await h.close();
    await daemon.close();
  }
});

Deno.test("X-Amzn-Trace-Id with Sampled=0 is honoured: nothing reaches the daemon", async () => {
  const daemon = await startUdpListener();
  const h = await buildApp(
    { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}` },
    { xray: { flushIntervalMs: 5 } },
  );
  try {
    const root = `1-${Math.floor(Date.now() / 1000).toString(16)}-0123456789abcdef01234567`;
    const res = await h.app.request("/api/activities/home", {
      headers: { "x-amzn-trace-id": `Root=${root};Parent=53995c3f42cd8ad8;Sampled=0` },
    });
    await res.arrayBuffer();
    assert.equal(res.headers.get("x-amzn-trace-id"), `Root=${root}`);
    await h.telemetry.forceFlush(Date.now() + 10_000);
    const xray = h.telemetry.stats().xray!;
    assert.deepEqual([xray.queued, xray.sent], [0, 0]);
    await daemon.waitFor(xray.sent);
    assert.equal(daemon.documents.length, 0);
  } finally {
    await h.close();
    await daemon.close();
  }
});

Deno.test("a request puts its access-log event and service event, with its trace id, into CloudWatch", async () => {
  const cloudwatch = startCloudWatchStandIn();
  const h = await buildApp({
    ...AWS_ENV,
    CLOUDWATCH_LOG_GROUP: "cruddur",
    CLOUDWATCH_LOG_STREAM: "test-stream",
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: cloudwatch.endpoint,
    CLOUDWATCH_FLUSH_INTERVAL_MS: "20",
  });
  try {
    const res = await h.app.request("/api/activities/home", {
      headers: { "user-agent": "evil \u001b[31mred\u001b[0m agent" },
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    h.telemetry.logger.warn('line one\r\n{"level":"error","forged":true}\u0000\u001b[2J');
    await h.telemetry.forceFlush(Date.now() + 3000);
    const events = cloudwatch.events("cruddur", "test-stream").map((e) => JSON.parse(e.message));
    const traceId = h.exporter.byName("GET /api/activities/home").spanContext().traceId;
    const access = events.find((e) => e.event === "access");
    const service = events.find((e) => e.message === "HomeActivities");
    assert.equal(access?.trace_id, traceId);
    assert.equal(access?.route, "/api/activities/home");
    assert.equal(access?.status, 200);
    assert.equal(service?.trace_id, traceId);
    assert.equal(
      service?.span_id,
      h.exporter.byName("home-activities-mock-data").spanContext().spanId,
    );
    // The forged line stayed inside one event's field.
    assert.equal(events.filter((e) => e.forged).length, 0);
    assert.equal(access?.user_agent, "evil \u001b[31mred\u001b[0m agent");
    const raw = cloudwatch.events("cruddur", "test-stream").map((e) => e.message);
    // deno-lint-ignore no-control-regex
    assert.ok(raw.every((line) => !/[\u0000-\u001f]/.test(line)), "control characters escaped");
    assert.equal(events.filter((e) => e.message?.startsWith("line one")).length, 1);
    assert.equal(h.telemetry.stats().cloudwatch?.sent, events.length);
  } finally {
    await h.close();
    await cloudwatch.close();
  }
});

Deno.test("/rollbar/test reports the seed's warning and an unhandled error is one error item", async () => {
  const rollbar = startRollbarStandIn();
  const canary = `CANARY${crypto.randomUUID().replaceAll("-", "")}`;
  const h = await buildApp({
    ROLLBAR_ACCESS_TOKEN: "rollbar-token",
    ROLLBAR_ENDPOINT: rollbar.endpoint,
  }, {
    store: (seeded) => ({
      ...seeded,
      addActivity() {
        throw new Error(`insert failed for session ${canary}`);
      },
    }),
  });
  try {
    const hello = await h.app.request("/rollbar/test");
    assert.equal(await hello.text(), "Hello World!");
    const bad = await h.app.request("/api/activities/nope");
    assert.equal(bad.status, 404);
    await bad.arrayBuffer();
    const res = await h.app.request(`/api/activities?access_token=${canary}&sig=${canary}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${canary}`,
        cookie: `session=${canary}`,
        "x-forwarded-for": "198.51.100.7",
      },
      body: JSON.stringify({ message: "hello", ttl: "1-day", password: canary }),
    });
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), ["internal_error"]);
    await h.telemetry.forceFlush(Date.now() + 3000);
    assert.equal(rollbar.items.length, 2, "the warning and the error, nothing for the 404");
    // deno-lint-ignore no-explicit-any
    const [warning, error] = rollbar.items.map((item) => item.data as Record<string, any>);
    assert.equal(warning?.level, "warning");
    assert.equal(warning?.body?.message?.body, "Hello World!");
    assert.equal(error?.level, "error");
    const server = h.exporter.byName("POST /api/activities");
    assert.equal(error?.custom?.trace_id, server.spanContext().traceId);
    assert.equal(error?.custom?.span_id, server.spanContext().spanId);
    assert.equal(error?.request?.method, "POST");
    assert.ok(res.headers.get("traceresponse")?.includes(server.spanContext().traceId));
    for (const body of rollbar.bodies) {
      assert.ok(!body.includes(canary), "the canary appears nowhere in what Rollbar received");
      assert.ok(!body.includes("198.51.100.7"));
    }
    const spansText = JSON.stringify(h.exporter.spans.map((s) => [s.attributes, s.events]));
    assert.ok(!spansText.includes(canary), "nor in any span");
    assert.ok(!h.lines.join("\n").includes(canary), "nor in any log line");
  } finally {
    await h.close();
    await rollbar.close();
  }
});
