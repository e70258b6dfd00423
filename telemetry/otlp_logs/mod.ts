/**
 * OpenTelemetry logs (SDK mode): every event the logger keeps becomes an OTLP log record with
 * its severity, its message as the body, its fields as attributes and the trace and span ids
 * of the span it was written in, so a trace view shows its logs. The logger hands over the
 * event after scrubbing and caps, so a record carries exactly what the console and CloudWatch
 * lines carry.
 *
 * Records go through the SDK's BatchLogRecordProcessor (bounded queue, batches off the
 * request path), the stock JSON serializer and the traces sink's fetch transport; a few
 * retries cover a short outage; a full queue, an exhausted retry and a shutdown deadline are
 * counted as dropped.
 */
import {
  type Context,
  ROOT_CONTEXT,
  type SpanContext,
  trace,
  TraceFlags,
} from "@opentelemetry/api";
import { type AnyValueMap, SeverityNumber } from "@opentelemetry/api-logs";
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import type { IExporterTransport } from "@opentelemetry/otlp-exporter-base";
import { JsonLogsSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchLogRecordProcessor,
  ConsoleLogRecordExporter,
  LoggerProvider,
  type LogRecordExporter,
  type LogRecordProcessor,
  type ReadableLogRecord,
  type SdkLogRecord,
  SimpleLogRecordProcessor,
} from "@opentelemetry/sdk-logs";
import type { LogsConfig } from "../../config.ts";
import type { LogLevel, LogRecordSink } from "../logger.ts";
import { exportOnce } from "../otlp/json_export.ts";
import { OtlpHttpTransport } from "../otlp/transport.ts";
import {
  type Diagnostic,
  emptyStats,
  type Sink,
  type SinkPlugin,
  type SinkStats,
} from "../types.ts";
import { beforeDeadline, sleep } from "../util/deadline.ts";

/** Options of {@linkcode createLogsPipeline}. */
export interface LogsPipelineOptions {
  config: LogsConfig;
  resource: Record<string, string>;
  serviceVersion: string;
  diagnostic?: Diagnostic;
  /** Batch processor tuning (tests: a short delay). */
  batch?: { maxQueueSize?: number; maxExportBatchSize?: number; scheduledDelayMillis?: number };
}

/** What {@linkcode createLogsPipeline} returns. */
export interface LogsPipeline {
  /** What the logger feeds. */
  records: LogRecordSink;
  provider: LoggerProvider;
  sink: Sink;
  destination: string;
}

const SEVERITY: Readonly<Record<LogLevel, SeverityNumber>> = {
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
};
const SEVERITY_TEXT: Readonly<Record<LogLevel, string>> = {
  debug: "DEBUG",
  info: "INFO",
  warn: "WARN",
  error: "ERROR",
};
/** Event members that are the record's own fields or its resource, not attributes. */
const NOT_ATTRIBUTES = new Set(["timestamp", "level", "message", "service", "trace_id", "span_id"]);

/** Attempts per batch at most, and the longest wait between two (Retry-After is capped to it). */
const MAX_ATTEMPTS = 4;
const MAX_BACKOFF_MS = 4000;

/**
 * OTLP/HTTP JSON logs exporter with its own account. A retryable answer is retried a few
 * times with backoff (or after Retry-After) while the batch processor holds the batch; new
 * records meanwhile queue in the processor, bounded by its queue size. Then the batch is
 * dropped and counted: unlike metrics, a lost batch of records is not recovered later.
 */
class CountingLogExporter implements LogRecordExporter {
  private failing = false;
  private readonly closed = new AbortController();
  /** Set at shutdown: nothing new is sent, and late answers no longer count. */
  stopped = false;
  constructor(
    private readonly transport: IExporterTransport,
    private readonly counts: SinkStats,
    private readonly options: { timeoutMs: number; diagnostic: Diagnostic },
  ) {}
  export(records: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    if (this.stopped) {
      done({ code: ExportResultCode.FAILED, error: new Error("Exporter is shut down") });
      return;
    }
    void this.deliver(records).then(done);
  }
  private async deliver(records: ReadableLogRecord[]): Promise<ExportResult> {
    for (let attempt = 1;; attempt++) {
      const outcome = await exportOnce(this.transport, JsonLogsSerializer, records, {
        timeoutMs: this.options.timeoutMs,
        rejectedField: "rejectedLogRecords",
      });
      if (this.stopped) return { code: ExportResultCode.FAILED }; // counted at shutdown
      if (outcome.kind === "sent") {
        const rejected = Math.min(outcome.rejected, records.length);
        this.counts.rejected += rejected;
        this.counts.sent += records.length - rejected;
        if (this.failing) this.options.diagnostic("logs: OTLP export recovered");
        this.failing = false;
        return { code: ExportResultCode.SUCCESS };
      }
      if (outcome.kind === "retry" && attempt < MAX_ATTEMPTS && !this.closed.signal.aborted) {
        this.counts.retried++;
        const backoff = Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt);
        await sleep(Math.min(outcome.afterMs ?? backoff, MAX_BACKOFF_MS), this.closed.signal);
        continue;
      }
      if (outcome.kind === "retry") this.counts.dropped += records.length;
      else this.counts.failed += records.length;
      if (!this.failing) {
        this.options.diagnostic(`logs: ${records.length} records lost: ${outcome.reason}`);
      }
      this.failing = true;
      return { code: ExportResultCode.FAILED, error: new Error(outcome.reason) };
    }
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    this.stopped = true;
    this.closed.abort();
    this.transport.shutdown();
    return Promise.resolve();
  }
}

