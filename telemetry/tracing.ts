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
  type Sampler,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import type { OtelConfig } from "../config.ts";

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
  /** Longest attribute value; longer strings are cut by the SDK. */
  attributeValueLengthLimit?: number;
}

/** Builds the SDK-mode provider. */
export function createTracerProvider(options: TracerProviderOptions): BasicTracerProvider {
  const sampler = createSampler(options.config.sampler, options.config.samplerArg);
  const limit = options.attributeValueLengthLimit;
  return new BasicTracerProvider({
    resource: resourceFromAttributes(options.resource),
    idGenerator: options.ids,
    sampler: options.recordUnsampled ? createAlwaysRecordSampler(sampler) : sampler,
    spanProcessors: options.processors,
    ...(limit !== undefined ? { spanLimits: { attributeValueLengthLimit: limit } } : {}),
  });
}
