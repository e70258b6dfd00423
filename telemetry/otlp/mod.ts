/**
 * The OTLP traces sink as the telemetry contract sees it: span processors for the SDK
 * provider (OTLP/HTTP through the retry layer, and/or the console), counted as "traces".
 */
import {
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { OtelConfig } from "../../config.ts";
import { beforeDeadline } from "../util/deadline.ts";
import {
  type Diagnostic,
  emptyStats,
  type Sink,
  type SinkPlugin,
  type SinkStats,
} from "../types.ts";
import { SpanBatcher } from "./batcher.ts";
import { type OtlpRetryOptions, RetryingSpanExporter } from "./retry.ts";
import { TraceRequestEncoder } from "./span_json.ts";
import { TraceRequestProtobufEncoder } from "./span_protobuf.ts";
import { OtlpHttpTransport } from "./transport.ts";

/** The spans sink: the batch processor's ring and open batch, then the retry layer's buffer. */
class TraceSink implements Sink {
  readonly name = "traces";
  readonly #counts = emptyStats();
  readonly #processor: SpanBatcher;
  readonly #retry: RetryingSpanExporter;
  readonly #diagnostic: Diagnostic;
  #final: SinkStats | undefined;
  #stopped: Promise<void> | undefined;

  constructor(
    config: OtelConfig,
    endpoint: string,
    diagnostic: Diagnostic,
    tuning?: OtlpRetryOptions,
  ) {
    this.#diagnostic = diagnostic;
    // The retry layer keeps batches through an outage; see telemetry/otlp/retry.ts.
    const protocol = config.protocol;
    const encoder = () =>
      protocol === "http/protobuf" ? new TraceRequestProtobufEncoder() : new TraceRequestEncoder();
    this.#retry = new RetryingSpanExporter(
      new OtlpHttpTransport({ url: endpoint, headers: config.headers, protocol }),
      {
        timeoutMs: config.timeoutMs,
        maxBufferedSpans: config.bsp.maxQueueSize,
        diagnostic,
        encoder: encoder(),
        ...tuning,
      },
    );
    this.#processor = new SpanBatcher({
      ...config.bsp,
      encoder: encoder(),
      delivery: this.#retry,
      counts: this.#counts,
      diagnostic,
    });
  }

  get processor(): SpanProcessor {
    return this.#processor;
  }

  /** Where the pending spans are: the batch processor, or the retry layer's buffer. */
  details(): Record<string, number> {
    return { batch_queue: this.#processor.queued(), retry_buffer: this.#retry.pending() };
  }

  stats(): SinkStats {
    if (this.#final) return { ...this.#final };
    const own = this.#retry.counts;
    return {
      ...this.#counts,
      sent: own.sent,
      retried: own.retried,
      dropped: this.#counts.dropped + own.dropped,
      rejected: own.rejected,
      failed: this.#counts.failed + own.failed,
    };
  }

  async forceFlush(deadlineMs: number): Promise<void> {
    await beforeDeadline(this.#flush(deadlineMs), deadlineMs);
  }

  shutdown(deadlineMs: number): Promise<void> {
    this.#stopped ??= this.#shutdownOnce(deadlineMs);
    return this.#stopped;
  }

  async #flush(deadlineMs: number): Promise<void> {
    // Past the deadline nothing new leaves: a span is counted by what happened to it, and an
    // export started now would reach the collector after we stopped listening for its answer.
    if (Date.now() >= deadlineMs) return;
    await this.#processor.forceFlush().catch(() => {});
    await this.#retry.drain(deadlineMs);
  }

  async #shutdownOnce(deadlineMs: number): Promise<void> {
    await this.forceFlush(deadlineMs);
    // Whatever is still in the batch queue or the retry buffer now is lost: count it once
    // and freeze the account so a late answer cannot count it twice.
    this.#retry.abandon();
    const result = this.stats();
    const lost = result.queued - (result.sent + result.dropped + result.rejected + result.failed);
    if (lost > 0) {
      result.dropped += lost;
      this.#diagnostic(`traces: shutdown deadline passed, ${lost} queued spans abandoned`);
    }
    this.#final = result;
    await beforeDeadline(this.#processor.shutdown(), deadlineMs);
  }
}

/** Installs the traces sink from `config.otel` (SDK mode only; Deno exports natively). */
export const otlpSink: SinkPlugin<OtlpRetryOptions> = {
  name: "traces",
  install({ config, diagnostic, tuning }) {
    const otel = config.otel;
    if (otel.mode === "native") {
      return Promise.resolve({
        startup: "Traces: Deno's built-in OpenTelemetry (OTEL_DENO=true; Deno reads OTEL_*)",
      });
    }
    if (otel.mode !== "sdk") {
      return Promise.resolve({ startup: "Traces: off (OTEL_SDK_DISABLED=true)" });
    }
    const processors: SpanProcessor[] = [];
    const destinations: string[] = [];
    let sink: TraceSink | undefined;
    if (otel.exporters.includes("otlp") && otel.tracesEndpoint) {
      sink = new TraceSink(otel, otel.tracesEndpoint, diagnostic, tuning);
      processors.push(sink.processor);
      destinations.push(`OTLP/HTTP (${otel.protocol}) ${new URL(otel.tracesEndpoint).origin}`);
    }
    if (otel.exporters.includes("console")) {
      processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
      destinations.push("console");
    }
    const where = destinations.length > 0 ? destinations.join(" + ") : "nowhere (no exporter set)";
    return Promise.resolve({
      startup: `Traces: SDK pipeline to ${where}`,
      sink: sink ?? new EmptyTraceSink(),
      spanProcessors: processors,
      ...(sink ? { details: () => sink.details() } : {}),
    });
  },
};

/** The traces account when no counted exporter is configured: all zero, like before. */
class EmptyTraceSink implements Sink {
  readonly name = "traces";
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  stats(): SinkStats {
    return emptyStats();
  }
}
