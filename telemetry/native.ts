/**
 * Native mode (`OTEL_DENO=true`) spans through Deno 2.9's exporter: it sends a JS number as an
 * OTLP `doubleValue` and a bigint as an `intValue`, so integer attributes (sizes, counts, ports)
 * are handed over as bigints to arrive typed as integers, as the semantic conventions type them.
 */
import type {
  AttributeValue,
  Context,
  Span,
  SpanAttributes,
  SpanOptions,
  TimeInput,
  Tracer,
} from "@opentelemetry/api";
import { DelegatingSpan, isTime } from "./delegating_span.ts";

/** A safe integer as a bigint (Deno exports it as `intValue`); anything else unchanged. */
export function nativeValue(value: AttributeValue): AttributeValue {
  return typeof value === "number" && Number.isSafeInteger(value)
    ? BigInt(value) as unknown as AttributeValue
    : value;
}

function nativeAttributes(attributes: SpanAttributes | undefined): SpanAttributes | undefined {
  if (attributes === undefined) return undefined;
  const out: SpanAttributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) out[key] = nativeValue(value);
  }
  return out;
}

/** A Deno span whose integer attributes are sent as integers. */
class NativeSpan extends DelegatingSpan {
  override setAttribute(key: string, value: AttributeValue): this {
    return super.setAttribute(key, nativeValue(value));
  }
  override setAttributes(attributes: SpanAttributes): this {
    return super.setAttributes(nativeAttributes(attributes) ?? {});
  }
  override addEvent(
    name: string,
    attributesOrTime?: SpanAttributes | TimeInput,
    time?: TimeInput,
  ): this {
    if (isTime(attributesOrTime)) return super.addEvent(name, attributesOrTime);
    return super.addEvent(name, nativeAttributes(attributesOrTime), time);
  }
}

/** Wraps Deno's tracer so every span it starts sends integers as integers. */
export function nativeTracer(tracer: Tracer): Tracer {
  function startSpan(name: string, options?: SpanOptions, context?: Context): Span {
    const attributes = nativeAttributes(options?.attributes);
    const span = tracer.startSpan(
      name,
      attributes ? { ...options, attributes } : options,
      context,
    );
    return new NativeSpan(span);
  }
  // startActiveSpan is not used by this app; it keeps Deno's behaviour.
  return { startSpan, startActiveSpan: tracer.startActiveSpan.bind(tracer) };
}
