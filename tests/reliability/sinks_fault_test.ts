/**
 * Every sink under fault, through the real app: requests stay fast and 200, and each sink's
 * account stays exact (queued = sent + dropped + rejected + failed + pending).
 */
import assert from "node:assert/strict";
import { buildApp } from "../support/harness.ts";
import { startOtlpReceiver } from "../support/otlp_receiver.ts";
import { startCloudWatchStandIn } from "../support/cloudwatch_standin.ts";
import { startRollbarStandIn } from "../support/rollbar_standin.ts";
import { startUdpListener } from "../support/udp_listener.ts";
import { AWS_ENV, drive, pendingOf, until } from "../support/faults.ts";
import type { Store } from "../../services/store.ts";

const FAST_OTLP = { OTEL_BSP_SCHEDULE_DELAY: "10", OTEL_EXPORTER_OTLP_TIMEOUT: "300" };

Deno.test("OTLP 503 for a stretch: requests stay 200, every span arrives once after recovery", async () => {
  const receiver = startOtlpReceiver();
  const h = await buildApp({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...FAST_OTLP });
  try {
    receiver.answer({ kind: "status", status: 503 });
    const { statuses } = await drive(h.app, 30);
    assert.ok(statuses.every((s) => s === 200));
    await until(() => receiver.requests.length >= 2, 15_000, "failed attempts");
    assert.equal(receiver.spans().length, 0);
    receiver.answer({ kind: "ok" });
    const generated = h.exporter.spans.length;
    // Recovery time is a figure of `deno task reliability`; here it only has to happen.
    await receiver.waitForSpans(generated, 15_000);
    await until(() => pendingOf(h.telemetry.stats().traces) === 0, 15_000, "sent counted");
    const ids = receiver.spans().map((s) => s.spanId);
    assert.equal(new Set(ids).size, ids.length, "no span delivered twice");
    assert.equal(ids.length, generated);
    const stats = h.telemetry.stats().traces!;
    assert.equal(stats.queued, generated);
    assert.equal(stats.sent, generated);
    assert.equal(stats.dropped + stats.failed + stats.rejected, 0);
    assert.ok(stats.retried >= 1);
    // The exporter's own HTTP calls made no span: only the requests' spans exist.
    assert.ok(h.exporter.spans.every((s) => !s.name.startsWith("POST")), "no export spans");
    assert.equal(h.exporter.spans.length, generated);
    assert.equal(h.diagnostics.filter((d) => d.includes("retrying")).length, 1);
  } finally {
    await h.close();
    await receiver.close();
  }
});

Deno.test("OTLP down past the retry buffer: drops are counted, reported once, the account stays exact", async () => {
  const receiver = startOtlpReceiver();
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_MAX_QUEUE_SIZE: "20",
    ...FAST_OTLP,
  });
  try {
    receiver.answer({ kind: "status", status: 503 });
    for (let i = 0; i < 5; i++) {
      const { statuses } = await drive(h.app, 10);
      assert.ok(statuses.every((s) => s === 200));
      // The batch processor hands its queue to the retry layer, whose buffer is what fills.
      await until(() => h.telemetry.details().traces?.batch_queue === 0, 15_000, "hand-over");
    }
    const during = h.telemetry.stats().traces!;
    assert.equal(during.queued, 100);
    assert.ok(during.dropped > 0, "past the cap, spans are dropped");
    assert.ok(pendingOf(during) <= 40, "BSP queue + retry buffer never exceed their caps");
    assert.equal(h.diagnostics.filter((d) => d.includes("retry buffer full")).length, 1);
    receiver.answer({ kind: "ok" });
    await until(() => pendingOf(h.telemetry.stats().traces) === 0, 5000, "drained");
    const after = h.telemetry.stats().traces!;
    assert.equal(after.sent, receiver.spans().length);
    assert.equal(after.sent + after.dropped, 100);
  } finally {
    await h.close();
    await receiver.close();
  }
});

