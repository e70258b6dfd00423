/**
 * Our tracer provider, built from the typed config and the span processors the sinks
 * contribute, with the id generator of telemetry/ids.ts and the configured sampler
 * (telemetry/sampler.ts). Its tracers make the SDK tracer's decisions (suppression, root
 * option, parent validity, ids, sampler, trace state) and record telemetry/span.ts's spans,
 * which every SDK processor and exporter reads as it reads its own. It replaces the SDK's
 * `BasicTracerProvider`, so `@opentelemetry/sdk-trace-base` and `@opentelemetry/resources` are
 * not loaded before the server answers (type imports only). No global is registered: the
 * provider is handed to whoever needs it.
 */
import type {
  Context,
  Span,
  SpanContext,
  SpanOptions,
  Tracer,
  TracerOptions,
  TracerProvider,
} from "@opentelemetry/api";
import {
  createContextKey,
  diag,
  globalContext,
  INVALID_SPAN_CONTEXT,
  SpanKind,
  trace,
  TraceFlags,
} from "./otel_api.ts";
import { REQUEST_ROOT_CONTEXT } from "./context.ts";
import type { InstrumentationScope } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import type { IdGenerator, Sampler, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { OtelConfig } from "../config.ts";
import { staticResource } from "./resource.ts";
import { alwaysRecord, createSampler, NOT_RECORD, RECORD_AND_SAMPLED } from "./sampler.ts";
import { RecordedSpan, type SpanLimits, type SpanPipeline } from "./span.ts";

export { createSampler } from "./sampler.ts";

/**
 * `@opentelemetry/core`'s suppression key (`suppressTracing(context)` sets it; API keys are
 * `Symbol.for` their description), read here without loading core.
 */
const SUPPRESS_TRACING_KEY = createContextKey("OpenTelemetry SDK Context Key SUPPRESS_TRACING");

/** `isTracingSuppressed` of `@opentelemetry/core`: an exporter's own calls are not traced. */
export function isTracingSuppressed(context: Context): boolean {
  return context.getValue(SUPPRESS_TRACING_KEY) === true;
}

/** Options of {@linkcode createTracerProvider}. */
export interface TracerProviderOptions {
  config: OtelConfig;
  resource: Record<string, string>;
  /** Trace and span ids (telemetry/ids.ts). */
  ids: IdGenerator;
  /** The sinks' processors, in order. */
  processors: SpanProcessor[];
  /**
   * Keep spans the trace sampler drops recorded (never exported: batch processors export
   * sampled spans only), for a sink that samples by its own rule (X-Ray).
   */
  recordUnsampled: boolean;
}

/** Builds the SDK-mode provider. */
export function createTracerProvider(options: TracerProviderOptions): RecordingTracerProvider {
  const sampler = createSampler(options.config.sampler, options.config.samplerArg);
  // Every string that reaches a span sink is capped when it is set, once: OTLP, X-Ray (built
  // from these attributes) and the console exporter all see the capped value.
  const attributeValueLengthLimit = options.config.attributeValueLengthLimit;
  return new RecordingTracerProvider({
    resource: staticResource(options.resource),
    ids: options.ids,
    sampler: options.recordUnsampled ? alwaysRecord(sampler) : sampler,
    processors: options.processors,
    limits: { attributeValueLengthLimit, ...options.config.spanCountLimits },
  });
}

/**
 * A number from the environment as `@opentelemetry/core`'s getNumberFromEnv reads it: unset,
 * blank or not a number (with a warning) is undefined.
 */
/** What a provider's tracers share. */
export interface RecordingOptions {
  resource: Resource;
  ids: IdGenerator;
  sampler: Sampler;
  processors: readonly SpanProcessor[];
  limits: SpanLimits;
}

/**
 * The provider: one tracer per (name, version, schema URL), every one feeding the same
 * processors, which its forceFlush and shutdown drive as the SDK's MultiSpanProcessor does.
 * The SDK's own span and tracer cost several times more per span (three to five clock reads, a
 * regex over every parent's ids, attribute objects copied twice, span metrics nobody reads)
 * than the request they describe.
 */
export class RecordingTracerProvider implements TracerProvider {
  readonly #options: RecordingOptions;
  readonly #tracers = new Map<string, RecordingTracer>();
  #stopped: Promise<void> | undefined;

  constructor(options: RecordingOptions) {
    this.#options = options;
  }

  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    const key = `${name}@${version ?? ""}:${options?.schemaUrl ?? ""}`;
    let tracer = this.#tracers.get(key);
    if (!tracer) {
      const scope = {
        name,
        ...(version !== undefined ? { version } : {}),
        ...(options?.schemaUrl !== undefined ? { schemaUrl: options.schemaUrl } : {}),
      };
      tracer = new RecordingTracer(this.#options, scope);
      this.#tracers.set(key, tracer);
    }
    return tracer;
  }

  /** Flushes every processor; resolves when all have (a failure is reported, not thrown). */
  async forceFlush(): Promise<void> {
    const results = await Promise.allSettled(
      this.#options.processors.map((p) => p.forceFlush()),
    );
    for (const result of results) {
      if (result.status === "rejected") {
        diag.error("span processor forceFlush failed", result.reason);
      }
    }
  }

  /** Shuts every processor down, once; rejects if one does. */
  shutdown(): Promise<void> {
    this.#stopped ??= Promise.all(this.#options.processors.map((p) => p.shutdown())).then(
      () => {},
    );
    return this.#stopped;
  }
}

