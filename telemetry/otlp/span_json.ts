/**
 * OTLP/HTTP JSON ExportTraceServiceRequest bodies written straight from the finished spans: no
 * OTLP object tree per span (the stock `JsonTraceSerializer` builds one, then stringifies it);
 * resource and scope written once per resource and scope object and reused by every batch; an
 * attribute written once while its value repeats (the method, the route, the status code);
 * `[seconds, nanos]` turned into decimal nanoseconds without BigInt. A batch grows in UTF-8
 * bytes a few spans at a time ({@linkcode TraceRequestEncoder.add}), so the spans and their
 * text are garbage young instead of being held for a whole batch.
 *
 * Memory: the byte buffers a batch grows in, and the body it is joined into, are kept and
 * reused ({@linkcode TraceRequestEncoder.release}): a fresh megabyte per batch was dead weight
 * outside the V8 heap until the next full GC (a batch lives for its delivery, long enough to be
 * promoted), 40-60 MB of it under load.
 *
 * The text is the stock serializer's, field for field and in the same order (the test suite
 * compares the two): hex ids, times as decimal strings, kind + 1, flags with the has-is-remote
 * bit, spans grouped by resource then scope in first-seen order. Where the stock text would not
 * be valid OTLP JSON it is made valid instead: non-finite doubles spelled as proto3 JSON spells
 * them ("NaN", "Infinity"), an integer outside int64 sent as a double, a negative time as 0.
 * A span whose fields cannot be read (a throwing getter, a time that is not a number) is left
 * out and counted, instead of failing the whole batch.
 */
import type { Attributes, AttributeValue, Link } from "@opentelemetry/api";
import type { InstrumentationScope } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan, TimedEvent } from "@opentelemetry/sdk-trace-base";
import type { EncodedSpans, OtlpProtocol, SpanBatchEncoder } from "./encoding.ts";

export type { EncodedSpans } from "./encoding.ts";

const quote = JSON.stringify as (value: unknown) => string | undefined;
const utf8 = new TextEncoder();

/** A name or message as a JSON string, `""` for a value JSON has no text for. */
function text(value: unknown): string {
  return quote(value) ?? '""';
}

/** What the spans' ids are in our pipeline; anything else is escaped as a JSON string. */
const HEX = /^[0-9a-fA-F]*$/;

/** OTLP span flags: bits 8 and 9 say whether the parent is remote (the spec's masks). */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

/** An integer at or past this magnitude is not an int64: it goes as a double. */
const INT64_LIMIT = 2 ** 63;

/** Attribute keys and span names whose text is kept (both are few in an app). */
const CACHE_SIZE = 1024;

/** Pending span text is written to the batch's bytes past this many UTF-16 units. */
const PENDING_CHARS = 64 * 1024;

/** A first buffer for a scope's spans; it doubles as a batch needs. */
const GROUP_BYTES = 16 * 1024;

/**
 * Buffers larger than this are not kept for reuse (a batch of unusual spans); a default batch
 * of 512 spans is ~0.4 MB.
 */
const KEPT_BUFFER_BYTES = 4 * 1024 * 1024;

/** Body buffers kept for reuse: the batch out and the one sealed behind it. */
const KEPT_BODIES = 2;

const OPEN = utf8.encode('{"resourceSpans":[');
const CLOSE = utf8.encode("]}");
const COMMA = 44;

/** An opening and a closing text, kept as UTF-8. */
interface Frame {
  head: Uint8Array;
  tail: Uint8Array;
}

/** The scope's frame and the stock serializer's grouping key for it. */
interface ScopeFrame extends Frame {
  key: string;
}

/** An attribute key's text, and the whole member for the value it had last. */
interface KeyText {
  prefix: string;
  value: AttributeValue | undefined;
  member: string;
}

/** The spans of one resource and scope in the open batch, as UTF-8 plus text not yet written. */
class ScopeGroup {
  length = 0;
  pending = "";
  spans = 0;
  /** `bytes`: a spare buffer of an earlier batch, or a fresh one. */
  constructor(readonly frame: ScopeFrame, public bytes: Uint8Array) {}

