/**
 * The OpenTelemetry metrics pipeline (SDK mode): a MeterProvider with a periodic reader that
 * exports, every OTEL_METRIC_EXPORT_INTERVAL, the HTTP server metrics (aggregated in
 * telemetry/metrics/http_server.ts), the process and runtime metrics and the sinks' own
 * counters, over OTLP/HTTP JSON like the traces and/or to the console.
 *
 * Data points are cumulative by default, so an export lost to an outage costs resolution,
 * not counts: the next export carries the totals. That is why this sink makes one attempt per
 * export and keeps no retry buffer. OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta
 * (or lowmemory) is for backends that want deltas; a lost delta export is then lost counts,
 * which the sink's own `dropped`/`failed` counters say.
 */
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import type { IExporterTransport } from "@opentelemetry/otlp-exporter-base";
import { JsonMetricsSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  type AggregationTemporalitySelector,
  ConsoleMetricExporter,
  InstrumentType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import type { MetricsConfig, MetricsTemporality } from "../../config.ts";
import { exportOnce } from "../otlp/json_export.ts";
import { OtlpHttpTransport } from "../otlp/transport.ts";
import { type Diagnostic, emptyStats, type Sink, type SinkStats } from "../types.ts";
import { beforeDeadline } from "../util/deadline.ts";
import { HttpServerMetrics, type RequestRecorder } from "./http_server.ts";
import { registerRuntimeMetrics } from "./runtime.ts";
import { registerSinkHealthMetrics } from "./sink_health.ts";

/** Options of {@linkcode createMetricsPipeline}. */
export interface MetricsPipelineOptions {
  config: MetricsConfig;
  resource: Record<string, string>;
  serviceVersion: string;
  /** Every sink's counters (this one's included), read once per export. */
  stats: () => Record<string, SinkStats>;
  diagnostic?: Diagnostic;
}

/** What {@linkcode createMetricsPipeline} returns. */
export interface MetricsPipeline {
  /** What the request middleware records into. */
  recorder: RequestRecorder;
  provider: MeterProvider;
  /** Counts data points exported; flush and shutdown export once more. */
  sink: Sink;
  /** Human description for the startup line. */
  destination: string;
}

function countPoints(metrics: ResourceMetrics): number {
  let n = 0;
  for (const scope of metrics.scopeMetrics) {
    for (const metric of scope.metrics) n += metric.dataPoints.length;
  }
  return n;
}

/**
 * The OTLP exporter specification's temporality per instrument kind: `delta` makes counters
 * and histograms (synchronous or not) deltas, `lowmemory` only the synchronous ones; up-down
 * counters stay cumulative in both, and gauges have no temporality to choose.
 */
export function temporalitySelector(
  preference: MetricsTemporality,
): AggregationTemporalitySelector {
  return (kind) => {
    if (preference === "cumulative") return AggregationTemporality.CUMULATIVE;
    const delta = kind === InstrumentType.COUNTER || kind === InstrumentType.HISTOGRAM ||
      (preference === "delta" && kind === InstrumentType.OBSERVABLE_COUNTER);
    return delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
  };
}

/**
 * OTLP/HTTP JSON metrics exporter with its own account: one attempt per export, no retry
 * (the next export carries the totals), a lost export counted by its data points.
 */
class CountingMetricExporter implements PushMetricExporter {
  readonly counts: SinkStats = emptyStats();
  private failing = false;
  private closed = false;
  private inflight = 0;
  constructor(
    private readonly transport: IExporterTransport,
    private readonly timeoutMs: number,
    private readonly diagnostic: Diagnostic,
    private readonly temporality: AggregationTemporalitySelector,
  ) {}
  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    if (this.closed) {
      // Past the shutdown deadline nothing new is sent (nor counted: it was never queued).
      done({ code: ExportResultCode.FAILED, error: new Error("Exporter is shut down") });
      return;
    }
    const points = countPoints(metrics);
    this.counts.queued += points;
    this.inflight += points;
    void exportOnce(this.transport, JsonMetricsSerializer, metrics, {
      timeoutMs: this.timeoutMs,
      rejectedField: "rejectedDataPoints",
    }).then((outcome) => {
      if (this.closed) return; // abandoned and counted at shutdown
      this.inflight -= points;
      if (outcome.kind === "sent") {
        const rejected = Math.min(outcome.rejected, points);
        this.counts.rejected += rejected;
        this.counts.sent += points - rejected;
        if (this.failing) this.diagnostic("metrics: OTLP export recovered");
        this.failing = false;
        done({ code: ExportResultCode.SUCCESS });
        return;
      }
      // Retryable or not, this export is over: the next one carries the totals.
      if (outcome.kind === "retry") this.counts.dropped += points;
      else this.counts.failed += points;
      if (!this.failing) {
        this.diagnostic(
          `metrics: export failed, the next one carries the totals: ${outcome.reason}`,
        );
      }
      this.failing = true;
      done({ code: ExportResultCode.FAILED, error: new Error(outcome.reason) });
    });
  }
  /** Stops sending; an export still out is counted dropped (its answer is not awaited). */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.counts.dropped += this.inflight;
    this.inflight = 0;
    this.transport.shutdown();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    this.abandon();
    return Promise.resolve();
  }
  selectAggregationTemporality(kind: InstrumentType): AggregationTemporality {
    return this.temporality(kind);
  }
}