/** Counts records offered to the batch processor and those its full queue turns away. */
class CountingLogProcessor implements LogRecordProcessor {
  constructor(
    private readonly inner: BatchLogRecordProcessor,
    private readonly counts: SinkStats,
    private readonly maxQueueSize: number,
  ) {}
  onEmit(record: SdkLogRecord, context?: Context): void {
    // The SDK keeps its drop count private; read the queue instead (as for spans).
    const queue = (this.inner as unknown as { _finishedLogRecords?: unknown[] })
      ._finishedLogRecords;
    this.counts.queued++;
    if (queue && queue.length >= this.maxQueueSize) this.counts.dropped++;
    (this.inner as LogRecordProcessor).onEmit(record, context);
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** Builds the logs pipeline; `undefined` when no exporter is configured. */
export function createLogsPipeline(options: LogsPipelineOptions): LogsPipeline | undefined {
  const { config } = options;
  const diagnostic = options.diagnostic ?? (() => {});
  const counts = emptyStats();
  const processors: LogRecordProcessor[] = [];
  const exporters: CountingLogExporter[] = [];
  const destinations: string[] = [];
  if (config.exporters.includes("otlp") && config.endpoint) {
    const maxQueueSize = options.batch?.maxQueueSize ?? 2048;
    const exporter = new CountingLogExporter(
      new OtlpHttpTransport({ url: config.endpoint, headers: config.headers }),
      counts,
      { timeoutMs: config.timeoutMs, diagnostic },
    );
    exporters.push(exporter);
    processors.push(
      new CountingLogProcessor(
        new BatchLogRecordProcessor({
          exporter,
          maxQueueSize,
          maxExportBatchSize: options.batch?.maxExportBatchSize ?? 512,
          scheduledDelayMillis: options.batch?.scheduledDelayMillis ?? 1000,
        }),
        counts,
        maxQueueSize,
      ),
    );
    destinations.push(`OTLP/HTTP ${new URL(config.endpoint).origin}`);
  }
  if (config.exporters.includes("console")) {
    processors.push(new SimpleLogRecordProcessor({ exporter: new ConsoleLogRecordExporter() }));
    destinations.push("console");
  }
  if (processors.length === 0) return undefined;
  const provider = new LoggerProvider({
    resource: resourceFromAttributes(options.resource),
    processors,
  });
  const otelLogger = provider.getLogger("cruddur-backend", options.serviceVersion);

  const records: LogRecordSink = {
    emit(level, event, { timeMs, trace: ids }) {
      try {
        const attributes: AnyValueMap = {};
        for (const key in event) {
          if (!NOT_ATTRIBUTES.has(key)) attributes[key] = event[key] as AnyValueMap[string];
        }
        let context: Context = ROOT_CONTEXT;
        if (ids) {
          const span: SpanContext = {
            traceId: ids.traceId,
            spanId: ids.spanId,
            traceFlags: ids.traceFlags ?? TraceFlags.NONE,
          };
          context = trace.setSpanContext(ROOT_CONTEXT, span);
        }
        otelLogger.emit({
          timestamp: timeMs,
          severityNumber: SEVERITY[level],
          severityText: SEVERITY_TEXT[level],
          body: event.message as string,
          attributes,
          context,
        });
      } catch {
        // A log record is best effort; the console and CloudWatch lines are already written.
      }
    },
  };

  let stopped: Promise<void> | undefined;
  let final: SinkStats | undefined;
  const sink: Sink = {
    name: "logs",
    forceFlush: async (deadline) => {
      await beforeDeadline(provider.forceFlush(), deadline);
    },
    shutdown(deadline) {
      stopped ??= (async () => {
        // Past the deadline no new send starts: what is queued is counted dropped below.
        if (Date.now() < deadline) await beforeDeadline(provider.forceFlush(), deadline);
        for (const e of exporters) await e.shutdown();
        const result = { ...counts };
        const lost = result.queued -
          (result.sent + result.dropped + result.rejected + result.failed);
        if (lost > 0) {
          result.dropped += lost;
          diagnostic(`logs: shutdown deadline passed, ${lost} queued records abandoned`);
        }
        final = result;
        await beforeDeadline(provider.shutdown(), deadline);
      })();
      return stopped;
    },
    stats: () => ({ ...(final ?? counts) }),
  };
  return { records, provider, sink, destination: destinations.join(" + ") };
}

/** Installs the log-records sink from `config.logs` (SDK mode only; Deno exports natively). */
export const otlpLogsSink: SinkPlugin<LogsPipelineOptions["batch"]> = {
  name: "logs",
  install({ config, diagnostic, resource, tuning }) {
    if (config.otel.mode !== "sdk") {
      return Promise.resolve({
        startup: "Log records: not from the SDK pipeline (OTEL_DENO/OTEL_SDK_DISABLED is set)",
      });
    }
    const pipeline = createLogsPipeline({
      config: config.logs,
      resource: { ...resource },
      serviceVersion: config.serviceVersion,
      diagnostic,
      ...(tuning ? { batch: tuning } : {}),
    });
    if (!pipeline) {
      return Promise.resolve({
        startup: "Log records: off (set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_LOGS_EXPORTER)",
      });
    }
    return Promise.resolve({
      startup: `Log records: SDK pipeline to ${pipeline.destination}`,
      sink: pipeline.sink,
      logRecords: pipeline.records,
    });
  },
};
