/**
 * The OpenTelemetry SDK pipeline: a tracer provider built from the typed config, with the
 * X-Ray-compatible id generator, the configured sampler and counted exporters. No global is
 * registered: the provider is handed to whoever needs it.
 */
import { type Attributes, type Context, type Link, SpanKind } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  type SamplingResult,
  SimpleSpanProcessor,
  type Span,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { AWSXRayIdGenerator } from "@opentelemetry/id-generator-aws-xray";
import type { OtelConfig } from "../config.ts";
import { RetryingSpanExporter } from "./otlp_retry.ts";
import { type Diagnostic, emptyStats, type Sink, type SinkStats } from "./types.ts";

/** Builds the configured sampler (OTEL_TRACES_SAMPLER / _ARG). */
export function createSampler(name: string, arg: number | undefined): Sampler {
  const ratio = new TraceIdRatioBasedSampler(arg ?? 1);
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratio;
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/**
 * Keeps spans the trace sampler drops recorded (not exported: the batch processor exports
 * sampled spans only) so that X-Ray, which samples by its own rule, still sees them.
 */
export class RecordForXRaySampler implements Sampler {
  constructor(private readonly inner: Sampler) {}
  shouldSample(
    context: Context,
    traceId: string,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    const result = this.inner.shouldSample(context, traceId, name, kind, attributes, links);
    return result.decision === SamplingDecision.NOT_RECORD
      ? { ...result, decision: SamplingDecision.RECORD }
      : result;
  }
  toString(): string {
    return `RecordForXRay{${this.inner.toString()}}`;
  }
}

/** Counts spans offered to a batch processor and those its full queue turns away. */
class CountingBatchProcessor implements SpanProcessor {
  constructor(
    private readonly inner: BatchSpanProcessor,
    private readonly counts: SinkStats,
    private readonly maxQueueSize: number,
  ) {}
  onStart(span: Span, context: Context): void {
    this.inner.onStart(span, context);
  }
  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & 1) === 0) return;
    // The SDK keeps its drop count private and resets it when it logs; read the queue instead.
    const queue = (this.inner as unknown as { _finishedSpans?: unknown[] })._finishedSpans;
    // Every offered span counts as queued, so queued = sent + dropped + rejected + failed +
    // pending holds like the other sinks' accounts (a full queue's drop is in both).
    this.counts.queued++;
    if (queue && queue.length >= this.maxQueueSize) this.counts.dropped++;
    this.inner.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** What `createTracerPipeline` returns: the provider and the span sink's account. */
export interface TracerPipeline {
  provider: BasicTracerProvider;
  /** The spans sink (OTLP and/or console), for stats, flush and shutdown. */
  sink: Sink;
  /** Human description for the startup line. */
  destination: string;
}

/** Options of `createTracerPipeline`. */
export interface TracerPipelineOptions {
  config: OtelConfig;
  resource: Record<string, string>;
  /** Extra processors (X-Ray, the tests' synchronous exporter). */
  processors?: SpanProcessor[];
  /** Keep unsampled spans recorded for X-Ray. */
  recordUnsampled?: boolean;
  /** Where the OTLP retry layer reports its own trouble (stderr in production). */
  diagnostic?: Diagnostic;
}

function withDeadline(work: Promise<void>, deadlineMs: number): Promise<void> {
  const wait = Math.max(0, deadlineMs - Date.now());
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    work.catch(() => {}),
    new Promise<void>((resolve) => timer = setTimeout(resolve, wait)),
  ]).finally(() => clearTimeout(timer));
}

/** Builds the SDK-mode provider from the config. */
export function createTracerPipeline(options: TracerPipelineOptions): TracerPipeline {
  const { config } = options;
  const counts = emptyStats();
  const processors: SpanProcessor[] = [];
  let retry: RetryingSpanExporter | undefined;
  const destinations: string[] = [];
  if (config.exporters.includes("otlp") && config.tracesEndpoint) {
    // The retry layer keeps batches through an outage; see telemetry/otlp_retry.ts.
    retry = new RetryingSpanExporter(
      new OTLPTraceExporter({
        url: config.tracesEndpoint,
        headers: config.headers,
        timeoutMillis: config.timeoutMs,
      }),
      {
        maxBufferedSpans: config.bsp.maxQueueSize,
        ...(options.diagnostic ? { diagnostic: options.diagnostic } : {}),
      },
    );
    processors.push(
      new CountingBatchProcessor(
        new BatchSpanProcessor(retry, config.bsp),
        counts,
        config.bsp.maxQueueSize,
      ),
    );
    destinations.push(`OTLP/HTTP ${new URL(config.tracesEndpoint).origin}`);
  }
  if (config.exporters.includes("console")) {
    processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
    destinations.push("console");
  }
  processors.push(...(options.processors ?? []));
  const sampler = createSampler(config.sampler, config.samplerArg);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(options.resource),
    idGenerator: new AWSXRayIdGenerator(),
    sampler: options.recordUnsampled ? new RecordForXRaySampler(sampler) : sampler,
    spanProcessors: processors,
  });
  let stopped: Promise<void> | undefined;
  let final: SinkStats | undefined;
  function stats(): SinkStats {
    if (final) return { ...final };
    const own = retry?.counts ?? emptyStats();
    return {
      ...counts,
      sent: own.sent,
      retried: own.retried,
      dropped: counts.dropped + own.dropped,
      rejected: own.rejected,
      failed: own.failed,
    };
  }
  const sink: Sink = {
    name: "traces",
    forceFlush: (deadline) =>
      withDeadline(provider.forceFlush().then(() => retry?.drain(deadline)), deadline),
    shutdown(deadline) {
      stopped ??= withDeadline(
        provider.forceFlush().then(() => retry?.drain(deadline)),
        deadline,
      ).then(async () => {
        // Whatever is still in the BSP queue or the retry buffer now is lost: count it once and
        // freeze the account so a late answer cannot count it twice.
        retry?.abandon();
        const result = stats();
        const lost = result.queued -
          (result.sent + result.dropped + result.rejected + result.failed);
        if (lost > 0) {
          result.dropped += lost;
          options.diagnostic?.(`traces: shutdown deadline passed, ${lost} queued spans abandoned`);
        }
        final = result;
        await withDeadline(provider.shutdown(), deadline);
      });
      return stopped;
    },
    stats,
  };
  return {
    provider,
    sink,
    destination: destinations.length > 0 ? destinations.join(" + ") : "nowhere (no exporter set)",
  };
}
