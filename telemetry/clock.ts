/**
 * One high-resolution clock for every span we make. The SDK stamps a span's start with
 * `Date.now()` (whole milliseconds) and its end with start + a `performance.now()` duration,
 * so a child that starts later in the same millisecond as its parent could end up to 1 ms
 * after it. Stamping start, end and events from `performance.timeOrigin + performance.now()`
 * (microseconds or better, monotonic) keeps every child inside its parent.
 */
import type {
  Context,
  Exception,
  HrTime,
  Span,
  SpanAttributes,
  SpanOptions,
  TimeInput,
  Tracer,
} from "@opentelemetry/api";
import { hrTime } from "@opentelemetry/core";
import { DelegatingSpan, isTime } from "./delegating_span.ts";

/** Now, on the process's monotonic high-resolution clock, as epoch `[seconds, nanos]`. */
export function hrNow(): HrTime {
  return hrTime();
}

/** A span whose times default to {@link hrNow} instead of the SDK's millisecond clock. */
class PreciseSpan extends DelegatingSpan {
  override addEvent(
    name: string,
    attributesOrTime?: SpanAttributes | TimeInput,
    time?: TimeInput,
  ): this {
    if (isTime(attributesOrTime)) return super.addEvent(name, attributesOrTime);
    return super.addEvent(name, attributesOrTime, time ?? hrNow());
  }
  override end(endTime?: TimeInput): void {
    super.end(endTime ?? hrNow());
  }
  override recordException(exception: Exception, time?: TimeInput): void {
    super.recordException(exception, time ?? hrNow());
  }
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