  append(json: string): void {
    this.pending = this.pending === "" ? json : `${this.pending},${json}`;
    this.spans++;
    if (this.pending.length > PENDING_CHARS) this.write();
  }

  /** Moves the pending text into the bytes (at most 3 bytes per UTF-16 unit, plus a comma). */
  write(): void {
    if (this.pending === "") return;
    const needed = this.length + 1 + this.pending.length * 3;
    if (needed > this.bytes.length) {
      const grown = new Uint8Array(Math.max(needed, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    if (this.length > 0) this.bytes[this.length++] = COMMA;
    this.length += utf8.encodeInto(this.pending, this.bytes.subarray(this.length)).written;
    this.pending = "";
  }
}

class ResourceGroup {
  readonly scopes: ScopeGroup[] = [];
  constructor(readonly resource: Resource, readonly frame: Frame) {}
}

/**
 * Writes ExportTraceServiceRequest bodies: {@linkcode add} spans to the open batch,
 * {@linkcode write} at the end of a turn (the text so far becomes bytes), {@linkcode finish}
 * for the body. Holds what every batch shares (resource, scope, key and name texts).
 */
export class TraceRequestEncoder implements SpanBatchEncoder {
  readonly protocol: OtlpProtocol = "http/json";
  readonly #resourceFrames = new WeakMap<Resource, Frame>();
  readonly #scopeFrames = new WeakMap<InstrumentationScope, ScopeFrame>();
  readonly #keys = new Map<string, KeyText>();
  readonly #names = new Map<string, string>();
  /** The fields after the attributes of a span with no events, links or drops, by status and flags. */
  readonly #plainTails = new Map<number, string>();
  #groups: ResourceGroup[] = [];
  #lastResource: Resource | undefined;
  #lastScope: InstrumentationScope | undefined;
  #lastGroup: ScopeGroup | undefined;
  #count = 0;
  /** Group buffers of finished batches, for the next batch's groups. */
  readonly #spareGroupBytes: Uint8Array[] = [];
  /** Body buffers given back by {@linkcode release}. */
  readonly #spareBodies: ArrayBuffer[] = [];

  /** Spans in the open batch. */
  get count(): number {
    return this.#count;
  }

  /** Appends one span to the open batch; false (nothing added) when its fields cannot be read. */
  add(span: ReadableSpan): boolean {
    let json: string;
    try {
      json = this.#span(span);
    } catch {
      return false;
    }
    if (span.resource !== this.#lastResource || span.instrumentationScope !== this.#lastScope) {
      this.#lastGroup = this.#group(span.resource, span.instrumentationScope);
      this.#lastResource = span.resource;
      this.#lastScope = span.instrumentationScope;
    }
    this.#lastGroup!.append(json);
    this.#count++;
    return true;
  }

  /** Writes the text added so far into the batch's bytes (the end of a turn). */
  write(): void {
    for (const resource of this.#groups) {
      for (const scope of resource.scopes) scope.write();
    }
  }

  /**
   * The body of the open batch; the next batch starts empty. The body may be written into a
   * buffer given back by {@linkcode release}; a body never released is simply never reused.
   */
  finish(): Uint8Array {
    this.write();
    let size = OPEN.length + CLOSE.length;
    for (const resource of this.#groups) {
      size += resource.frame.head.length + resource.frame.tail.length + 1;
      for (const scope of resource.scopes) {
        size += scope.frame.head.length + scope.length + scope.frame.tail.length + 1;
      }
    }
    const body = this.#bodyBuffer(size);
    let at = put(body, 0, OPEN);
    for (let r = 0; r < this.#groups.length; r++) {
      const resource = this.#groups[r]!;
      if (r > 0) body[at++] = COMMA;
      at = put(body, at, resource.frame.head);
      for (let s = 0; s < resource.scopes.length; s++) {
        const scope = resource.scopes[s]!;
        if (s > 0) body[at++] = COMMA;
        at = put(body, at, scope.frame.head);
        at = put(body, at, scope.bytes.subarray(0, scope.length));
        at = put(body, at, scope.frame.tail);
        if (scope.bytes.length <= KEPT_BUFFER_BYTES && this.#spareGroupBytes.length < 4) {
          this.#spareGroupBytes.push(scope.bytes);
        }
      }
      at = put(body, at, resource.frame.tail);
    }
    at = put(body, at, CLOSE);
    this.#groups = [];
    this.#lastResource = undefined;
    this.#lastScope = undefined;
    this.#lastGroup = undefined;
    this.#count = 0;
    return body.subarray(0, at);
  }

  /**
   * Gives a body {@linkcode finish} returned back once nothing reads it any more (its delivery
   * settled: sent, failed, dropped, or copied into the retry buffer); a later batch may then
   * be written into it.
   */
  release(body: Uint8Array): void {
    const buffer = body.buffer as ArrayBuffer;
    if (buffer.byteLength > KEPT_BUFFER_BYTES || this.#spareBodies.length >= KEPT_BODIES) return;
    if (!this.#spareBodies.includes(buffer)) this.#spareBodies.push(buffer);
  }

  /** A buffer for a body of `size` bytes: a released one that fits, else a fresh one. */
  #bodyBuffer(size: number): Uint8Array {
    const spares = this.#spareBodies;
    for (let i = 0; i < spares.length; i++) {
      if (spares[i]!.byteLength >= size) return new Uint8Array(spares.splice(i, 1)[0]!, 0, size);
    }
    // Room to grow, so a batch a little larger than the last one still fits next time.
    if (spares.length > 0) spares.shift();
    return new Uint8Array(new ArrayBuffer(Math.ceil(size * 1.25)), 0, size);
  }

  /** One whole batch: the open batch must be empty. */
  encode(spans: readonly ReadableSpan[]): EncodedSpans {
    let unencodable = 0;
    for (let i = 0; i < spans.length; i++) if (!this.add(spans[i]!)) unencodable++;
    const count = this.#count;
    return { body: this.finish(), spans: count, unencodable };
  }

  /** The group of this resource and scope, made on first sight (first-seen order kept). */
  #group(resource: Resource, scope: InstrumentationScope): ScopeGroup {
    let owner = this.#groups.find((g) => g.resource === resource);
    if (!owner) {
      owner = new ResourceGroup(resource, this.#resourceFrame(resource));
      this.#groups.push(owner);
    }
    const frame = this.#scopeFrame(scope);
    let group = owner.scopes.find((s) => s.frame.key === frame.key);
    if (!group) {
      group = new ScopeGroup(frame, this.#spareGroupBytes.pop() ?? new Uint8Array(GROUP_BYTES));
      owner.scopes.push(group);
    }
    return group;
  }

  #resourceFrame(resource: Resource): Frame {
    const cached = this.#resourceFrames.get(resource);
    if (cached) return cached;
    const schemaUrl = resource.schemaUrl ? `,"schemaUrl":${text(resource.schemaUrl)}` : "";
    const frame: Frame = {
      head: utf8.encode(
        `{"resource":{"attributes":[${
          this.#attributes(resource.attributes)
        }],"droppedAttributesCount":0${schemaUrl}},"scopeSpans":[`,
      ),
      tail: utf8.encode(`]${schemaUrl}}`),
    };
    // A resource still detecting attributes may change: only a settled one is kept.
    if (!resource.asyncAttributesPending) this.#resourceFrames.set(resource, frame);
    return frame;
  }

  #scopeFrame(scope: InstrumentationScope): ScopeFrame {
    const cached = this.#scopeFrames.get(scope);
    if (cached) return cached;
    const { name, version, schemaUrl } = scope;
    // The stock serializer takes a scope with attributes too (an SDK extension).
    const extra = scope as { attributes?: Attributes; droppedAttributesCount?: number };
    let fields = `"name":${text(name)}`;
    if (version !== undefined) fields += `,"version":${text(version)}`;
    if (extra.attributes && Object.keys(extra.attributes).length > 0) {
      fields += `,"attributes":[${this.#attributes(extra.attributes)}],"droppedAttributesCount":${
        count(extra.droppedAttributesCount)
      }`;
    }
    const frame: ScopeFrame = {
      key: `${name}@${version || ""}:${schemaUrl || ""}`,
      head: utf8.encode(`{"scope":{${fields}},"spans":[`),
      tail: utf8.encode(`]${schemaUrl === undefined ? "" : `,"schemaUrl":${text(schemaUrl)}`}}`),
    };
    this.#scopeFrames.set(scope, frame);
    return frame;
  }

  /** One span's JSON object. */
  #span(span: ReadableSpan): string {
    const context = span.spanContext();
    const parent = span.parentSpanContext;
    let json = `{"traceId":${id(context.traceId)},"spanId":${id(context.spanId)}`;
    if (parent?.spanId) json += `,"parentSpanId":${id(parent.spanId)}`;
    const traceState = context.traceState?.serialize();
    if (traceState !== undefined) json += `,"traceState":${text(traceState)}`;
    json += `,"name":${this.#name(span.name)},"kind":${
      span.kind == null ? 0 : span.kind + 1
    },"startTimeUnixNano":"${unixNanos(span.startTime)}","endTimeUnixNano":"${
      unixNanos(span.endTime)
    }","attributes":[${this.#attributes(span.attributes)}]`;
    const flags = (context.traceFlags & 0xff) | HAS_IS_REMOTE | (parent?.isRemote ? IS_REMOTE : 0);
    const status = span.status;
    if (
      span.droppedAttributesCount === 0 && span.events.length === 0 &&
      span.droppedEventsCount === 0 && span.links.length === 0 && span.droppedLinksCount === 0 &&
      status.message === undefined && (status.code === 0 || status.code === 1 || status.code === 2)
    ) {
      return json + this.#plainTail(status.code, flags);
    }
    const message = status.message === undefined ? "" : `,"message":${text(status.message)}`;
    return `${json},"droppedAttributesCount":${count(span.droppedAttributesCount)},"events":[${
      this.#events(span.events)
    }],"droppedEventsCount":${count(span.droppedEventsCount)},"status":{"code":${
      count(status.code)
    }${message}},"links":[${this.#links(span.links)}],"droppedLinksCount":${
      count(span.droppedLinksCount)
    },"flags":${flags}}`;
  }

  #plainTail(code: number, flags: number): string {
    const key = code * 0x10000 + flags;
    let tail = this.#plainTails.get(key);
    if (tail === undefined) {
      tail =
        `,"droppedAttributesCount":0,"events":[],"droppedEventsCount":0,"status":{"code":${code}},"links":[],"droppedLinksCount":0,"flags":${flags}}`;
      this.#plainTails.set(key, tail);
    }
    return tail;
  }

  #name(name: string): string {
    let quoted = this.#names.get(name);
    if (quoted === undefined) {
      quoted = text(name);
      if (typeof name === "string" && this.#names.size < CACHE_SIZE) this.#names.set(name, quoted);
    }
    return quoted;
  }

  #events(events: readonly TimedEvent[]): string {
    let out = "";
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      out += `${i === 0 ? "" : ","}{"attributes":[${
        event.attributes ? this.#attributes(event.attributes) : ""
      }],"name":${text(event.name)},"timeUnixNano":"${
        unixNanos(event.time)
      }","droppedAttributesCount":${count(event.droppedAttributesCount || 0)}}`;
    }
    return out;
  }

  #links(links: readonly Link[]): string {
    let out = "";
    for (let i = 0; i < links.length; i++) {
      const link = links[i]!;
      const context = link.context;
      const traceState = context.traceState?.serialize();
      out += `${i === 0 ? "" : ","}{"attributes":[${
        link.attributes ? this.#attributes(link.attributes) : ""
      }],"spanId":${id(context.spanId)},"traceId":${id(context.traceId)}${
        traceState === undefined ? "" : `,"traceState":${text(traceState)}`
      },"droppedAttributesCount":${count(link.droppedAttributesCount || 0)},"flags":${
        (context.traceFlags & 0xff) | HAS_IS_REMOTE | (context.isRemote ? IS_REMOTE : 0)
      }}`;
    }
    return out;
  }

  /** The members of an attribute list, `{"key":…,"value":…}` each, in key order. */
  #attributes(attributes: Attributes): string {
    let out = "";
    const keys = Object.keys(attributes);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const value = attributes[key];
      let entry = this.#keys.get(key);
      if (entry === undefined) {
        entry = { prefix: `{"key":${text(key)},"value":`, value: undefined, member: "" };
        if (this.#keys.size < CACHE_SIZE) this.#keys.set(key, entry);
      }
      // Only a primitive is known unchanged by identity; an array is written every time.
      if (entry.member === "" || entry.value !== value || typeof value === "object") {
        entry.value = value;
        entry.member = `${entry.prefix}${anyValue(value)}}`;
      }
      out += i === 0 ? entry.member : `,${entry.member}`;
    }
    return out;
  }
}