// Latency under a black hole is a figure for `deno task reliability`, not a timed test: here the
// proof is that every request was answered while no export had been answered.
Deno.test("OTLP black hole: every request is answered while exports hang; shutdown counts the loss", async () => {
  const hole = startOtlpReceiver();
  hole.answer({ kind: "blackhole" });
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: hole.url,
    OTEL_BSP_MAX_QUEUE_SIZE: "64",
    ...FAST_OTLP,
  });
  try {
    const { statuses } = await drive(h.app, 220);
    assert.ok(statuses.every((s) => s === 200));
    const during = h.telemetry.stats().traces!;
    assert.equal(during.sent, 0, "no export got through, yet every request was answered");
    assert.ok(pendingOf(during) <= 128, "bounded by BSP + retry caps");
    // Without the deadline, shutdown would wait for the black hole until the test times out.
    const started = Date.now();
    await h.telemetry.shutdown(Date.now() + 400);
    const took = Date.now() - started;
    assert.ok(took < 5000, `shutdown took ${took} ms`);
    const stats = h.telemetry.stats().traces!;
    assert.equal(stats.sent, 0);
    assert.equal(pendingOf(stats), 0, "everything is accounted for");
    assert.equal(stats.dropped, stats.queued);
    assert.ok(h.diagnostics.some((d) => d.includes("abandoned")));
  } finally {
    await h.close();
    await hole.close();
  }
});

Deno.test("OTLP slow collector: each export ends at its timeout, spans are retried, not lost", async () => {
  const receiver = startOtlpReceiver();
  const h = await buildApp({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...FAST_OTLP });
  try {
    receiver.answer({ kind: "slow", ms: 1000 }, 1);
    const { statuses } = await drive(h.app, 5);
    assert.ok(statuses.every((s) => s === 200));
    await receiver.waitForSpans(10, 5000);
    await until(() => pendingOf(h.telemetry.stats().traces) === 0, 3000, "sent counted");
    const stats = h.telemetry.stats().traces!;
    // The slow request is abandoned by the client at 300 ms; its late 200 is not counted.
    assert.ok(stats.retried >= 1);
    assert.equal(stats.dropped + stats.failed, 0);
  } finally {
    await h.close();
    await receiver.close();
  }
});

for (
  const [name, fault] of [
    ["throttling", (cw: ReturnType<typeof startCloudWatchStandIn>) => cw.throttleNext(3)],
    ["unavailability", (cw: ReturnType<typeof startCloudWatchStandIn>) => cw.failNext(3, 503)],
    ["InvalidParameter", (cw: ReturnType<typeof startCloudWatchStandIn>) => cw.invalidNext(1)],
    [
      "ResourceNotFound",
      (cw: ReturnType<typeof startCloudWatchStandIn>) => cw.deleteStream("cruddur", "fault"),
    ],
  ] as const
) {
  Deno.test(`CloudWatch ${name}: requests unaffected, sent + dropped + rejected + failed == queued`, async () => {
    const cloudwatch = startCloudWatchStandIn();
    const h = await buildApp({
      ...AWS_ENV,
      CLOUDWATCH_LOG_GROUP: "cruddur",
      CLOUDWATCH_LOG_STREAM: "fault",
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: cloudwatch.endpoint,
      CLOUDWATCH_FLUSH_INTERVAL_MS: "20",
    }, { cloudwatch: { retry: { baseMs: 10, maxMs: 50 } } });
    try {
      await drive(h.app, 2);
      await h.telemetry.forceFlush(Date.now() + 2000);
      fault(cloudwatch);
      const { statuses } = await drive(h.app, 10);
      assert.ok(statuses.every((s) => s === 200));
      await h.telemetry.forceFlush(Date.now() + 3000);
      const stats = h.telemetry.stats().cloudwatch!;
      assert.equal(pendingOf(stats), 0, JSON.stringify(stats));
      const stored = cloudwatch.events("cruddur", "fault").length;
      assert.equal(stats.sent, stored);
      assert.ok(stats.queued >= 24, "access log + service events of 12 requests");
      // The sink's own failures never become log events of the sink.
      const messages = cloudwatch.events("cruddur", "fault").map((e) => e.message);
      assert.ok(!messages.some((m) => /Throttling|ServiceUnavailable|InvalidParameter/.test(m)));
    } finally {
      await h.close();
      await cloudwatch.close();
    }
  });
}

