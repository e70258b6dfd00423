import assert from "node:assert/strict";
import { buildApp } from "../../support/harness.ts";
import { startOtlpReceiver } from "../../support/otlp_receiver.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

Deno.test("OTLP logs: each logger event is a record with severity, body, attributes and the request span's ids", async () => {
  const receiver = startOtlpReceiver();
  const canary = `CANARY${crypto.randomUUID().replaceAll("-", "")}`;
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: "10",
    OTEL_METRICS_EXPORTER: "none",
  }, {
    store: (seeded) => ({
      ...seeded,
      addActivity() {
        throw new Error(`insert failed for ${canary}`);
      },
    }),
  });
  try {
    const res = await h.app.request(`/api/activities/home?access_token=${canary}`, {
      headers: { traceparent: `00-${TRACE}-${PARENT}-01`, authorization: `Bearer ${canary}` },
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const failed = await h.app.request("/api/activities", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${canary}` },
      body: JSON.stringify({ message: "hello", ttl: "1-day" }),
    });
    assert.equal(failed.status, 500);
    await failed.arrayBuffer();

    await h.telemetry.forceFlush(Date.now() + 10_000);
    const written = h.events().length;
    await receiver.waitFor(() => receiver.logRecords().length >= written, `${written} records`);
    assert.deepEqual(
      receiver.logRequests.map((r) => r.error ?? "ok").filter((e) => e !== "ok"),
      [],
    );
    const records = receiver.logRecords();
    assert.equal(records.length, written, "one record per console line");

    const spans = await receiver.waitForSpans(2);
    const server = spans.find((s) => s.name === "GET /api/activities/home");
    assert.ok(server);
    const access = records.find((r) => r.attributes.event === "access" && r.traceId === TRACE);
    assert.ok(access, "the access log record");
    assert.equal(access.traceId, server.traceId);
    assert.equal(access.spanId, server.spanId, "written in the SERVER span");
    assert.equal(access.flags & 1, 1, "sampled");
    assert.equal(access.severityNumber, 9);
    assert.equal(access.severityText, "INFO");
    assert.equal(access.body, "GET /api/activities/home 200");
    assert.equal(access.attributes.status, 200);
    assert.equal(access.attributes.route, "/api/activities/home");
    assert.equal(access.resource["service.name"], "backend-deno");
    assert.equal("trace_id" in access.attributes, false, "ids are the record's own fields");

    const error = records.find((r) => r.severityText === "ERROR");
    assert.ok(error, "the unhandled error's record");
    assert.equal(error.severityNumber, 17);
    const post = spans.find((s) => s.name === "POST /api/activities");
    assert.equal(error.traceId, post?.traceId);
    assert.match(String(error.body), /^Unhandled error: insert failed for/);

    // The same scrubbing as the console and CloudWatch lines: the secret never leaves.
    for (const r of receiver.logRequests) assert.ok(!r.raw.includes(canary), "secret in OTLP logs");
    assert.ok(h.lines.every((line) => !line.includes(canary)));
    await receiver.waitFor(
      () => (h.telemetry.stats().logs?.sent ?? 0) === written,
      "records counted sent",
    );
    assert.equal(h.telemetry.stats().logs?.queued, written);
  } finally {
    await h.close();
    await receiver.close();
  }
});

Deno.test("OTLP logs are on by default with an OTLP endpoint and off with OTEL_LOGS_EXPORTER=none", async () => {
  const receiver = startOtlpReceiver();
  for (const [env, expected] of [[{}, true], [{ OTEL_LOGS_EXPORTER: "none" }, false]] as const) {
    const h = await buildApp({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_METRICS_EXPORTER: "none",
      ...env,
    });
    try {
      assert.equal(h.telemetry.stats().logs !== undefined, expected);
      assert.ok(h.telemetry.describe().some((l) => l.startsWith("Log records: ")));
    } finally {
      await h.close();
    }
  }
  await receiver.close();
});