function put(into: Uint8Array, at: number, bytes: Uint8Array): number {
  into.set(bytes, at);
  return at + bytes.length;
}

/** A trace or span id as a JSON string (ours are hex already: nothing to escape). */
function id(value: string): string {
  if (typeof value !== "string") return '""';
  return HEX.test(value) ? `"${value}"` : text(value);
}

/** A count or enum as a JSON number (what is not a finite number is 0, its default). */
function count(value: number | undefined): string {
  return typeof value === "number" && Number.isFinite(value) ? `${value}` : "0";
}

/**
 * `[seconds, nanos]` as decimal nanoseconds since the epoch: the digits of both parts joined
 * for any span time, the stock serializer's BigInt arithmetic otherwise. Throws for a time
 * that is not a number (the span is left out).
 */
export function unixNanos(time: readonly [number, number]): string {
  const seconds = time[0];
  const nanos = time[1];
  if (
    seconds >= 1 && seconds <= Number.MAX_SAFE_INTEGER && Number.isInteger(seconds) &&
    nanos >= 0 && nanos < 1e9 && Number.isInteger(nanos)
  ) {
    const digits = `${nanos}`;
    return `${seconds}${"000000000".slice(digits.length)}${digits}`;
  }
  const total = BigInt(Math.trunc(seconds)) * 1_000_000_000n + BigInt(Math.trunc(nanos));
  return total > 0n ? total.toString() : "0";
}

