/**
 * The specification's samplers (`OTEL_TRACES_SAMPLER`): always_on, always_off, traceidratio,
 * parentbased_* with its five delegates, and the always-record wrapper a sink that samples by
 * its own rule needs. Each makes the JS SDK's exact decision (the ratio sampler XORs the four
 * 32-bit words of the trace id against `floor(ratio × 0xffffffff)`, as
 * `TraceIdRatioBasedSampler` does), behind the SDK's `Sampler` interface, so an SDK sampler
 * plugs in where ours does. Ours keep the SDK off the startup import graph, and a constant
 * decision is one shared result object instead of a new one per span.
 */
import type { Attributes, Context, Link, SpanKind } from "@opentelemetry/api";
import { isValidTraceId, trace, TraceFlags } from "./otel_api.ts";
import type { Sampler, SamplingDecision, SamplingResult } from "@opentelemetry/sdk-trace-base";

/** The SDK's SamplingDecision values (its enum stays a type here: no runtime import). */
export const NOT_RECORD = 0 as SamplingDecision.NOT_RECORD;
export const RECORD = 1 as SamplingDecision.RECORD;
export const RECORD_AND_SAMPLED = 2 as SamplingDecision.RECORD_AND_SAMPLED;

// Shared, never mutated: the tracer only reads a result.
const DROP: SamplingResult = Object.freeze({ decision: NOT_RECORD });
const SAMPLE: SamplingResult = Object.freeze({ decision: RECORD_AND_SAMPLED });

/** Samples every span. */
export class AlwaysOnSampler implements Sampler {
  shouldSample(): SamplingResult {
    return SAMPLE;
  }
  toString(): string {
    return "AlwaysOnSampler";
  }
}

/** Samples no span. */
export class AlwaysOffSampler implements Sampler {
  shouldSample(): SamplingResult {
    return DROP;
  }
  toString(): string {
    return "AlwaysOffSampler";
  }
}

/** The SDK's ratio sampler: the same trace id gets the same decision in every process. */
export class TraceIdRatioBasedSampler implements Sampler {
  readonly #ratio: number;
  readonly #upperBound: number;

  constructor(ratio = 0) {
    this.#ratio = typeof ratio !== "number" || isNaN(ratio)
      ? 0
      : ratio >= 1
      ? 1
      : ratio <= 0
      ? 0
      : ratio;
    this.#upperBound = this.#ratio === 1 ? 0x100000000 : Math.floor(this.#ratio * 0xffffffff);
  }

  shouldSample(_context: Context, traceId: string): SamplingResult {
    return isValidTraceId(traceId) && accumulate(traceId) < this.#upperBound ? SAMPLE : DROP;
  }

  toString(): string {
    return `TraceIdRatioBased{${this.#ratio}}`;
  }
}

/** The four 32-bit words of a (valid, 32 hex digit) trace id XORed, as the SDK does. */
function accumulate(traceId: string): number {
  let accumulation = 0;
  for (let i = 0; i < 32; i += 8) {
    let part = 0;
    for (let j = 0; j < 8; j++) {
      const c = traceId.charCodeAt(i + j);
      part = (part << 4) | (c < 58 ? c - 48 : c < 71 ? c - 55 : c - 87);
    }
    accumulation = (accumulation ^ part) >>> 0;
  }
  return accumulation;
}

/** The delegates of {@linkcode ParentBasedSampler}; unset ones default as the spec says. */
export interface ParentBasedConfig {
  root: Sampler;
  remoteParentSampled?: Sampler;
  remoteParentNotSampled?: Sampler;
  localParentSampled?: Sampler;
  localParentNotSampled?: Sampler;
}

/** Follows the parent's sampled flag; a root span asks `root`. */
export class ParentBasedSampler implements Sampler {
  readonly #root: Sampler;
  readonly #remoteParentSampled: Sampler;
  readonly #remoteParentNotSampled: Sampler;
  readonly #localParentSampled: Sampler;
  readonly #localParentNotSampled: Sampler;

  constructor(config: ParentBasedConfig) {
    this.#root = config.root;
    this.#remoteParentSampled = config.remoteParentSampled ?? new AlwaysOnSampler();
    this.#remoteParentNotSampled = config.remoteParentNotSampled ?? new AlwaysOffSampler();
    this.#localParentSampled = config.localParentSampled ?? new AlwaysOnSampler();
    this.#localParentNotSampled = config.localParentNotSampled ?? new AlwaysOffSampler();
  }

  shouldSample(
    context: Context,
    traceId: string,
    spanName: string,
    spanKind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    const parent = trace.getSpanContext(context);
    let delegate: Sampler;
    if (!parent || !trace.isSpanContextValid(parent)) {
      delegate = this.#root;
    } else if (parent.isRemote) {
      delegate = parent.traceFlags & TraceFlags.SAMPLED
        ? this.#remoteParentSampled
        : this.#remoteParentNotSampled;
    } else {
      delegate = parent.traceFlags & TraceFlags.SAMPLED
        ? this.#localParentSampled
        : this.#localParentNotSampled;
    }
    return delegate.shouldSample(context, traceId, spanName, spanKind, attributes, links);
  }

  toString(): string {
    return `ParentBased{root=${this.#root}, remoteParentSampled=${this.#remoteParentSampled}, ` +
      `remoteParentNotSampled=${this.#remoteParentNotSampled}, ` +
      `localParentSampled=${this.#localParentSampled}, ` +
      `localParentNotSampled=${this.#localParentNotSampled}}`;
  }
}

/**
 * Records (never samples) what `delegate` drops, keeping its attributes and trace state, as
 * the SDK's `createAlwaysRecordSampler`: a sink with its own rule (X-Ray) sees every span,
 * while exporters of sampled spans see only what `delegate` sampled.
 */
export function alwaysRecord(delegate: Sampler): Sampler {
  return {
    shouldSample(context, traceId, spanName, spanKind, attributes, links) {
      const result = delegate.shouldSample(context, traceId, spanName, spanKind, attributes, links);
      if (result.decision !== NOT_RECORD) return result;
      return { decision: RECORD, attributes: result.attributes, traceState: result.traceState };
    },
    toString: () => `AlwaysRecordSampler{${delegate}}`,
  };
}

/** The configured sampler (OTEL_TRACES_SAMPLER / _ARG, validated by config.ts). */
export function createSampler(name: string, arg: number | undefined): Sampler {
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(arg ?? 1);
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(arg ?? 1) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
