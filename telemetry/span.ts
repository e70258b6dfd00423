/**
 * The span our tracer records (telemetry/tracing.ts): one object that is both the API span the
 * app writes to and the `ReadableSpan` the SDK's processors and exporters read (batch, simple,
 * in-memory, console, the X-Ray processor). It follows the SDK span's rules (attribute types,
 * count and length limits, events and links limits, status precedence, nothing after end)
 * and differs in cost: one `performance.now()` per start, end and event on the µs clock of
 * telemetry/clock.ts (the SDK reads the clock three to five times and stamps the start in
 * whole milliseconds), and a capped string is detached from the value it was cut from here,
 * once, instead of by a processor pass over every attribute of every span.
 */
import type {
  Attributes,
  AttributeValue,
  Context,
  Exception,
  HrTime,
  Link,
  Span as ApiSpan,
  SpanAttributes,
  SpanContext,
  SpanKind,
  SpanStatus,
  TimeInput,
} from "@opentelemetry/api";
import { diag, SpanStatusCode } from "./otel_api.ts";
import type { InstrumentationScope } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan, SpanProcessor, TimedEvent } from "@opentelemetry/sdk-trace-base";
import { hrFromInput, hrFromPerformance } from "./clock.ts";
import { detached } from "./util/text.ts";

/** The SDK's span limits, all set (telemetry/tracing.ts fills the defaults). */
export interface SpanLimits {
  attributeValueLengthLimit: number;
  attributeCountLimit: number;
  eventCountLimit: number;
  linkCountLimit: number;
  attributePerEventCountLimit: number;
  attributePerLinkCountLimit: number;
}

/** What every span of one tracer shares. */
export interface SpanPipeline {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  readonly limits: SpanLimits;
  /** Called in order, as the SDK's MultiSpanProcessor does. */
  readonly processors: readonly SpanProcessor[];
}

// What a span holds until it is given something else: shared and frozen (a reader that tried
// to write to one would throw instead of changing every span), so a span that never gets an
// event, a link or a status allocates none of them. Written ones are replaced, never mutated.
const NO_TIME: HrTime = Object.freeze([0, 0]) as unknown as HrTime;
const NOT_ENDED: HrTime = Object.freeze([-1, -1]) as unknown as HrTime;
const UNSET_STATUS: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const NO_LINKS: Link[] = Object.freeze([]) as unknown as Link[];
const NO_EVENTS: TimedEvent[] = Object.freeze([]) as unknown as TimedEvent[];

/** A recorded span; see the module comment. */
export class RecordedSpan implements ApiSpan, ReadableSpan {
  name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  endTime: HrTime = NO_TIME;
  status: SpanStatus = UNSET_STATUS;
  readonly attributes: Attributes;
  /** Replaced by the span's own array at its first link (see NO_LINKS). */
  links: Link[] = NO_LINKS;
  /** Replaced by the span's own array at its first event. */
  events: TimedEvent[] = NO_EVENTS;
  ended = false;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  droppedLinksCount = 0;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly #spanContext: SpanContext;
  readonly #pipeline: SpanPipeline;
  #attributeCount = 0;

  /**
   * What the tracer decided, as arguments rather than one options object: that object would be
   * built and dropped for every span. `startTime` absent means now; `context` is the parent
   * context the processors' onStart receives.
   */
  constructor(
    pipeline: SpanPipeline,
    name: string,
    kind: SpanKind,
    spanContext: SpanContext,
    parentSpanContext: SpanContext | undefined,
    attributes: Attributes | undefined,
    links: readonly Link[] | undefined,
    startTime: TimeInput | undefined,
    context: Context,
  ) {
    this.#pipeline = pipeline;
    this.#spanContext = spanContext;
    this.name = name;
    this.kind = kind;
    this.parentSpanContext = parentSpanContext;
    this.resource = pipeline.resource;
    this.instrumentationScope = pipeline.scope;
    this.startTime = startTime === undefined
      ? hrFromPerformance(performance.now())
      : hrFromInput(startTime);
    if (links) { for (const link of links) this.addLink(link); }
    const kept = attributes === undefined ? -1 : this.#plainCount(attributes);
    if (kept >= 0) {
      // Every value is kept as it is: one copy of the whole object (a spread clones its
      // shape at once) instead of a store per key growing a new object one key at a time.
      this.attributes = { ...attributes };
      this.#attributeCount = kept;
    } else {
      this.attributes = {};
      if (attributes) this.setAttributes(attributes);
    }
    const processors = pipeline.processors;
    for (let i = 0; i < processors.length; i++) processors[i]!.onStart(this, context);
  }

