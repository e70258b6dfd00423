import assert from "node:assert/strict";
import { loadConfig } from "../config.ts";
import { EmfAggregator } from "../telemetry/cloudwatch/emf.ts";
import type { LogLine } from "../telemetry/types.ts";
import { readEmf } from "./support/emf.ts";

/** PutMetricAlarm's members (what `--cli-input-json` accepts for a single-metric alarm). */
const MEMBERS = new Set([
  "AlarmName",
  "AlarmDescription",
  "ActionsEnabled",
  "OKActions",
  "AlarmActions",
  "InsufficientDataActions",
  "MetricName",
  "Namespace",
  "Statistic",
  "ExtendedStatistic",
  "Dimensions",
  "Period",
  "Unit",
  "EvaluationPeriods",
  "DatapointsToAlarm",
  "Threshold",
  "ComparisonOperator",
  "TreatMissingData",
  "EvaluateLowSampleCountPercentile",
  "Tags",
]);
const STATISTICS = new Set(["SampleCount", "Average", "Sum", "Minimum", "Maximum"]);
const OPERATORS = new Set([
  "GreaterThanOrEqualToThreshold",
  "GreaterThanThreshold",
  "LessThanThreshold",
  "LessThanOrEqualToThreshold",
]);

async function alarm(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(new URL(`../aws/json/${file}`, import.meta.url)));
}

/** Checks a file against PutMetricAlarm's rules, as the AWS CLI and the API would. */
function checkAlarm(a: Record<string, unknown>): void {
  for (const key of Object.keys(a)) assert.ok(MEMBERS.has(key), `unknown member ${key}`);
  assert.match(String(a.AlarmName), /^.{1,255}$/);
  assert.ok(String(a.AlarmDescription ?? "").length <= 1024);
  assert.equal(typeof a.Namespace, "string");
  assert.equal(typeof a.MetricName, "string");
  assert.ok(("Statistic" in a) !== ("ExtendedStatistic" in a), "Statistic xor ExtendedStatistic");
  if ("Statistic" in a) assert.ok(STATISTICS.has(String(a.Statistic)));
  if ("ExtendedStatistic" in a) assert.match(String(a.ExtendedStatistic), /^p\d{1,2}(\.\d+)?$/);
  const period = Number(a.Period);
  assert.ok([10, 20, 30].includes(period) || (period >= 60 && period % 60 === 0), "Period");
  const evaluation = Number(a.EvaluationPeriods);
  assert.ok(Number.isInteger(evaluation) && evaluation >= 1);
  assert.ok(period * evaluation <= 86_400 * 7, "at most 7 days evaluated");
  const points = Number(a.DatapointsToAlarm ?? evaluation);
  assert.ok(points >= 1 && points <= evaluation);
  assert.equal(typeof a.Threshold, "number");
  assert.ok(OPERATORS.has(String(a.ComparisonOperator)));
  assert.ok(
    ["breaching", "notBreaching", "ignore", "missing"].includes(String(a.TreatMissingData)),
  );
  for (const list of ["AlarmActions", "OKActions"]) assert.ok(Array.isArray(a[list] ?? []));
}

/** What CloudWatch extracts from the EMF events the app writes for `statuses`. */
function extracted(statuses: number[], ms: number) {
  const lines: LogLine[] = [];
  const config = loadConfig({ CLOUDWATCH_LOG_GROUP: "cruddur" });
  const emf = new EmfAggregator({
    namespace: config.cloudwatch!.metrics.namespace,
    service: config.serviceName,
    intervalMs: 60_000,
    push: (line) => lines.push(line),
  });
  for (const status of statuses) {
    emf.end({
      method: "GET",
      scheme: "http",
      route: "/api/activities/home",
      status,
      durationSeconds: ms / 1000,
      errorType: undefined,
      requestBytes: undefined,
      responseBytes: undefined,
    });
  }
  emf.stop();
  return lines.flatMap((l) => {
    const r = readEmf(l.message);
    assert.equal(r.kind, "metrics");
    return r.kind === "metrics" ? r.data : [];
  });
}

/** The data points an alarm would evaluate: its namespace, metric and exact dimensions. */
function watched(a: Record<string, unknown>, data: ReturnType<typeof extracted>) {
  const dims = Object.fromEntries(
    (a.Dimensions as Array<{ Name: string; Value: string }>).map((d) => [d.Name, d.Value]),
  );
  return data.filter((d) =>
    d.namespace === a.Namespace && d.name === a.MetricName &&
    JSON.stringify(d.dimensions) === JSON.stringify(dims) &&
    (a.Unit === undefined || a.Unit === d.unit)
  );
}

Deno.test("aws/json/alarm_5xx.json is a valid alarm on the Faults metric the app's EMF events carry", async () => {
  const a = await alarm("alarm_5xx.json");
  checkAlarm(a);
  assert.equal(a.Statistic, "Sum");
  // One datum per event (route and status class); CloudWatch sums them into the minute.
  const sum = (data: ReturnType<typeof extracted>) =>
    data.reduce((n, d) => n + d.values.reduce((m, v, i) => m + v * d.counts[i]!, 0), 0);
  const data = watched(a, extracted([200, 500, 503, 404], 5));
  assert.equal(data.length, 3, "the 2xx, 4xx and 5xx events each carry the rollup");
  assert.equal(sum(data), 2, "the 500 and the 503, not the 404");
  assert.equal(sum(watched(a, extracted([200, 404], 5))), 0);
});

Deno.test("aws/json/alarm_p99_latency.json is a valid p99 alarm on the app's Latency distribution", async () => {
  const a = await alarm("alarm_p99_latency.json");
  checkAlarm(a);
  assert.equal(a.ExtendedStatistic, "p99");
  const data = watched(a, extracted([200, 200, 500], 1500));
  assert.equal(data.length, 2, "the 2xx and 5xx events each carry the rollup");
  assert.deepEqual(data.flatMap((d) => d.values), [1500, 1500]);
  assert.deepEqual(data.flatMap((d) => d.counts).sort(), [1, 2]);
  assert.ok(1500 > Number(a.Threshold), "such a latency breaches the threshold");
});