/** Builds the metrics pipeline; `undefined` when no exporter is configured. */
export function createMetricsPipeline(
  options: MetricsPipelineOptions,
): MetricsPipeline | undefined {
  const { config } = options;
  const diagnostic = options.diagnostic ?? (() => {});
  const resource = resourceFromAttributes(options.resource);
  const scope = { name: "cruddur-backend", version: options.serviceVersion };
  const http = new HttpServerMetrics(resource, scope);
  const counters: CountingMetricExporter[] = [];
  const readers: PeriodicExportingMetricReader[] = [];
  const destinations: string[] = [];
  const temporality = temporalitySelector(config.temporality);
  const reader = (exporter: PushMetricExporter) =>
    new PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: config.intervalMs,
      exportTimeoutMillis: config.timeoutMs,
      // Each reader its own view: a delta is "since this reader's last collection".
      metricProducers: [http.producer(temporality(InstrumentType.HISTOGRAM))],
    });
  if (config.exporters.includes("otlp") && config.endpoint) {
    const counting = new CountingMetricExporter(
      new OtlpHttpTransport({ url: config.endpoint, headers: config.headers }),
      // One request's limit; the reader bounds the whole export by OTEL_METRIC_EXPORT_TIMEOUT.
      Math.min(config.otlpTimeoutMs, config.timeoutMs),
      diagnostic,
      temporality,
    );
    counters.push(counting);
    readers.push(reader(counting));
    destinations.push(`OTLP/HTTP ${new URL(config.endpoint).origin}`);
  }
  if (config.exporters.includes("console")) {
    readers.push(reader(new ConsoleMetricExporter({ temporalitySelector: temporality })));
    destinations.push("console");
  }
  if (readers.length === 0) return undefined;
  const provider = new MeterProvider({ resource, readers });
  const meter = provider.getMeter(scope.name, scope.version);
  const runtime = registerRuntimeMetrics(meter);
  registerSinkHealthMetrics(meter, options.stats);

  let stopped: Promise<void> | undefined;
  const sink: Sink = {
    name: "metrics",
    forceFlush: async (deadline) => {
      await beforeDeadline(provider.forceFlush(), deadline);
    },
    shutdown(deadline) {
      stopped ??= (async () => {
        // One last export with the final totals, if the deadline leaves time for it.
        if (Date.now() < deadline) await beforeDeadline(provider.forceFlush(), deadline);
        for (const c of counters) c.abandon();
        runtime.stop();
        await beforeDeadline(provider.shutdown(), deadline);
      })();
      return stopped;
    },
    stats() {
      const total = emptyStats();
      for (const c of counters) {
        for (const key of Object.keys(total) as (keyof SinkStats)[]) {
          total[key] = (total[key] ?? 0) + (c.counts[key] ?? 0);
        }
      }
      return total;
    },
  };
  return { recorder: http, provider, sink, destination: destinations.join(" + ") };
}
