import assert from "node:assert/strict";
import { startCloudWatchStandIn } from "../../support/cloudwatch_standin.ts";
import { buildApp } from "../../support/harness.ts";
import { startOtlpReceiver } from "../../support/otlp_receiver.ts";

const AWS_ENV = {
  AWS_REGION: "ca-central-1",
  AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
  AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};

Deno.test("one request as a trace, log records and metrics in the OTLP backend and in CloudWatch, joined by its trace id", async () => {
  const cloudwatch = startCloudWatchStandIn();
  const otlp = startOtlpReceiver();
  const h = await buildApp({
    ...AWS_ENV,
    CLOUDWATCH_LOG_GROUP: "cruddur",
    CLOUDWATCH_LOG_STREAM: "emf",
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: cloudwatch.endpoint,
    CLOUDWATCH_FLUSH_INTERVAL_MS: "20",
    CLOUDWATCH_METRICS_NAMESPACE: "CruddurTest",
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_BSP_SCHEDULE_DELAY: "10",
  }, {
    store: (seeded) => ({
      ...seeded,
      addActivity() {
        throw new Error("insert failed");
      },
    }),
  });
  try {
    assert.ok(h.telemetry.describe().some((l) => l.includes('EMF metrics in "CruddurTest"')));
    for (let i = 0; i < 3; i++) await (await h.app.request("/api/activities/home")).arrayBuffer();
    const failed = await h.app.request("/api/activities", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: "hello", ttl: "1-day" }),
    });
    assert.equal(failed.status, 500);
    await failed.arrayBuffer();
    await h.telemetry.forceFlush(Date.now() + 10_000);

    // CloudWatch: EMF events valid per the specification, metrics as CloudWatch extracts them.
    assert.deepEqual(cloudwatch.emfErrors(), []);
    const data = cloudwatch.emfMetrics().filter((d) => d.namespace === "CruddurTest");
    const byRoute = (name: string, route: string, statusClass: string) =>
      data.find((d) =>
        d.name === name && d.dimensions.Route === route && d.dimensions.StatusClass === statusClass
      );
    assert.deepEqual(byRoute("RequestCount", "GET /api/activities/home", "2xx")?.values, [3]);
    assert.deepEqual(byRoute("Faults", "POST /api/activities", "5xx")?.values, [1]);
    const latency = byRoute("Latency", "GET /api/activities/home", "2xx");
    assert.equal(latency?.unit, "Milliseconds");
    assert.equal(latency?.counts.reduce((a, b) => a + b, 0), 3);
    const service = data.find((d) =>
      d.name === "Faults" && JSON.stringify(d.dimensions) === '{"Service":"backend-deno"}'
    );
    assert.ok(service, "the service-wide rollup the 5xx alarm watches");

    // The same request in both backends, joined by its trace id.
    const span = h.exporter.byName("GET /api/activities/home");
    const traceId = span.spanContext().traceId;
    const lines = cloudwatch.events("cruddur", "emf").map((e) => JSON.parse(e.message));
    assert.ok(lines.some((e) => e.event === "access" && e.trace_id === traceId), "CloudWatch");
    await otlp.waitFor(() => otlp.spans().some((s) => s.traceId === traceId), "the OTLP span");
    await otlp.waitFor(
      () => otlp.logRecords().some((r) => r.traceId === traceId && r.attributes.event === "access"),
      "the OTLP log record",
    );
    await otlp.waitFor(() => otlp.metricRequests.some((r) => r.status === 200), "OTLP metrics");
    const metrics = otlp.metricRequests.filter((r) => r.status === 200).at(-1)!.items;
    const duration = metrics.find((m) => m.name === "http.server.request.duration");
    assert.ok(
      duration?.histogramPoints.some((p) => p.attributes["http.route"] === "/api/activities/home"),
    );
  } finally {
    await h.close();
    await cloudwatch.close();
    await otlp.close();
  }
});