  /**
   * End minus start, `[-1, -1]` before the end: worked out when read (no exporter of ours
   * reads it; the SDK's console exporter does) instead of one more array per span.
   */
  get duration(): HrTime {
    const end = this.endTime;
    if (end === NO_TIME) return NOT_ENDED;
    let seconds = end[0] - this.startTime[0];
    let nanos = end[1] - this.startTime[1];
    if (nanos < 0) {
      seconds--;
      nanos += 1e9;
    }
    return [seconds, nanos];
  }

  spanContext(): SpanContext {
    return this.#spanContext;
  }

  isRecording(): boolean {
    return !this.ended;
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (value == null || this.#endedWarn()) return this;
    if (key.length === 0) {
      diag.warn(`Invalid attribute key: ${key}`);
      return this;
    }
    const type = typeof value;
    if (type !== "string" && type !== "number" && type !== "boolean" && !isAttributeValue(value)) {
      diag.warn(`Invalid attribute value set for key: ${key}`);
      return this;
    }
    const attributes = this.attributes as Record<string, AttributeValue>;
    const isNew = !Object.hasOwn(attributes, key);
    if (isNew && this.#attributeCount >= this.#pipeline.limits.attributeCountLimit) {
      this.droppedAttributesCount++;
      return this;
    }
    attributes[key] = this.#capped(value);
    if (isNew) this.#attributeCount++;
    return this;
  }

  setAttributes(attributes: SpanAttributes): this {
    for (const key in attributes) {
      if (Object.hasOwn(attributes, key)) this.setAttribute(key, attributes[key]!);
    }
    return this;
  }

  addEvent(name: string, attributesOrTime?: SpanAttributes | TimeInput, time?: TimeInput): this {
    if (this.#endedWarn()) return this;
    const limits = this.#pipeline.limits;
    if (limits.eventCountLimit === 0) {
      diag.warn("No events allowed.");
      this.droppedEventsCount++;
      return this;
    }
    if (this.events === NO_EVENTS) this.events = [];
    if (this.events.length >= limits.eventCountLimit) {
      if (this.droppedEventsCount === 0) diag.debug("Dropping extra events.");
      this.events.shift();
      this.droppedEventsCount++;
    }
    let given: SpanAttributes | undefined;
    if (isTimeInput(attributesOrTime)) {
      if (!isTimeInput(time)) time = attributesOrTime;
    } else {
      given = attributesOrTime;
    }
    const [attributes, droppedAttributesCount] = this.#limited(
      given,
      limits.attributePerEventCountLimit,
    );
    this.events.push({
      name,
      attributes,
      time: time === undefined ? hrFromPerformance(performance.now()) : hrFromInput(time),
      droppedAttributesCount,
    });
    return this;
  }

  addLink(link: Link): this {
    if (this.#endedWarn()) return this;
    const limits = this.#pipeline.limits;
    if (limits.linkCountLimit === 0) {
      this.droppedLinksCount++;
      return this;
    }
    if (this.links === NO_LINKS) this.links = [];
    if (this.links.length >= limits.linkCountLimit) {
      if (this.droppedLinksCount === 0) diag.debug("Dropping extra links.");
      this.links.shift();
      this.droppedLinksCount++;
    }
    const [attributes, dropped] = this.#limited(link.attributes, limits.attributePerLinkCountLimit);
    const kept: Link = { context: link.context };
    if (Object.keys(attributes).length > 0) kept.attributes = attributes;
    if (dropped > 0) kept.droppedAttributesCount = dropped;
    this.links.push(kept);
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this.#endedWarn()) return this;
    // As the SDK: UNSET never overrides, OK is final, only ERROR keeps a (string) message.
    if (status.code === SpanStatusCode.UNSET || this.status.code === SpanStatusCode.OK) {
      return this;
    }
    const next: SpanStatus = { code: status.code };
    if (status.code === SpanStatusCode.ERROR && typeof status.message === "string") {
      next.message = status.message;
    }
    this.status = next;
    return this;
  }

  updateName(name: string): this {
    if (!this.#endedWarn()) this.name = name;
    return this;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === "string") {
      attributes["exception.message"] = exception;
    } else if (exception) {
      if (exception.code) attributes["exception.type"] = exception.code.toString();
      else if (exception.name) attributes["exception.type"] = exception.name;
      if (exception.message) attributes["exception.message"] = exception.message;
      if (exception.stack) attributes["exception.stacktrace"] = exception.stack;
    }
    if (attributes["exception.type"] || attributes["exception.message"]) {
      this.addEvent("exception", attributes, time);
    } else {
      diag.warn(`Failed to record an exception ${exception}`);
    }
  }

  end(endTime?: TimeInput): void {
    if (this.ended) {
      const { traceId, spanId } = this.#spanContext;
      diag.error(`${this.name} ${traceId}-${spanId} - You can only call end() on a span once.`);
      return;
    }
    let end = endTime === undefined ? hrFromPerformance(performance.now()) : hrFromInput(endTime);
    const start = this.startTime;
    const seconds = end[0] - start[0] - (end[1] < start[1] ? 1 : 0);
    if (seconds < 0) {
      diag.warn(
        "Inconsistent start and end time, startTime > endTime. Setting span duration to 0ms.",
      );
      end = [start[0], start[1]];
    }
    this.endTime = end;
    const processors = this.#pipeline.processors;
    for (let i = 0; i < processors.length; i++) processors[i]!.onEnding?.(this);
    this.ended = true;
    for (let i = 0; i < processors.length; i++) processors[i]!.onEnd(this);
  }

  /** True (with the SDK's warning) when the span has ended: writes are ignored then. */
  #endedWarn(): boolean {
    if (this.ended) {
      const { traceId, spanId } = this.#spanContext;
      diag.warn(
        `Cannot execute the operation on ended Span {traceId: ${traceId}, spanId: ${spanId}}`,
      );
    }
    return this.ended;
  }

  /**
   * How many attributes `given` holds when setAttributes would keep every one of them as it is
   * (own keys, none empty, each a string within the length limit, a number or a boolean; no
   * more than the count limit); -1 when one needs setAttribute's checks.
   */
  #plainCount(given: Attributes): number {
    const limits = this.#pipeline.limits;
    const lengthLimit = limits.attributeValueLengthLimit;
    let count = 0;
    for (const key in given) {
      if (!Object.hasOwn(given, key) || key.length === 0) return -1;
      const value = given[key];
      const type = typeof value;
      if (type === "string") {
        if (lengthLimit > 0 && (value as string).length > lengthLimit) return -1;
      } else if (type !== "number" && type !== "boolean") {
        return -1;
      }
      count++;
    }
    return count <= limits.attributeCountLimit ? count : -1;
  }

