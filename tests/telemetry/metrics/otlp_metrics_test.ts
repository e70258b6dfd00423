import assert from "node:assert/strict";
import { buildApp } from "../../support/harness.ts";
import { type ReceivedMetric, startOtlpReceiver } from "../../support/otlp_receiver.ts";

const SEMCONV_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The metrics of the last accepted export (cumulative: it carries the totals). */
function lastExport(receiver: ReturnType<typeof startOtlpReceiver>): Map<string, ReceivedMetric> {
  const accepted = receiver.metricRequests.filter((r) => r.status === 200);
  const last = accepted.at(-1);
  assert.ok(last, "a metrics export arrived");
  return new Map(last.items.map((m) => [m.name, m]));
}

Deno.test("OTLP metrics: HTTP server histograms with the conventions' names, units, bounds and attributes", async () => {
  const receiver = startOtlpReceiver();
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_METRICS_HEADERS: "x-honeycomb-dataset=cruddur-metrics",
    OTEL_EXPORTER_OTLP_HEADERS: "x-honeycomb-team=metrics-key",
    OTEL_LOGS_EXPORTER: "none",
  }, {
    store: (seeded) => ({
      ...seeded,
      addActivity() {
        throw new TypeError("insert failed");
      },
    }),
  });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await h.app.request("/api/activities/home");
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const missing = await h.app.request("/api/nowhere/at/all");
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
    const body = JSON.stringify({ message: "hello", ttl: "1-day" });
    const failed = await h.app.request("/api/activities", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(body.length) },
      body,
    });
    assert.equal(failed.status, 500);
    await failed.arrayBuffer();
    const odd = await h.app.request("/api/activities/home", { method: "PURGE" });
    await odd.arrayBuffer();

    await h.telemetry.forceFlush(Date.now() + 10_000);
    await receiver.waitFor(
      () => receiver.metricRequests.some((r) => r.status === 200),
      "a metrics export",
    );
    assert.deepEqual(receiver.metricRequests.map((r) => r.error ?? "ok"), ["ok"]);
    for (const r of receiver.metricRequests) {
      assert.equal(r.headers.get("x-honeycomb-dataset"), "cruddur-metrics");
      assert.equal(r.headers.get("x-honeycomb-team"), "metrics-key");
    }
    const metrics = lastExport(receiver);

    const duration = metrics.get("http.server.request.duration");
    assert.ok(duration);
    assert.equal(duration.kind, "histogram");
    assert.equal(duration.unit, "s");
    assert.equal(duration.temporality, 2, "cumulative");
    assert.equal(duration.resource["service.name"], "backend-deno");
    for (const p of duration.histogramPoints) assert.deepEqual(p.bounds, SEMCONV_BOUNDS);
    const home = duration.histogramPoints.find((p) =>
      p.attributes["http.route"] === "/api/activities/home" &&
      p.attributes["http.request.method"] === "GET"
    );
    assert.ok(home, "a series for the home route");
    assert.deepEqual(home.attributes, {
      "http.request.method": "GET",
      "url.scheme": "http",
      "http.response.status_code": 200,
      "http.route": "/api/activities/home",
    });
    assert.equal(home.count, 3);
    assert.ok(home.min! >= 0 && home.max! >= home.min! && home.sum! >= home.max!);

    const fault = duration.histogramPoints.find((p) =>
      p.attributes["http.response.status_code"] === 500
    );
    assert.ok(fault, "a series for the 500");
    assert.equal(fault.attributes["http.route"], "/api/activities");
    assert.equal(fault.attributes["http.request.method"], "POST");
    assert.equal(fault.attributes["error.type"], "TypeError");

    const notFound = duration.histogramPoints.find((p) =>
      p.attributes["http.response.status_code"] === 404
    );
    assert.ok(notFound);
    assert.equal("http.route" in notFound.attributes, false, "no route when none matched");
    assert.equal("error.type" in notFound.attributes, false, "a 4xx is not a server error");
    const other = duration.histogramPoints.find((p) =>
      p.attributes["http.request.method"] === "_OTHER"
    );
    assert.ok(other, "an unknown method is _OTHER, not the raw value");
    assert.ok(!receiver.metricRequests[0]!.raw.includes("PURGE"));

    const requestSize = metrics.get("http.server.request.body.size");
    assert.ok(requestSize);
    assert.equal(requestSize.unit, "By");
    const posted = requestSize.histogramPoints.find((p) =>
      p.attributes["http.request.method"] === "POST"
    );
    assert.equal(posted?.sum, body.length);
    const responseSize = metrics.get("http.server.response.body.size");
    assert.ok(responseSize);
    const homeSize = responseSize.histogramPoints.find((p) =>
      p.attributes["http.route"] === "/api/activities/home"
    );
    assert.equal(homeSize?.count, 3);
    assert.ok(homeSize!.sum! > 0);

    const active = metrics.get("http.server.active_requests");
    assert.ok(active);
    assert.equal(active.kind, "sum");
    assert.equal(active.monotonic, false);
    assert.equal(active.unit, "{request}");
    const get = active.numberPoints.find((p) => p.attributes["http.request.method"] === "GET");
    assert.deepEqual(get, {
      attributes: { "http.request.method": "GET", "url.scheme": "http" },
      value: 0,
    });
  } finally {
    await h.close();
    await receiver.close();
  }
});

