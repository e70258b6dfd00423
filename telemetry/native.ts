/**
 * Native mode (`OTEL_DENO=true`) spans through Deno 2.9's exporter: it sends a JS number as an
 * OTLP `doubleValue` and a bigint as an `intValue`, so integer attributes (sizes, counts, ports)
 * are handed over as bigints to arrive typed as integers, as the semantic conventions type them.
 */
import type {
  AttributeValue,
  Context,
  Exception,
  Link,
  Span,
  SpanAttributes,
  SpanContext,
  SpanOptions,
  SpanStatus,
  TimeInput,
  Tracer,
} from "@opentelemetry/api";

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
class NativeSpan implements Span {
  constructor(readonly inner: Span) {}
  spanContext(): SpanContext {
    return this.inner.spanContext();
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.inner.setAttribute(key, nativeValue(value));
    return this;
  }
  setAttributes(attributes: SpanAttributes): this {
    this.inner.setAttributes(nativeAttributes(attributes) ?? {});
    return this;
  }
  addEvent(name: string, attributesOrTime?: SpanAttributes | TimeInput, time?: TimeInput): this {
    const isTime = typeof attributesOrTime === "number" || attributesOrTime instanceof Date ||
      Array.isArray(attributesOrTime);
    if (isTime) this.inner.addEvent(name, attributesOrTime as TimeInput);
    else this.inner.addEvent(name, nativeAttributes(attributesOrTime as SpanAttributes), time);
    return this;
  }
  addLink(link: Link): this {
    this.inner.addLink(link);
    return this;
  }
  addLinks(links: Link[]): this {
    this.inner.addLinks(links);
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.inner.setStatus(status);
    return this;
  }
  updateName(name: string): this {
    this.inner.updateName(name);
    return this;
  }
  end(endTime?: TimeInput): void {
    this.inner.end(endTime);
  }
  isRecording(): boolean {
    return this.inner.isRecording();
  }
  recordException(exception: Exception, time?: TimeInput): void {
    this.inner.recordException(exception, time);
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