Deno.test("X-Ray daemon absent (nothing listens): requests unaffected, segments counted", async () => {
  const daemon = await startUdpListener();
  const port = daemon.port;
  await daemon.close();
  const h = await buildApp(
    { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${port}` },
    { xray: { flushIntervalMs: 5 } },
  );
  try {
    const { statuses } = await drive(h.app, 20);
    assert.ok(statuses.every((s) => s === 200));
    await h.telemetry.forceFlush(Date.now() + 10_000);
    const stats = h.telemetry.stats().xray!;
    // The local sampling rule picks some of the 20 requests; each is counted, none hangs.
    assert.ok(stats.queued >= 1 && stats.queued <= 20, JSON.stringify(stats));
    assert.equal(pendingOf(stats), 0, JSON.stringify(stats));
  } finally {
    await h.close();
  }
});

function failingStore(store: Store): Store {
  return {
    ...store,
    addActivity() {
      throw new Error("database unavailable");
    },
  };
}

for (const fault of ["down", "429", "hang"] as const) {
  Deno.test(`Rollbar ${fault}: the client still gets its 500 without waiting, the item is counted`, async () => {
    const rollbar = startRollbarStandIn();
    if (fault === "down") await rollbar.down();
    if (fault === "429") rollbar.respondWith(429);
    const release = fault === "hang" ? rollbar.hold() : () => {};
    const h = await buildApp(
      { ROLLBAR_ACCESS_TOKEN: "rollbar-token", ROLLBAR_ENDPOINT: rollbar.endpoint },
      { store: failingStore },
    );
    try {
      for (let i = 0; i < 3; i++) {
        const res = await h.app.request("/api/activities", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ message: "hello", ttl: "7-days" }),
        });
        await res.arrayBuffer();
        assert.equal(res.status, 500);
      }
      if (fault === "hang") {
        // Every client had its answer while Rollbar had answered none of the items.
        assert.equal(pendingOf(h.telemetry.stats().rollbar), 3);
        rollbar.respondWith(429);
        release();
      }
      await h.telemetry.forceFlush(Date.now() + 10_000);
      const stats = h.telemetry.stats().rollbar!;
      assert.equal(stats.queued, 3);
      assert.equal(stats.sent, 0);
      assert.equal(pendingOf(stats), 0, JSON.stringify(stats));
    } finally {
      await h.close();
      await rollbar.close();
    }
  });
}

Deno.test("GET /api/health-check shows per-sink counters only with HEALTH_CHECK_DETAIL=true", async () => {
  const receiver = startOtlpReceiver();
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...FAST_OTLP };
  const detailed = await buildApp({ ...env, HEALTH_CHECK_DETAIL: "true" });
  const plain = await buildApp(env);
  try {
    await drive(detailed.app, 2);
    await detailed.telemetry.forceFlush(Date.now() + 2000);
    const body = await (await detailed.app.request("/api/health-check")).json();
    assert.equal(body.telemetry.traces.queued, 4);
    assert.equal(body.telemetry.traces.sent, 4);
    for (const key of ["retried", "dropped", "rejected", "failed"]) {
      assert.equal(body.telemetry.traces[key], 0, key);
    }
    const bare = await (await plain.app.request("/api/health-check")).json();
    assert.equal(bare.telemetry, undefined);
    assert.ok(!JSON.stringify(bare).includes("queued"));
  } finally {
    await detailed.close();
    await plain.close();
    await receiver.close();
  }
});
