import assert from "node:assert/strict";
import { buildApp } from "../../support/harness.ts";
import { startOtlpReceiver } from "../../support/otlp_receiver.ts";

Deno.test("metrics and log records a collector refuses are counted failed, never sent, and reported once", async () => {
  const receiver = startOtlpReceiver();
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    // A path the collector answers 404 for: not retryable.
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.url}/v1/nowhere`,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `${receiver.url}/v1/nowhere/logs`,
  });
  try {
    await (await h.app.request("/api/activities/home")).arrayBuffer();
    await h.telemetry.forceFlush(Date.now() + 10_000);
    await h.telemetry.forceFlush(Date.now() + 10_000);
    const stats = h.telemetry.stats();
    assert.equal(stats.metrics?.sent, 0);
    assert.ok(stats.metrics!.failed > 0, "data points counted failed");
    assert.equal(stats.metrics?.queued, stats.metrics!.failed);
    assert.equal(stats.logs?.sent, 0);
    assert.ok(stats.logs!.failed > 0, "records counted failed");
    assert.equal(stats.logs?.retried, 0, "a 404 is not retried");
    assert.equal(stats.logs?.queued, stats.logs!.failed);
    assert.equal(receiver.metricRequests.length + receiver.logRequests.length, 0);
    assert.equal(h.diagnostics.filter((d) => d.startsWith("metrics: export failed")).length, 1);
    assert.equal(h.diagnostics.filter((d) => d.startsWith("logs: ")).length, 1);
  } finally {
    await h.close();
    await receiver.close();
  }
});

Deno.test("log records a collector cannot take right now are retried, then dropped and counted", async () => {
  const receiver = startOtlpReceiver();
  // A port nobody listens on: connection refused, a retryable network error.
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `http://127.0.0.1:${port}/v1/logs`,
    OTEL_METRICS_EXPORTER: "none",
  });
  try {
    await (await h.app.request("/api/activities/home")).arrayBuffer();
    await h.telemetry.forceFlush(Date.now() + 30_000);
    const logs = h.telemetry.stats().logs!;
    assert.equal(logs.sent, 0);
    assert.equal(logs.retried, 3, "three retries after the first attempt");
    assert.ok(logs.dropped > 0);
    assert.equal(logs.queued, logs.dropped);
  } finally {
    await h.close();
    await receiver.close();
  }
});