Deno.test("OTLP metrics: runtime metrics and every sink's counters under the SDK self-observability names", async () => {
  const receiver = startOtlpReceiver();
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: "10",
  });
  try {
    const res = await h.app.request("/api/activities/home");
    await res.arrayBuffer();
    await receiver.waitForSpans(2);
    await receiver.waitFor(() => (h.telemetry.stats().traces?.sent ?? 0) >= 2, "spans counted");
    // Two exports: the second carries what the first one cost the metrics sink itself.
    await h.telemetry.forceFlush(Date.now() + 10_000);
    await h.telemetry.forceFlush(Date.now() + 10_000);
    await receiver.waitFor(
      () => receiver.metricRequests.filter((r) => r.status === 200).length >= 2,
      "two metrics exports",
    );
    const metrics = lastExport(receiver);

    const rss = metrics.get("process.memory.usage");
    assert.equal(rss?.unit, "By");
    assert.ok(rss!.numberPoints[0]!.value > 1_000_000, "RSS in bytes");
    const heap = metrics.get("v8js.memory.heap.used");
    assert.equal(heap?.unit, "By");
    const spaces = heap!.numberPoints.map((p) => p.attributes["v8js.heap.space.name"]);
    assert.ok(spaces.includes("old_space") && spaces.includes("new_space"), String(spaces));
    assert.ok(metrics.get("v8js.memory.heap.limit"));
    const uptime = metrics.get("process.uptime");
    assert.equal(uptime?.unit, "s");
    assert.equal(uptime?.kind, "gauge");
    assert.ok(uptime!.numberPoints[0]!.value >= 0);
    const cpu = metrics.get("process.cpu.time");
    assert.deepEqual(cpu?.numberPoints.map((p) => p.attributes["cpu.mode"]).sort(), [
      "system",
      "user",
    ]);
    const delay = metrics.get("nodejs.eventloop.delay.p99");
    assert.equal(delay?.unit, "s");

    const exported = metrics.get("otel.sdk.exporter.span.exported");
    assert.ok(exported);
    assert.equal(exported.kind, "sum");
    assert.equal(exported.monotonic, true);
    assert.equal(exported.unit, "{span}");
    const sent = exported.numberPoints.find((p) =>
      p.attributes["otel.component.name"] === "traces" && !("error.type" in p.attributes)
    );
    assert.deepEqual(sent?.attributes, {
      "otel.component.name": "traces",
      "otel.component.type": "otlp_http_json_span_exporter",
    });
    assert.equal(sent?.value, 2);
    const tracePoints = exported.numberPoints.filter((p) =>
      p.attributes["otel.component.name"] === "traces"
    );
    for (const cause of ["dropped", "failed", "rejected"]) {
      const lost = tracePoints.find((p) => p.attributes["error.type"] === cause);
      assert.equal(lost?.value, 0, `traces ${cause}`);
    }
    const points = metrics.get("otel.sdk.exporter.metric_data_point.exported");
    const metricsSent = points?.numberPoints.find((p) =>
      p.attributes["otel.component.name"] === "metrics" && !("error.type" in p.attributes)
    );
    assert.ok(metricsSent && metricsSent.value > 0, "the metrics sink counts its own exports");
    const logs = metrics.get("otel.sdk.exporter.log.exported");
    assert.equal(logs?.unit, "{log_record}");
    assert.ok(logs?.numberPoints.some((p) => p.attributes["otel.component.name"] === "logs"));
    assert.equal(metrics.has("otel.sdk.processor.metric_data_point.queue.size"), false);
    const queue = metrics.get("otel.sdk.processor.span.queue.size");
    assert.equal(
      queue?.numberPoints.find((p) => p.attributes["otel.component.name"] === "traces")?.value,
      0,
    );
    const queued = metrics.get("cruddur.telemetry.queued");
    assert.equal(
      queued?.numberPoints.find((p) => p.attributes["otel.component.name"] === "traces")?.value,
      2,
    );
    assert.ok(metrics.get("cruddur.telemetry.retried"));
  } finally {
    await h.close();
    await receiver.close();
  }
});

