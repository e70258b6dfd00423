import assert from "node:assert/strict";
import {
  EmfAggregator,
  MAX_VALUES_PER_METRIC,
  quantizeMs,
} from "../../../telemetry/cloudwatch/emf.ts";
import type { RequestSample } from "../../../telemetry/metrics/http_server.ts";
import type { LogLine } from "../../../telemetry/types.ts";
import { readEmf } from "../../support/emf.ts";

function sample(overrides: Partial<RequestSample>): RequestSample {
  return {
    method: "GET",
    scheme: "http",
    route: "/api/activities/home",
    status: 200,
    durationSeconds: 0.0042,
    errorType: undefined,
    requestBytes: undefined,
    responseBytes: undefined,
    ...overrides,
  };
}

function aggregator(lines: LogLine[], now = () => 1_800_000_000_000) {
  return new EmfAggregator({
    namespace: "Cruddur",
    service: "backend-deno",
    intervalMs: 60_000,
    push: (line) => lines.push(line),
    now,
  });
}

Deno.test("EMF: one valid event per route and status class with counts and a latency distribution", () => {
  const lines: LogLine[] = [];
  const emf = aggregator(lines);
  for (let i = 0; i < 5; i++) emf.end(sample({ durationSeconds: 0.0042 }));
  emf.end(sample({ durationSeconds: 0.25 }));
  emf.end(sample({ status: 404, route: undefined }));
  emf.end(sample({ status: 500, method: "POST", route: "/api/activities", errorType: "Error" }));
  emf.end(sample({ status: 503, method: "POST", route: "/api/activities" }));
  assert.equal(lines.length, 0, "nothing is written before the interval ends");
  emf.flush();
  assert.equal(lines.length, 3);
  const events = lines.map((l) => JSON.parse(l.message));
  for (const line of lines) {
    const result = readEmf(line.message);
    assert.equal(result.kind, "metrics", result.kind === "invalid" ? result.reason : "");
    assert.equal(line.timestamp, 1_800_000_000_000);
  }
  const home = events.find((e) => e.Route === "GET /api/activities/home");
  assert.equal(home.StatusClass, "2xx");
  assert.equal(home.Service, "backend-deno");
  assert.equal(home.RequestCount, 6);
  assert.equal(home.Errors, 0);
  assert.equal(home.Faults, 0);
  assert.deepEqual(home.Latency.Values, [4.2, 250]);
  assert.deepEqual(home.Latency.Counts, [5, 1]);
  assert.equal(home.Latency.Count, 6);
  assert.deepEqual(home._aws.CloudWatchMetrics[0].Dimensions, [
    ["Service", "Route", "StatusClass"],
    ["Service"],
  ]);
  assert.equal(home._aws.CloudWatchMetrics[0].Namespace, "Cruddur");
  const unmatched = events.find((e) => e.Route === "unmatched");
  assert.equal(unmatched.StatusClass, "4xx");
  assert.equal(unmatched.Errors, 1);
  const faults = events.find((e) => e.StatusClass === "5xx");
  assert.equal(faults.Route, "POST /api/activities");
  assert.equal(faults.Faults, 2, "500 and 503 share the class");
  assert.equal(faults.RequestCount, 2);

  emf.flush();
  assert.equal(lines.length, 3, "an idle interval writes nothing");
  emf.stop();
});

Deno.test("EMF: more than 100 distinct latencies are spread over continuation events", () => {
  const lines: LogLine[] = [];
  const emf = aggregator(lines);
  // 250 distinct two-digit latencies: 1.0, 1.1, ... ms and on.
  const distinct = new Set<number>();
  for (let i = 0; i < 250; i++) {
    const ms = 1 + i * 0.1;
    distinct.add(quantizeMs(ms));
    emf.end(sample({ durationSeconds: ms / 1000 }));
  }
  emf.stop();
  const results = lines.map((l) => readEmf(l.message));
  for (const r of results) assert.equal(r.kind, "metrics", r.kind === "invalid" ? r.reason : "");
  const events = lines.map((l) => JSON.parse(l.message));
  assert.equal(events.length, Math.ceil(distinct.size / MAX_VALUES_PER_METRIC));
  assert.equal(events[0].RequestCount, 250, "the counts are in the first event only");
  for (const continuation of events.slice(1)) {
    assert.equal("RequestCount" in continuation, false);
    assert.deepEqual(continuation._aws.CloudWatchMetrics[0].Metrics, [
      { Name: "Latency", Unit: "Milliseconds" },
    ]);
  }
  for (const e of events) assert.ok(e.Latency.Values.length <= MAX_VALUES_PER_METRIC);
  const total = events.reduce((n, e) => n + e.Latency.Count, 0);
  assert.equal(total, 250, "every request's latency is in exactly one event");
  emf.end(sample({}));
  emf.flush();
  assert.equal(lines.length, events.length, "nothing is recorded after stop()");
});

Deno.test("readEmf() refuses what CloudWatch refuses", () => {
  const ok = {
    _aws: {
      Timestamp: 1_800_000_000_000,
      CloudWatchMetrics: [{
        Namespace: "Cruddur",
        Dimensions: [["Service"]],
        Metrics: [{ Name: "Faults", Unit: "Count" }],
      }],
    },
    Service: "backend-deno",
    Faults: 1,
  };
  assert.equal(readEmf(JSON.stringify(ok)).kind, "metrics");
  assert.equal(readEmf("plain text").kind, "not-emf");
  const broken: Array<[string, unknown]> = [
    ["missing dimension", { ...ok, Service: undefined }],
    ["seconds timestamp", { ...ok, _aws: { ...ok._aws, Timestamp: 1_800_000_000 } }],
    ["missing value", { ...ok, Faults: undefined }],
    ["101 values", { ...ok, Faults: Array.from({ length: 101 }, (_, i) => i) }],
    ["unequal lengths", { ...ok, Faults: { Values: [1, 2], Counts: [1] } }],
    ["bad unit", {
      ...ok,
      _aws: {
        ...ok._aws,
        CloudWatchMetrics: [{
          ...ok._aws.CloudWatchMetrics[0],
          Metrics: [{ Name: "Faults", Unit: "ms" }],
        }],
      },
    }],
  ];
  for (const [what, event] of broken) {
    assert.equal(readEmf(JSON.stringify(event)).kind, "invalid", what);
  }
});

Deno.test("quantizeMs() is Number(ms.toPrecision(2)) exactly, ties and powers of ten included", () => {
  const values = [0, -1, Number.NaN, 1e-30, 1e30, Infinity, 0.001, 0.0042, 4.2, 250, 999.5];
  for (let e = -6; e <= 8; e++) {
    for (let n = 100; n < 1000; n++) {
      const tie = (n + 0.5) * 10 ** (e - 2); // x.y5 ties and their binary neighbours
      values.push(tie, tie * (1 + Number.EPSILON), tie * (1 - Number.EPSILON), n * 10 ** e);
    }
  }
  let seed = 7;
  for (let i = 0; i < 100_000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    values.push((seed / 2 ** 31) * 10 ** ((i % 12) - 4));
  }
  for (const ms of values) {
    const expected = ms > 0 ? Number(ms.toPrecision(2)) : 0;
    assert.equal(quantizeMs(ms), expected, `quantizeMs(${ms})`);
  }
});