const NO_ATTRIBUTES = Object.freeze({});
const NO_LINKS: never[] = [];

/** The SDK tracer's decisions (suppression, parent, ids, sampler), recording a RecordedSpan. */
class RecordingTracer implements Tracer {
  readonly #pipeline: SpanPipeline;
  readonly #ids: IdGenerator;
  readonly #sampler: Sampler;

  constructor(options: RecordingOptions, scope: InstrumentationScope) {
    this.#pipeline = {
      resource: options.resource,
      scope,
      limits: options.limits,
      processors: options.processors,
    };
    this.#ids = options.ids;
    this.#sampler = options.sampler;
  }

  startSpan(
    name: string,
    options?: SpanOptions,
    ctx: Context = globalContext.active(REQUEST_ROOT_CONTEXT),
  ): Span {
    if (options?.root) ctx = trace.deleteSpan(ctx);
    if (isTracingSuppressed(ctx)) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    const parentSpan = trace.getSpan(ctx);
    const parent = parentSpan?.spanContext();
    const spanId = this.#ids.generateSpanId();
    // Our own spans' ids are valid by construction; anything else is checked as the SDK does.
    const validParent = parent !== undefined &&
        (parentSpan instanceof RecordedSpan || trace.isSpanContextValid(parent))
      ? parent
      : undefined;
    const traceId = validParent ? validParent.traceId : this.#ids.generateTraceId();
    const kind = options?.kind ?? SpanKind.INTERNAL;
    const attributes = options?.attributes;
    const links = options?.links;
    const sampling = this.#sampler.shouldSample(
      ctx,
      traceId,
      name,
      kind,
      attributes ?? NO_ATTRIBUTES,
      links ?? NO_LINKS,
    );
    const traceState = sampling.traceState ?? validParent?.traceState;
    const traceFlags = sampling.decision === RECORD_AND_SAMPLED
      ? TraceFlags.SAMPLED
      : TraceFlags.NONE;
    // Two literals rather than a spread: a spread builds an empty object to copy from.
    const spanContext: SpanContext = traceState
      ? { traceId, spanId, traceFlags, traceState }
      : { traceId, spanId, traceFlags };
    if (sampling.decision === NOT_RECORD) return trace.wrapSpanContext(spanContext);
    return new RecordedSpan(
      this.#pipeline,
      name,
      kind,
      spanContext,
      validParent,
      sampling.attributes ? { ...attributes, ...sampling.attributes } : attributes,
      links,
      options?.startTime,
      ctx,
    );
  }

  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    ...args: [F] | [SpanOptions, F] | [SpanOptions, Context, F]
  ): ReturnType<F> {
    const fn = args[args.length - 1] as (span: Span) => ReturnType<F>;
    const options = args.length > 1 ? args[0] as SpanOptions : undefined;
    const parent = args.length > 2
      ? args[1] as Context
      : globalContext.active(REQUEST_ROOT_CONTEXT);
    const span = this.startSpan(name, options, parent);
    return globalContext.with(trace.setSpan(parent, span), fn, undefined, span);
  }
}