/** One attribute value as an OTLP AnyValue; `{}` (the empty value) for null and the like. */
export function anyValue(value: AttributeValue | undefined | null): string {
  switch (typeof value) {
    case "string":
      return `{"stringValue":${quote(value)}}`;
    case "number":
      if (Number.isInteger(value) && value < INT64_LIMIT && value >= -INT64_LIMIT) {
        return `{"intValue":${value}}`;
      }
      // Proto3 JSON spells the non-finite doubles as strings.
      return Number.isFinite(value) ? `{"doubleValue":${value}}` : `{"doubleValue":"${value}"}`;
    case "boolean":
      return value ? `{"boolValue":true}` : `{"boolValue":false}`;
    case "object": {
      if (value === null) return "{}";
      if (Array.isArray(value)) {
        let out = "";
        for (let i = 0; i < value.length; i++) {
          out += `${i === 0 ? "" : ","}${anyValue(value[i])}`;
        }
        return `{"arrayValue":{"values":[${out}]}}`;
      }
      return objectValue(value);
    }
    default:
      return "{}";
  }
}

/** What the stock serializer takes beyond the attribute types: bytes and key-value lists. */
function objectValue(value: object): string {
  if (value instanceof Uint8Array) {
    let binary = "";
    for (let i = 0; i < value.length; i++) binary += String.fromCharCode(value[i]!);
    return `{"bytesValue":"${btoa(binary)}"}`;
  }
  let out = "";
  const record = value as Record<string, AttributeValue>;
  const keys = Object.keys(record);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    out += `${i === 0 ? "" : ","}{"key":${text(key)},"value":${anyValue(record[key])}}`;
  }
  return `{"kvlistValue":{"values":[${out}]}}`;
}
