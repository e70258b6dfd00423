/**
 * A span that hands every call to another span. The native-mode tracer wrapper
 * (telemetry/native.ts, for Deno's integer typing) overrides only what it changes.
 */
import type {
  AttributeValue,
  Exception,
  Link,
  Span,
  SpanAttributes,
  SpanContext,
  SpanStatus,
  TimeInput,
} from "@opentelemetry/api";

/** True when `addEvent`'s second argument is a time, not attributes (the API's overload). */
export function isTime(value: SpanAttributes | TimeInput | undefined): value is TimeInput {
  return typeof value === "number" || value instanceof Date || Array.isArray(value);
}

/** Delegates every call to `inner`; subclasses override what they change. */
export class DelegatingSpan implements Span {
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
  addEvent(name: string, attributesOrTime?: SpanAttributes | TimeInput, time?: TimeInput): this {
    if (isTime(attributesOrTime)) this.inner.addEvent(name, attributesOrTime);
    else this.inner.addEvent(name, attributesOrTime, time);
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