  /** The value within the length limit; a cut string owns its characters (see detached()). */
  #capped(value: AttributeValue): AttributeValue {
    const limit = this.#pipeline.limits.attributeValueLengthLimit;
    if (limit <= 0) return value;
    if (typeof value === "string") return value.length > limit ? cut(value, limit) : value;
    if (Array.isArray(value)) {
      return value.map((v) =>
        typeof v === "string" && v.length > limit ? cut(v, limit) : v
      ) as AttributeValue;
    }
    return value;
  }

  /** Valid attributes of an event or link, capped, at most `max`; and how many were dropped. */
  #limited(given: Attributes | undefined, max: number): [Attributes, number] {
    const out: Record<string, AttributeValue> = {};
    let kept = 0;
    let dropped = 0;
    for (const key in given) {
      if (!Object.hasOwn(given, key)) continue;
      const value = given[key];
      if (key.length === 0 || !isAttributeValue(value)) {
        diag.warn(`Invalid attribute value set for key: ${key}`);
        continue;
      }
      if (value == null) continue;
      if (kept >= max) {
        dropped++;
        continue;
      }
      out[key] = this.#capped(value);
      kept++;
    }
    return [out, dropped];
  }
}

function cut(value: string, limit: number): string {
  return detached(value.substring(0, limit));
}

/**
 * `@opentelemetry/core`'s isAttributeValue: null, undefined, a string, number or boolean, or
 * an array whose non-null elements all have one of those types.
 */
function isAttributeValue(value: unknown): boolean {
  if (value == null) return true;
  if (!Array.isArray(value)) return isPrimitiveType(typeof value);
  let type: string | undefined;
  for (const element of value) {
    if (element == null) continue;
    const elementType = typeof element;
    if (elementType === type) continue;
    if (type !== undefined || !isPrimitiveType(elementType)) return false;
    type = elementType;
  }
  return true;
}

function isPrimitiveType(type: string): boolean {
  return type === "string" || type === "number" || type === "boolean";
}

function isTimeInput(value: unknown): value is TimeInput {
  return typeof value === "number" || value instanceof Date ||
    (Array.isArray(value) && value.length === 2 && typeof value[0] === "number" &&
      typeof value[1] === "number");
}
