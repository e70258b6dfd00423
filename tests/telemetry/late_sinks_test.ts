/**
 * startTelemetry(): the app answers before the heavy sink clients (AWS SDK, Rollbar, the OTLP
 * and metrics SDKs) are loaded, and what its first requests gave them reaches every sink once
 * they are, in the real clients, against the loopback stand-ins.
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { createApp } from "../../app.ts";
import { loadConfig } from "../../config.ts";
import { createMemoryStore } from "../../services/store.ts";
import { type StartedTelemetry, startTelemetry } from "../../telemetry/mod.ts";
import { startCloudWatchStandIn } from "../support/cloudwatch_standin.ts";
import { AWS_ENV, pendingOf, until } from "../support/faults.ts";
import { SyncMemoryExporter } from "../support/memory_exporter.ts";
import { startOtlpReceiver } from "../support/otlp_receiver.ts";
import { startRollbarStandIn } from "../support/rollbar_standin.ts";
import { startUdpListener } from "../support/udp_listener.ts";

interface LateApp extends StartedTelemetry {
  app: Hono;
  exporter: SyncMemoryExporter;
  lines: string[];
}

async function buildLateApp(env: Record<string, string>): Promise<LateApp> {
  const config = loadConfig({ LOG_FORMAT: "json", LOG_LEVEL: "debug", ...env });
  const exporter = new SyncMemoryExporter();
  const lines: string[] = [];
  const started = await startTelemetry(config, {
    spanExporter: exporter,
    writeLine: (line) => lines.push(line),
    diagnostic: () => {},
    xray: { flushIntervalMs: 5 },
  });
  const store = createMemoryStore({ seededAt: Date.now(), currentUser: "andrewbrown" });
  const app = createApp({ config, telemetry: started.telemetry, store, clock: Date.now });
  return { ...started, app, exporter, lines };
}

async function get(app: Hono, path: string): Promise<number> {
  const res = await app.request(path);
  await res.arrayBuffer();
  return res.status;
}

/** Every sink of the full configuration, on loopback stand-ins. */
async function standIns() {
  const otlp = startOtlpReceiver();
  const cloudwatch = startCloudWatchStandIn();
  const rollbar = startRollbarStandIn();
  const daemon = await startUdpListener();
  const env = {
    ...AWS_ENV,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_BSP_SCHEDULE_DELAY: "10",
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}`,
    CLOUDWATCH_LOG_GROUP: "cruddur",
    CLOUDWATCH_LOG_STREAM: "late",
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: cloudwatch.endpoint,
    CLOUDWATCH_FLUSH_INTERVAL_MS: "20",
    CLOUDWATCH_METRICS_NAMESPACE: "CruddurLate",
    ROLLBAR_ACCESS_TOKEN: "rollbar-token",
    ROLLBAR_ENDPOINT: rollbar.endpoint,
  };
  return {
    otlp,
    cloudwatch,
    rollbar,
    daemon,
    env,
    async close() {
      await otlp.close();
      await cloudwatch.close();
      await rollbar.close();
      await daemon.close();
    },
  };
}

Deno.test("startTelemetry() answers before the heavy sinks install; the first requests reach every sink once they are", async () => {
  const s = await standIns();
  const h = await buildLateApp(s.env);
  try {
    const lines = h.telemetry.describe();
    assert.match(lines[0]!, /^X-Ray: UDP to daemon/, "X-Ray is on the request path: installed");
    assert.deepEqual(lines.slice(1), [
      "traces: installing",
      "logs: installing",
      "cloudwatch: installing",
      "rollbar: installing",
      "metrics: installing",
    ]);
    // Served before any heavy client is loaded.
    assert.equal(await get(h.app, "/api/activities/home"), 200);
    assert.equal(await get(h.app, "/api/activities/@andrewbrown"), 200);
    assert.equal(await get(h.app, "/rollbar/test"), 200);
    const early = h.telemetry.stats();
    for (const name of ["traces", "logs", "cloudwatch", "rollbar"]) {
      assert.ok(early[name]!.queued > 0, `${name}: the early items are held, counted queued`);
      assert.equal(early[name]!.sent, 0, `${name}: nothing sent before it is installed`);
    }
    assert.equal(early.rollbar!.queued, 1, "the /rollbar/test warning");
    assert.equal(early.traces!.queued, h.exporter.spans.length, "every sampled span held");

    assert.deepEqual(await h.installDeferred(), []);
    assert.ok(h.telemetry.describe().every((l) => !l.endsWith(": installing")));
    assert.equal(await get(h.app, "/api/activities/home"), 200, "and one after");
    await h.telemetry.forceFlush(Date.now() + 10_000);

    // Traces: every span, the early ones included, as the in-process exporter saw them.
    const spans = h.exporter.spans;
    await s.otlp.waitForSpans(spans.length);
    assert.deepEqual(
      s.otlp.spans().map((x) => x.spanId).sort(),
      spans.map((x) => x.spanContext().spanId).sort(),
    );
    const first = h.exporter.spans.find((x) => x.name === "GET /api/activities/home")!;
    const firstTrace = first.spanContext().traceId;
    // CloudWatch: the first request's access line, with its trace id.
    const events = s.cloudwatch.events("cruddur", "late").map((e) => JSON.parse(e.message));
    const access = events.filter((e) => e.event === "access");
    assert.equal(access.length, 4);
    assert.equal(access[0].trace_id, firstTrace);
    assert.equal(access[0].route, "/api/activities/home");
    // EMF: the three early requests and the late one, aggregated.
    assert.deepEqual(s.cloudwatch.emfErrors(), []);
    const count = s.cloudwatch.emfMetrics().find((d) =>
      d.namespace === "CruddurLate" && d.name === "RequestCount" &&
      d.dimensions.Route === "GET /api/activities/home"
    );
    assert.deepEqual(count?.values, [2]);
    // OTLP log records: the first request's service line, joined to its span.
    await s.otlp.waitFor(
      () =>
        s.otlp.logRecords().some((r) => r.body === "HomeActivities" && r.traceId === firstTrace),
      "the first request's log record",
    );
    // Metrics: every request in the duration histogram.
    await s.otlp.waitFor(() => s.otlp.metricRequests.some((r) => r.status === 200), "metrics");
    const metrics = s.otlp.metricRequests.filter((r) => r.status === 200).at(-1)!.items;
    const duration = metrics.find((m) => m.name === "http.server.request.duration")!;
    assert.equal(duration.histogramPoints.reduce((n, p) => n + p.count, 0), 4);
    // Rollbar: the early warning, with its trace id.
    assert.equal(s.rollbar.items.length, 1);
    const warning = s.rollbar.items[0]!.data as { level?: string; custom?: { trace_id?: string } };
    assert.equal(warning.level, "warning");
    const rollbarSpan = h.exporter.byName("GET /rollbar/test").spanContext().traceId;
    assert.equal(warning.custom?.trace_id, rollbarSpan);

    // Every sink's account: everything sent, nothing dropped or still pending.
    for (const [name, stats] of Object.entries(h.telemetry.stats())) {
      if (name === "console") continue;
      assert.equal(stats.dropped, 0, `${name}: ${JSON.stringify(stats)}`);
      assert.equal(pendingOf(stats), 0, `${name}: ${JSON.stringify(stats)}`);
    }
  } finally {
    await h.telemetry.shutdown(Date.now() + 5000);
    await s.close();
  }
});

Deno.test("startTelemetry(): a shutdown before any install round installs the late sinks and delivers what they hold", async () => {
  const s = await standIns();
  const h = await buildLateApp({ ...s.env, CLOUDWATCH_FLUSH_INTERVAL_MS: "60000" });
  try {
    assert.equal(await get(h.app, "/api/activities/home"), 200);
    assert.equal(await get(h.app, "/rollbar/test"), 200);
    await h.telemetry.forceFlush(Date.now() + 10_000);
    await h.telemetry.shutdown(Date.now() + 10_000);
    const stats = h.telemetry.stats();
    assert.equal(s.rollbar.items.length, 1);
    assert.equal(stats.rollbar?.sent, 1);
    const events = s.cloudwatch.events("cruddur", "late");
    assert.equal(stats.cloudwatch?.sent, events.length);
    assert.equal(events.filter((e) => JSON.parse(e.message).event === "access").length, 2);
    assert.equal(stats.traces?.sent, h.exporter.spans.length);
    for (const [name, sink] of Object.entries(stats)) {
      if (name === "console") continue;
      assert.equal(sink.dropped, 0, `${name}: ${JSON.stringify(sink)}`);
      assert.equal(pendingOf(sink), 0, `${name}: ${JSON.stringify(sink)}`);
    }
  } finally {
    await h.telemetry.shutdown(Date.now() + 5000);
    await s.close();
  }
});

Deno.test("startTelemetry() with no heavy sink configured has nothing to install later", async () => {
  const h = await buildLateApp({ OTEL_SDK_DISABLED: "true" });
  try {
    assert.equal(await get(h.app, "/api/activities/home"), 200);
    assert.deepEqual(h.telemetry.stats(), {}, "no late sink's account while it waits");
    assert.deepEqual(await h.installDeferred(), []);
    assert.ok(h.telemetry.describe().every((l) => !l.endsWith(": installing")));
    assert.ok(h.telemetry.describe().includes("Traces: off (OTEL_SDK_DISABLED=true)"));
  } finally {
    await h.telemetry.shutdown(Date.now() + 5000);
  }
});

Deno.test("startTelemetry() with no trace exporter holds no spans for one, so none is counted lost", async () => {
  // Spans are still recorded (X-Ray, log trace ids, the test's exporter): the traces sink
  // just has nowhere to send them, so nothing waits for it and nothing reads as dropped.
  const h = await buildLateApp({});
  try {
    assert.equal(await get(h.app, "/api/activities/home"), 200);
    assert.equal(h.telemetry.stats().traces, undefined, "no stand-in holding spans");
    assert.deepEqual(await h.installDeferred(), []);
    assert.ok(h.exporter.spans.length >= 2, "the request's spans were recorded");
    const traces = h.telemetry.stats().traces;
    assert.deepEqual(
      traces && { queued: traces.queued, dropped: traces.dropped },
      { queued: 0, dropped: 0 },
    );
    assert.ok(h.telemetry.describe().includes("Traces: SDK pipeline to nowhere (no exporter set)"));
  } finally {
    await h.telemetry.shutdown(Date.now() + 5000);
  }
});

/**
 * A start under load: the first requests leave far more in the stand-ins than each sink's own
 * queue holds (OTLP batchers of 256, CloudWatch's smallest queue, 1 MiB), so a hand-over of
 * the whole backlog at once would make the sinks turn most of it away.
 */
const BUSY_START = {
  OTEL_BSP_MAX_QUEUE_SIZE: "256",
  OTEL_BLRP_MAX_QUEUE_SIZE: "256",
  CLOUDWATCH_MAX_QUEUE_BYTES: "1048576",
};
const EARLY_REQUESTS = 1500;

/** Every counted sink delivered all it was given: nothing dropped, failed or still pending. */
function assertAllDelivered(stats: ReturnType<StartedTelemetry["telemetry"]["stats"]>): void {
  for (const [name, sink] of Object.entries(stats)) {
    if (name === "console") continue;
    assert.equal(sink.dropped + sink.failed, 0, `${name}: ${JSON.stringify(sink)}`);
    assert.equal(pendingOf(sink), 0, `${name}: ${JSON.stringify(sink)}`);
  }
}

Deno.test("startTelemetry(): the install hands a busy start's backlog over as each sink has room, later requests behind it, none dropped", async () => {
  const s = await standIns();
  const h = await buildLateApp({ ...s.env, ...BUSY_START });
  try {
    for (let i = 0; i < EARLY_REQUESTS; i++) await get(h.app, "/api/activities/home");
    const held = h.telemetry.stats();
    assert.equal(held.traces!.queued, EARLY_REQUESTS * 2, "both spans of every request held");
    assert.ok(held.cloudwatch!.queued > 1_048_576 / 1024, "more lines held than 1 MiB holds");
    assert.deepEqual(await h.installDeferred(), []);
    // The backlog drains in the sink set's own turns while requests go on arriving.
    for (let i = 0; i < 200; i++) await get(h.app, "/api/activities/home");
    const total = (EARLY_REQUESTS + 200) * 2;
    await until(() => h.telemetry.stats().traces!.sent === total, 20_000, "every span sent");
    await until(
      () => ["logs", "cloudwatch"].every((name) => pendingOf(h.telemetry.stats()[name]) === 0),
      20_000,
      "every log record and line sent",
    );
    assertAllDelivered(h.telemetry.stats());
    await s.otlp.waitForSpans(total);
    // Each span once (their order is the unit tests': exports run in parallel here).
    assert.deepEqual(
      s.otlp.spans().map((x) => x.spanId).sort(),
      h.exporter.spans.map((x) => x.spanContext().spanId).sort(),
    );
    const access = s.cloudwatch.events("cruddur", "late")
      .map((e) => JSON.parse(e.message)).filter((e) => e.event === "access");
    assert.equal(access.length, EARLY_REQUESTS + 200);
  } finally {
    await h.telemetry.shutdown(Date.now() + 5000);
    await s.close();
  }
});

Deno.test("startTelemetry(): a flush right after the install hands the backlog over between its own flushes, none dropped", async () => {
  const s = await standIns();
  const h = await buildLateApp({ ...s.env, ...BUSY_START, CLOUDWATCH_FLUSH_INTERVAL_MS: "60000" });
  try {
    for (let i = 0; i < EARLY_REQUESTS; i++) await get(h.app, "/api/activities/home");
    assert.deepEqual(await h.installDeferred(), []);
    await h.telemetry.forceFlush(Date.now() + 20_000);
    assertAllDelivered(h.telemetry.stats());
    assert.equal(h.telemetry.stats().traces!.sent, EARLY_REQUESTS * 2);
  } finally {
    await h.telemetry.shutdown(Date.now() + 5000);
    await s.close();
  }
});
