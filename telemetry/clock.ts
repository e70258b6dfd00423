/**
 * One high-resolution clock for every span we make. The SDK stamps a span's start with
 * `Date.now()` (whole milliseconds) and its end with start + a `performance.now()` duration,
 * so a child that starts later in the same millisecond as its parent could end up to 1 ms
 * after it. Stamping start, end and events from `performance.timeOrigin + performance.now()`
 * (microseconds or better, monotonic) keeps every child inside its parent.
 */
import type {
  AttributeValue,
  Context,
  Exception,
  HrTime,
  Link,
  Span,
  SpanAttributes,
  SpanContext,
  SpanOptions,
  SpanStatus,
  TimeInput,
  Tracer,
} from "@opentelemetry/api";
import { hrTime } from "@opentelemetry/core";

/** Now, on the process's monotonic high-resolution clock, as epoch `[seconds, nanos]`. */
export function hrNow(): HrTime {
  return hrTime();
}

/** A span whose times default to {@link hrNow} instead of the SDK's millisecond clock. */
class PreciseSpan implements Span {
  constructor(readonly inner: Span) {}
  spanContext(): SpanContext {
    return this.inner.spanContext();
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.inner.setAttribute(key, value);
    return this;
  }
  setAttributes(attributes: SpanAttributes): this {
    this.inner.setAttributes(attributes);
    return this;
  }
  addEvent(
    name: string,
    attributesOrTime?: SpanAttributes | TimeInput,
    time?: TimeInput,
  ): this {
    if (isTime(attributesOrTime)) this.inner.addEvent(name, attributesOrTime);
    else this.inner.addEvent(name, attributesOrTime, time ?? hrNow());
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
    this.inner.end(endTime ?? hrNow());
  }
  isRecording(): boolean {
    return this.inner.isRecording();
  }
  recordException(exception: Exception, time?: TimeInput): void {
    this.inner.recordException(exception, time ?? hrNow());
  }
}

function isTime(value: SpanAttributes | TimeInput | undefined): value is TimeInput {
  return typeof value === "number" || value instanceof Date || Array.isArray(value);
}

/** Wraps `tracer` so every span it starts is stamped with {@link hrNow}. */
export function preciseTracer(tracer: Tracer): Tracer {
  function startSpan(name: string, options?: SpanOptions, context?: Context): Span {
    const span = tracer.startSpan(
      name,
      { ...options, startTime: options?.startTime ?? hrNow() },
      context,
    );
    // A non-recording span has no times to keep; hand it back as it is.
    return span.isRecording() ? new PreciseSpan(span) : span;
  }
  // startActiveSpan is not used by this app; it keeps the SDK's clock.
  return { startSpan, startActiveSpan: tracer.startActiveSpan.bind(tracer) };
}