Deno.test("OTLP metrics: the delta preference exports each interval's change, up-down counters and gauges as they are", async () => {
  const receiver = startOtlpReceiver();
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "Delta",
    OTEL_LOGS_EXPORTER: "none",
    OTEL_TRACES_EXPORTER: "none",
  });
  const get = async (times: number) => {
    for (let i = 0; i < times; i++) {
      await (await h.app.request("/api/activities/home")).arrayBuffer();
    }
  };
  const exportNow = async (n: number) => {
    await h.telemetry.forceFlush(Date.now() + 10_000);
    await receiver.waitFor(
      () => receiver.metricRequests.filter((r) => r.status === 200).length >= n,
      `metrics export ${n}`,
    );
    return lastExport(receiver);
  };
  const homePoint = (metrics: Map<string, ReceivedMetric>) =>
    metrics.get("http.server.request.duration")?.histogramPoints.find((p) =>
      p.attributes["http.route"] === "/api/activities/home"
    );
  try {
    await get(3);
    const first = await exportNow(1);
    await get(2);
    const second = await exportNow(2);
    const third = await exportNow(3);

    const duration = first.get("http.server.request.duration");
    assert.equal(duration?.temporality, 1, "delta");
    const a = homePoint(first);
    const b = homePoint(second);
    assert.equal(a?.count, 3);
    assert.equal(b?.count, 2, "the second export carries only the two later requests");
    assert.equal(b!.counts.reduce((x, y) => x + y, 0), 2);
    assert.ok(b!.sum! > 0 && b!.sum! < a!.sum! * 10, "the sum is the interval's");
    assert.ok(
      b!.min! > 0 && b!.min! <= b!.max! && b!.sum! >= 2 * b!.min!,
      "the interval's own min and max",
    );
    // Contiguous intervals: the second starts where the first ended.
    assert.equal(b!.startTimeUnixNano, a!.timeUnixNano);
    assert.equal(homePoint(third), undefined, "no requests in the interval, no point");
    assert.equal(second.get("http.server.response.body.size")?.temporality, 1);

    // Up-down counters stay cumulative; observable counters (the sinks' own) become deltas.
    assert.equal(second.get("http.server.active_requests")?.temporality, 2);
    assert.equal(second.get("process.memory.usage")?.temporality, 2);
    assert.equal(second.get("otel.sdk.exporter.metric_data_point.exported")?.temporality, 1);
  } finally {
    await h.close();
    await receiver.close();
  }
});

Deno.test("OTLP metrics: the lowmemory preference keeps observable counters cumulative", async () => {
  const receiver = startOtlpReceiver();
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "lowmemory",
    OTEL_LOGS_EXPORTER: "none",
    OTEL_TRACES_EXPORTER: "none",
  });
  try {
    await (await h.app.request("/api/activities/home")).arrayBuffer();
    await h.telemetry.forceFlush(Date.now() + 10_000);
    await receiver.waitFor(() => receiver.metricRequests.some((r) => r.status === 200), "export");
    const metrics = lastExport(receiver);
    assert.equal(metrics.get("http.server.request.duration")?.temporality, 1);
    assert.equal(metrics.get("process.cpu.time")?.temporality, 2);
    assert.equal(metrics.get("http.server.active_requests")?.temporality, 2);
  } finally {
    await h.close();
    await receiver.close();
  }
});
