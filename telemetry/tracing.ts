/**
 * The OpenTelemetry SDK tracer provider, built from the typed config and the span processors
 * the sinks contribute, with the id generator of telemetry/ids.ts and the configured sampler.
 * Its tracers make the SDK's decisions and record telemetry/span.ts's spans, which every SDK
 * processor and exporter reads as it reads its own. No global is registered: the provider is
 * handed to whoever needs it.
 */
import {
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  trace,
  TraceFlags,
  type Tracer,
  type TracerOptions,
} from "@opentelemetry/api";
import {
  getNumberFromEnv,
  type InstrumentationScope,
  isTracingSuppressed,
} from "@opentelemetry/core";
import { type Resource, resourceFromAttributes } from "@opentelemetry/resources";
import { createAlwaysRecordSampler } from "@opentelemetry/sdk-trace";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  type IdGenerator,
  ParentBasedSampler,
  type Sampler,
  SamplingDecision,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import type { OtelConfig } from "../config.ts";
import { RecordedSpan, type SpanLimits, type SpanPipeline } from "./span.ts";

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
export function createTracerProvider(options: TracerProviderOptions): BasicTracerProvider {
  const sampler = createSampler(options.config.sampler, options.config.samplerArg);
  // Every string that reaches a span sink is capped when it is set, once: OTLP, X-Ray (built
  // from these attributes) and the console exporter all see the capped value.
  const attributeValueLengthLimit = options.config.attributeValueLengthLimit;
  return new RecordingTracerProvider({
    resource: resourceFromAttributes(options.resource),
    ids: options.ids,
    sampler: options.recordUnsampled ? createAlwaysRecordSampler(sampler) : sampler,
    processors: options.processors,
    limits: spanLimits(attributeValueLengthLimit),
  });
}

/** The count limits the SDK reads from the environment (OTEL_SPAN_*_COUNT_LIMIT), 128 each. */
function spanLimits(attributeValueLengthLimit: number): SpanLimits {
  const general = getNumberFromEnv("OTEL_ATTRIBUTE_COUNT_LIMIT") ?? 128;
  return {
    attributeValueLengthLimit,
    attributeCountLimit: getNumberFromEnv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT") ?? general,
    linkCountLimit: getNumberFromEnv("OTEL_SPAN_LINK_COUNT_LIMIT") ?? 128,
    eventCountLimit: getNumberFromEnv("OTEL_SPAN_EVENT_COUNT_LIMIT") ?? 128,
    attributePerEventCountLimit: getNumberFromEnv("OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT") ??
      128,
    attributePerLinkCountLimit: getNumberFromEnv("OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT") ??
      128,
  };
}

interface RecordingOptions {
  resource: Resource;
  ids: IdGenerator;
  sampler: Sampler;
  processors: SpanProcessor[];
  limits: SpanLimits;
}

/**
 * The SDK provider (its forceFlush and shutdown drive the processors) whose tracers record
 * {@link RecordedSpan}s: the SDK's own span and tracer cost several times more per span
 * (three to five clock reads, a regex over every parent's ids, attribute objects copied twice,
 * span metrics nobody reads) than the request they describe.
 */
class RecordingTracerProvider extends BasicTracerProvider {
  readonly #options: RecordingOptions;
  readonly #tracers = new Map<string, RecordingTracer>();

  constructor(options: RecordingOptions) {
    super({
      resource: options.resource,
      idGenerator: options.ids,
      sampler: options.sampler,
      spanProcessors: options.processors,
      spanLimits: options.limits,
    });
    this.#options = options;
  }

  override getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
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
}

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

  startSpan(name: string, options?: SpanOptions, ctx: Context = context.active()): Span {
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
      attributes ?? {},
      links ?? [],
    );
    const traceState = sampling.traceState ?? validParent?.traceState;
    const spanContext: SpanContext = {
      traceId,
      spanId,
      traceFlags: sampling.decision === SamplingDecision.RECORD_AND_SAMPLED
        ? TraceFlags.SAMPLED
        : TraceFlags.NONE,
      ...(traceState ? { traceState } : {}),
    };
    if (sampling.decision === SamplingDecision.NOT_RECORD) {
      return trace.wrapSpanContext(spanContext);
    }
    return new RecordedSpan(this.#pipeline, {
      name,
      kind,
      spanContext,
      parentSpanContext: validParent,
      attributes: sampling.attributes ? { ...attributes, ...sampling.attributes } : attributes,
      links,
      startTime: options?.startTime,
      context: ctx,
    });
  }

  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    ...args: [F] | [SpanOptions, F] | [SpanOptions, Context, F]
  ): ReturnType<F> {
    const fn = args[args.length - 1] as (span: Span) => ReturnType<F>;
    const options = args.length > 1 ? args[0] as SpanOptions : undefined;
    const parent = args.length > 2 ? args[1] as Context : context.active();
    const span = this.startSpan(name, options, parent);
    return context.with(trace.setSpan(parent, span), fn, undefined, span);
  }
}
