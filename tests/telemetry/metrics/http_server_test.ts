import assert from "node:assert/strict";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  type HistogramMetricData,
  type MetricProducer,
} from "@opentelemetry/sdk-metrics";
import {
  HttpServerMetrics,
  MAX_SERIES,
  type RequestSample,
} from "../../../telemetry/metrics/http_server.ts";

function sample(overrides: Partial<RequestSample>): RequestSample {
  return {
    method: "GET",
    scheme: "http",
    route: "/api/activities/home",
    status: 200,
    durationSeconds: 0.001,
    errorType: undefined,
    requestBytes: undefined,
    responseBytes: undefined,
    ...overrides,
  };
}

async function duration(metrics: HttpServerMetrics): Promise<HistogramMetricData> {
  const { resourceMetrics } = await metrics.collect();
  const metric = resourceMetrics.scopeMetrics[0]!.metrics.find((m) =>
    m.descriptor.name === "http.server.request.duration"
  );
  assert.ok(metric);
  return metric as HistogramMetricData;
}

function newMetrics(): HttpServerMetrics {
  return new HttpServerMetrics(resourceFromAttributes({}), { name: "test" });
}

Deno.test("http.server.request.duration: upper bounds are inclusive, totals add up", async () => {
  const metrics = newMetrics();
  for (const s of [0.005, 0.0051, 10, 11]) metrics.end(sample({ durationSeconds: s }));
  const [point] = (await duration(metrics)).dataPoints;
  assert.ok(point);
  const counts = point.value.buckets.counts;
  assert.equal(counts[0], 1, "0.005 s is in the first bucket (le 0.005)");
  assert.equal(counts[1], 1);
  assert.equal(counts[13], 1, "10 s is in the le 10 bucket");
  assert.equal(counts[14], 1, "above the last bound");
  assert.equal(point.value.count, 4);
  assert.equal(point.value.min, 0.005);
  assert.equal(point.value.max, 11);
});

Deno.test("HTTP server metrics: attribute sets are capped, the rest go to one overflow series", async () => {
  const metrics = newMetrics();
  for (let i = 0; i < MAX_SERIES + 50; i++) metrics.end(sample({ route: `/r/${i}` }));
  const points = (await duration(metrics)).dataPoints;
  assert.equal(points.length, MAX_SERIES + 1);
  const overflow = points.filter((p) => p.attributes["otel.metric.overflow"] === true);
  assert.equal(overflow.length, 1);
  assert.equal(overflow[0]!.value.count, 50);
});

Deno.test("HTTP server metrics: active requests go up and down per method; unknown methods are _OTHER", async () => {
  const metrics = newMetrics();
  metrics.begin("GET", "http");
  metrics.begin("GET", "http");
  metrics.begin("BREW", "http");
  metrics.end(sample({}));
  const { resourceMetrics } = await metrics.collect();
  const active = resourceMetrics.scopeMetrics[0]!.metrics.find((m) =>
    m.descriptor.name === "http.server.active_requests"
  )!;
  const byMethod = Object.fromEntries(
    active.dataPoints.map((p) => [String(p.attributes["http.request.method"]), p.value]),
  );
  assert.deepEqual(byMethod, { GET: 1, _OTHER: 1 });
});

Deno.test("HTTP server metrics: one route and status, told apart by method, scheme and error.type", async () => {
  const metrics = newMetrics();
  const route = "/api/activities";
  metrics.end(sample({ route, status: 500, method: "POST", errorType: "TypeError" }));
  metrics.end(sample({ route, status: 500, method: "POST", errorType: "TypeError" }));
  metrics.end(sample({ route, status: 500, method: "POST", errorType: "500" }));
  metrics.end(sample({ route, status: 500, method: "PUT", errorType: "TypeError" }));
  metrics.end(
    sample({ route, status: 500, method: "POST", scheme: "https", errorType: "TypeError" }),
  );
  metrics.end(sample({ route: undefined, status: 500, method: "POST", errorType: "TypeError" }));
  const points = (await duration(metrics)).dataPoints;
  assert.deepEqual(points.map((p) => [p.attributes, p.value.count]), [
    [{
      "http.request.method": "POST",
      "url.scheme": "http",
      "http.response.status_code": 500,
      "http.route": route,
      "error.type": "TypeError",
    }, 2],
    [{
      "http.request.method": "POST",
      "url.scheme": "http",
      "http.response.status_code": 500,
      "http.route": route,
      "error.type": "500",
    }, 1],
    [{
      "http.request.method": "PUT",
      "url.scheme": "http",
      "http.response.status_code": 500,
      "http.route": route,
      "error.type": "TypeError",
    }, 1],
    [{
      "http.request.method": "POST",
      "url.scheme": "https",
      "http.response.status_code": 500,
      "http.route": route,
      "error.type": "TypeError",
    }, 1],
    [{
      "http.request.method": "POST",
      "url.scheme": "http",
      "http.response.status_code": 500,
      "error.type": "TypeError",
    }, 1],
  ]);
});

Deno.test("HTTP server metrics: each delta view reports its own interval's counts, sum, min and max", async () => {
  const metrics = newMetrics();
  const otlp = metrics.producer(AggregationTemporality.DELTA);
  const consoleView = metrics.producer(AggregationTemporality.DELTA);
  const point = async (producer: MetricProducer) => {
    const { resourceMetrics } = await producer.collect();
    const metric = resourceMetrics.scopeMetrics[0]!.metrics.find((m) =>
      m.descriptor.name === "http.server.request.duration"
    ) as HistogramMetricData | undefined;
    return metric?.dataPoints[0]?.value;
  };
  for (const s of [0.5, 2]) metrics.end(sample({ durationSeconds: s }));
  assert.deepEqual(
    { ...(await point(otlp)), buckets: undefined },
    { buckets: undefined, sum: 2.5, count: 2, min: 0.5, max: 2 },
  );
  metrics.end(sample({ durationSeconds: 1 }));
  // The second interval alone: the cumulative min and max (0.5, 2) are not this interval's.
  assert.deepEqual(
    { ...(await point(otlp)), buckets: undefined },
    { buckets: undefined, sum: 1, count: 1, min: 1, max: 1 },
  );
  // The console's view has not collected yet: both intervals are its first.
  const both = await point(consoleView);
  assert.deepEqual([both?.count, both?.min, both?.max, both?.sum], [3, 0.5, 2, 3.5]);
  // The cumulative producer is unaffected by the views.
  const cumulative = (await duration(metrics)).dataPoints[0]!.value;
  assert.deepEqual([cumulative.count, cumulative.min, cumulative.max], [3, 0.5, 2]);
});
