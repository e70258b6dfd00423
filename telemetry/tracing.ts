/**
 * The OpenTelemetry SDK tracer provider, built from the typed config and the span processors
 * the sinks contribute, with the id generator of telemetry/ids.ts and the configured sampler.
 * No global is registered: the provider is handed to whoever needs it.
 */
import { resourceFromAttributes } from "@opentelemetry/resources";
import { createAlwaysRecordSampler } from "@opentelemetry/sdk-trace";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  type IdGenerator,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type Span,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import type { OtelConfig } from "../config.ts";
import { detached } from "./util/text.ts";

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
  // Every string that reaches a span sink is capped here, once: OTLP, X-Ray (built from
  // these attributes) and the console exporter all see the capped value.
  const attributeValueLengthLimit = options.config.attributeValueLengthLimit;
  return new BasicTracerProvider({
    resource: resourceFromAttributes(options.resource),
    idGenerator: options.ids,
    sampler: options.recordUnsampled ? createAlwaysRecordSampler(sampler) : sampler,
    spanProcessors: [new DetachCappedValues(attributeValueLengthLimit), ...options.processors],
    spanLimits: { attributeValueLengthLimit },
  });
}

/**
 * Copies every attribute value the SDK cut to the cap into a string of its own. The SDK cuts
 * with `slice`, and V8 keeps a sliced string's whole parent alive: a span queued for export
 * would hold each 60 KB path it was cut from (hundreds of MB behind a failing collector).
 * Runs first, so every sink's queue holds the small copy.
 */
class DetachCappedValues implements SpanProcessor {
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  onStart(_span: Span): void {}

  onEnd(span: ReadableSpan): void {
    const attributes = span.attributes as Record<string, unknown>;
    for (const key in attributes) {
      const value = attributes[key];
      if (typeof value === "string" && value.length >= this.#limit) {
        attributes[key] = detached(value);
      }
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
