/**
 * The telemetry's own health as metrics, named after OpenTelemetry's SDK self-observability
 * conventions (`otel.sdk.*`), so an operator can alert on lost telemetry:
 *
 * - `otel.sdk.exporter.{span,log,metric_data_point}.exported`: items whose export finished, counted once.
 *   Without `error.type` they were delivered; `error.type` says why not: `rejected` (the
 *   service refused them), `failed` (a non-retryable answer) or `dropped` (discarded locally:
 *   queue full, oversized, retries exhausted, shutdown deadline).
 * - `otel.sdk.processor.{span,log}.queue.size`: items accepted but not settled yet.
 * - `cruddur.telemetry.queued` and `cruddur.telemetry.retried`: items accepted and send
 *   attempts repeated; `cruddur.telemetry.truncated`: items shortened to fit a size limit and
 *   sent anyway (only sinks that shorten report it); the conventions define none of these.
 *
 * `otel.component.name` is the sink's name (`traces`, `xray`, `cloudwatch`, ...), and
 * `otel.component.type` the conventions' value where one exists. Read at collection time from
 * each sink's counters, so nothing is counted twice and the request path pays nothing.
 */
import { type Meter, ValueType } from "@opentelemetry/api";
import type { SinkStats } from "../types.ts";

/** What the conventions call a sink's items and its component type. */
export interface SinkKind {
  /** `span` for trace sinks, `log` for log and error sinks, `metric_data_point` for metrics. */
  signal: "span" | "log" | "metric_data_point";
  componentType: string;
}

/** The kind of each sink this app installs; an unknown sink counts as a log exporter. */
export const SINK_KINDS: Readonly<Record<string, SinkKind>> = {
  traces: { signal: "span", componentType: "otlp_http_json_span_exporter" },
  xray: { signal: "span", componentType: "aws_xray_udp_span_exporter" },
  cloudwatch: { signal: "log", componentType: "aws_cloudwatch_logs_exporter" },
  rollbar: { signal: "log", componentType: "rollbar_item_exporter" },
  logs: { signal: "log", componentType: "otlp_http_json_log_exporter" },
  metrics: { signal: "metric_data_point", componentType: "otlp_http_json_metric_exporter" },
  console: { signal: "log", componentType: "console_log_exporter" },
};

const UNITS = { span: "{span}", log: "{log_record}", metric_data_point: "{data_point}" } as const;

/** Registers the sink-health instruments; `stats` is read once per collection. */
export function registerSinkHealthMetrics(
  meter: Meter,
  stats: () => Record<string, SinkStats>,
): void {
  const signals = ["span", "log", "metric_data_point"] as const;
  const exported = Object.fromEntries(signals.map((signal) => [
    signal,
    meter.createObservableCounter(`otel.sdk.exporter.${signal}.exported`, {
      unit: UNITS[signal],
      description: `Items whose export finished; error.type is set for those not delivered.`,
      valueType: ValueType.INT,
    }),
  ]));
  // The conventions define a queue size for span and log processors only.
  const queueSize = Object.fromEntries((["span", "log"] as const).map((signal) => [
    signal,
    meter.createObservableUpDownCounter(`otel.sdk.processor.${signal}.queue.size`, {
      unit: UNITS[signal],
      description: "Items accepted by the sink and not settled yet.",
      valueType: ValueType.INT,
    }),
  ]));
  const queued = meter.createObservableCounter("cruddur.telemetry.queued", {
    unit: "{item}",
    description: "Items accepted by a telemetry sink since start.",
    valueType: ValueType.INT,
  });
  const retried = meter.createObservableCounter("cruddur.telemetry.retried", {
    unit: "{attempt}",
    description: "Send attempts a telemetry sink repeated after a retryable failure.",
    valueType: ValueType.INT,
  });

  const truncated = meter.createObservableCounter("cruddur.telemetry.truncated", {
    unit: "{item}",
    description: "Items a telemetry sink shortened to fit a size limit and sent anyway.",
    valueType: ValueType.INT,
  });

  meter.addBatchObservableCallback((result) => {
    for (const [name, s] of Object.entries(stats())) {
      const kind = SINK_KINDS[name] ?? { signal: "log", componentType: name };
      const base = { "otel.component.name": name, "otel.component.type": kind.componentType };
      const counter = exported[kind.signal]!;
      result.observe(counter, s.sent, base);
      result.observe(counter, s.rejected, { ...base, "error.type": "rejected" });
      result.observe(counter, s.failed, { ...base, "error.type": "failed" });
      result.observe(counter, s.dropped, { ...base, "error.type": "dropped" });
      const settled = s.sent + s.rejected + s.failed + s.dropped;
      const queue = queueSize[kind.signal];
      if (queue) result.observe(queue, Math.max(0, s.queued - settled), base);
      result.observe(queued, s.queued, base);
      result.observe(retried, s.retried, base);
      if (s.truncated !== undefined) result.observe(truncated, s.truncated, base);
    }
  }, [...Object.values(exported), ...Object.values(queueSize), queued, retried, truncated]);
}
