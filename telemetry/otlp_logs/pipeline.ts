/**
 * OpenTelemetry logs (SDK mode): every event the logger keeps becomes an OTLP log record with
 * its severity, its message as the body, its fields as attributes and the trace and span ids
 * of the span it was written in, so a trace view shows its logs. The logger hands over the
 * event after scrubbing and caps, so a record carries exactly what the console and CloudWatch
 * lines carry.
 *
 * The request path only pushes that event (with its time and ids) into a bounded buffer
 * (batcher.ts); the sink's own turn encodes each batch straight from the events
 * (encode_protobuf.ts or encode.ts, as OTEL_EXPORTER_OTLP_PROTOCOL says: resource and scope
 * once, no SDK LogRecord) and sends it over the traces
 * sink's fetch transport (delivery.ts); a few retries cover a short outage; a full buffer, an
 * exhausted retry, an export past OTEL_BLRP_EXPORT_TIMEOUT and a shutdown deadline are counted
 * as dropped. The batch settings are the OTEL_BLRP_* variables (config.ts).
 */
import { DEFAULT_OTLP_PROTOCOL, type LogsBatchConfig, type LogsConfig } from "../../config.ts";
import type { LogRecordSink } from "../logger.ts";
import { OtlpHttpTransport } from "../otlp/transport.ts";
import { type Diagnostic, emptyStats, type Sink } from "../types.ts";
import { LogBatcher } from "./batcher.ts";
import { ConsoleLogRecords } from "./console.ts";
import { OtlpLogsDelivery } from "./delivery.ts";
import { LogsRequestEncoder } from "./encode.ts";
import { LogsRequestProtobufEncoder } from "./encode_protobuf.ts";

/** Options of {@linkcode createLogsPipeline}. */
export interface LogsPipelineOptions {
  config: LogsConfig;
  resource: Record<string, string>;
  serviceVersion: string;
  diagnostic?: Diagnostic;
  /** Batch tuning over `config.batch` (tests: a short delay). */
  batch?: Partial<LogsBatchConfig>;
  /** Where `console` prints a record (default `console.dir`). */
  print?: (record: Record<string, unknown>) => void;
}

/** What {@linkcode createLogsPipeline} returns. */
export interface LogsPipeline {
  /** What the logger feeds. */
  records: LogRecordSink;
  sink: Sink;
  destination: string;
}

/** The instrumentation scope of every record. */
const SCOPE_NAME = "cruddur-backend";

/** Builds the logs pipeline; `undefined` when no exporter is configured. */
export function createLogsPipeline(options: LogsPipelineOptions): LogsPipeline | undefined {
  const { config } = options;
  const diagnostic = options.diagnostic ?? (() => {});
  const counts = emptyStats();
  const scope = { name: SCOPE_NAME, version: options.serviceVersion };
  const destinations: string[] = [];
  let otlp: ConstructorParameters<typeof LogBatcher>[0]["otlp"];
  if (config.exporters.includes("otlp") && config.endpoint) {
    const protocol = config.protocol ?? DEFAULT_OTLP_PROTOCOL;
    // One buffer per batch out plus the open batch's (the batcher's batches settle in order).
    const out = options.batch?.maxConcurrentExports ?? config.batch.maxConcurrentExports;
    const encoding = { resource: options.resource, scope, buffers: out + 1 };
    const encoder = protocol === "http/protobuf"
      ? new LogsRequestProtobufEncoder(encoding)
      : new LogsRequestEncoder(encoding);
    otlp = {
      encoder,
      delivery: new OtlpLogsDelivery({
        transport: new OtlpHttpTransport({
          url: config.endpoint,
          headers: config.headers,
          protocol,
        }),
        split: (body) => encoder.split(body),
        protocol,
        counts,
        timeoutMs: config.timeoutMs,
        exportTimeoutMs: options.batch?.exportTimeoutMillis ?? config.batch.exportTimeoutMillis,
        diagnostic,
      }),
    };
    destinations.push(`OTLP/HTTP (${protocol}) ${new URL(config.endpoint).origin}`);
  }
  let console: ConsoleLogRecords | undefined;
  if (config.exporters.includes("console")) {
    console = new ConsoleLogRecords({
      resource: options.resource,
      scope,
      ...(options.print ? { print: options.print } : {}),
    });
    destinations.push("console");
  }
  if (!otlp && !console) return undefined;
  const batcher = new LogBatcher({
    ...config.batch,
    ...options.batch,
    ...(otlp ? { otlp } : {}),
    ...(console ? { console } : {}),
    counts,
    diagnostic,
  });
  return { records: batcher, sink: batcher, destination: destinations.join(" + ") };
}
