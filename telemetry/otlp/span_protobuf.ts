/**
 * OTLP/HTTP protobuf ExportTraceServiceRequest bodies written straight from the finished spans
 * into byte buffers kept from batch to batch (telemetry/otlp/protobuf.ts): no object tree and
 * no text per span. Each span goes into its resource and scope's buffer as it is added; the
 * body is those buffers framed by the resource and scope messages, encoded once per resource
 * and scope object. Ids go as raw bytes from their hex, times as fixed64 without BigInt, names
 * and attribute keys as cached encoded bytes, and an attribute whose value repeats from the
 * last span (the method, the route, the status code) as the cached bytes of the whole field.
 *
 * The bytes are the stock serializer's (otlp-transformer's ProtobufTraceSerializer), field for
 * field and in the same order (the test suite compares the two): spans grouped by resource
 * then scope object in first-seen order, kind + 1 (left out when 0), the dropped counts,
 * status and flags with the has-is-remote bit always written. Where the stock bytes would not
 * be valid OTLP they are made valid instead: a negative time is 0. A span whose fields cannot
 * be read (a throwing getter, a time that is not a number, an id that is not hex of its
 * length) is left out and counted, instead of failing the whole batch.
 */
import type { Attributes, Link } from "@opentelemetry/api";
import type { InstrumentationScope } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan, TimedEvent } from "@opentelemetry/sdk-trace-base";
import type { EncodedSpans, OtlpProtocol, SpanBatchEncoder } from "./encoding.ts";
import {
  I32,
  I64,
  KEPT_WRITER_BYTES,
  keyValue,
  LastId,
  LEN,
  ProtoWriter,
  RepeatingKeyValue,
  stringField,
  tag,
  VARINT,
  varintSize,
} from "./protobuf.ts";

/** OTLP span flags: bits 8 and 9 say whether the parent is remote (the spec's masks). */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

/** Attribute keys and span names whose bytes are kept (both are few in an app). */
const CACHE_SIZE = 1024;

/** Body buffers kept for reuse: the batch out and the one sealed behind it. */
const KEPT_BODIES = 2;

/** Span message fields' tags (opentelemetry/proto/trace/v1/trace.proto). */
const SPAN_TRACE_ID = tag(1, LEN);
const SPAN_SPAN_ID = tag(2, LEN);
const SPAN_TRACE_STATE = tag(3, LEN);
const SPAN_PARENT = tag(4, LEN);
const SPAN_KIND = tag(6, VARINT);
const SPAN_START = tag(7, I64);
const SPAN_END = tag(8, I64);
const SPAN_ATTRIBUTE = tag(9, LEN);
const SPAN_EVENT = tag(11, LEN);
const SPAN_LINK = tag(13, LEN);
/** ScopeSpans.spans and ResourceSpans.scope_spans are both field 2; the request's is 1. */
const REPEATED_2 = tag(2, LEN);
const RESOURCE_SPANS = tag(1, LEN);

/** A resource's or scope's message as a field, and the schema URL field after its items. */
interface Frame {
  head: Uint8Array;
  tail: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** The spans of one resource and scope in the open batch. */
class ScopeGroup {
  spans = 0;
  constructor(
    readonly scope: InstrumentationScope,
    readonly frame: Frame,
    readonly writer: ProtoWriter,
  ) {}
}

class ResourceGroup {
  readonly scopes: ScopeGroup[] = [];
  constructor(readonly resource: Resource, readonly frame: Frame) {}
}

/**
 * The groups without the scopes that hold no span (a group is made before its first span is
 * read, and that span's fields may throw), and without resources left with no scope: a request
 * carries no empty ScopeSpans or ResourceSpans, as the stock serializer's never does.
 */
function withoutEmptyGroups(groups: ResourceGroup[]): ResourceGroup[] {
  if (groups.every((group) => group.scopes.every((scope) => scope.spans > 0))) return groups;
  for (const group of groups) {
    const kept = group.scopes.filter((scope) => scope.spans > 0);
    group.scopes.length = 0;
    group.scopes.push(...kept);
  }
  return groups.filter((group) => group.scopes.length > 0);
}

/** See the module comment. */
export class TraceRequestProtobufEncoder implements SpanBatchEncoder {
  readonly protocol: OtlpProtocol = "http/protobuf";
  readonly #resourceFrames = new WeakMap<Resource, Frame>();
  readonly #scopeFrames = new WeakMap<InstrumentationScope, Frame>();
  readonly #keys = new Map<string, RepeatingKeyValue>();
  readonly #names = new Map<string, Uint8Array>();
  /** The fields after a plain span's attributes (no events, links, drops), by status and flags. */
  readonly #plainTails = new Map<number, Uint8Array>();
  #groups: ResourceGroup[] = [];
  #lastResource: Resource | undefined;
  #lastScope: InstrumentationScope | undefined;
  #lastGroup: ScopeGroup | undefined;
  #count = 0;
  /** A request's spans share their trace id: decoded from hex once. */
  readonly #traceId = new LastId(16);
  /** Group writers of finished batches, for the next batch's groups. */
  readonly #spareWriters: ProtoWriter[] = [];
  /** Body buffers given back by {@linkcode release}. */
  readonly #spareBodies: ArrayBuffer[] = [];

  get count(): number {
    return this.#count;
  }

  add(span: ReadableSpan): boolean {
    let group: ScopeGroup;
    let start = -1;
    try {
      const resource = span.resource;
      const scope = span.instrumentationScope;
      if (resource !== this.#lastResource || scope !== this.#lastScope) {
        this.#lastGroup = this.#group(resource, scope);
        this.#lastResource = resource;
        this.#lastScope = scope;
      }
      group = this.#lastGroup!;
      start = group.writer.pos;
      this.#span(group.writer, span);
    } catch {
      if (start >= 0) this.#lastGroup!.writer.pos = start; // nothing of it stays
      return false;
    }
    group.spans++;
    this.#count++;
    return true;
  }

  /** Nothing to do: spans are bytes as soon as they are added. */
  write(): void {}

  finish(): Uint8Array {
    this.#groups = withoutEmptyGroups(this.#groups);
    let size = 0;
    const scopeSizes: number[] = [];
    const resourceSizes: number[] = [];
    for (const resource of this.#groups) {
      let inner = resource.frame.head.length + resource.frame.tail.length;
      for (const scope of resource.scopes) {
        const length = scope.frame.head.length + scope.writer.pos + scope.frame.tail.length;
        scopeSizes.push(length);
        inner += 1 + varintSize(length) + length;
      }
      resourceSizes.push(inner);
      size += 1 + varintSize(inner) + inner;
    }
    const body = new ProtoWriter(0);
    body.bytes = this.#bodyBuffer(size);
    let s = 0;
    for (let r = 0; r < this.#groups.length; r++) {
      const resource = this.#groups[r]!;
      body.byte(RESOURCE_SPANS);
      body.varint(resourceSizes[r]!);
      body.raw(resource.frame.head);
      for (const scope of resource.scopes) {
        body.byte(REPEATED_2);
        body.varint(scopeSizes[s++]!);
        body.raw(scope.frame.head);
        body.bytes.set(scope.writer.bytes.subarray(0, scope.writer.pos), body.pos);
        body.pos += scope.writer.pos;
        body.raw(scope.frame.tail);
        scope.writer.pos = 0;
        if (scope.writer.bytes.length <= KEPT_WRITER_BYTES && this.#spareWriters.length < 4) {
          this.#spareWriters.push(scope.writer);
        }
      }
      body.raw(resource.frame.tail);
    }
    this.#groups = [];
    this.#lastResource = undefined;
    this.#lastScope = undefined;
    this.#lastGroup = undefined;
    this.#count = 0;
    return body.bytes.subarray(0, body.pos);
  }

  release(body: Uint8Array): void {
    const buffer = body.buffer as ArrayBuffer;
    if (buffer.byteLength > KEPT_WRITER_BYTES || this.#spareBodies.length >= KEPT_BODIES) return;
    if (!this.#spareBodies.includes(buffer)) this.#spareBodies.push(buffer);
  }

  encode(spans: readonly ReadableSpan[]): EncodedSpans {
    let unencodable = 0;
    for (let i = 0; i < spans.length; i++) if (!this.add(spans[i]!)) unencodable++;
    const count = this.#count;
    return { body: this.finish(), spans: count, unencodable };
  }

  /** A buffer for a body of `size` bytes: a released one that fits, else a fresh one. */
  #bodyBuffer(size: number): Uint8Array {
    const spares = this.#spareBodies;
    for (let i = 0; i < spares.length; i++) {
      if (spares[i]!.byteLength >= size) return new Uint8Array(spares.splice(i, 1)[0]!, 0, size);
    }
    if (spares.length > 0) spares.shift();
    // Room to grow, so a batch a little larger than the last one still fits next time.
    return new Uint8Array(new ArrayBuffer(Math.ceil(size * 1.25)), 0, size);
  }

  /** The group of this resource and scope, made on first sight (first-seen order kept). */
  #group(resource: Resource, scope: InstrumentationScope): ScopeGroup {
    let owner = this.#groups.find((g) => g.resource === resource);
    if (!owner) {
      owner = new ResourceGroup(resource, this.#resourceFrame(resource));
      this.#groups.push(owner);
    }
    let group = owner.scopes.find((s) => s.scope === scope);
    if (!group) {
      group = new ScopeGroup(
        scope,
        this.#scopeFrame(scope),
        this.#spareWriters.pop() ?? new ProtoWriter(16 * 1024),
      );
      owner.scopes.push(group);
    }
    return group;
  }

  /** ResourceSpans.resource (field 1) and .schema_url (field 3). */
  #resourceFrame(resource: Resource): Frame {
    const cached = this.#resourceFrames.get(resource);
    if (cached) return cached;
    const writer = new ProtoWriter(1024);
    writer.byte(tag(1, LEN));
    const start = writer.begin();
    this.#attributes(writer, resource.attributes, 1);
    writer.byte(tag(2, VARINT)); // dropped_attributes_count, always written as the stock does
    writer.byte(0);
    writer.end(start);
    const frame: Frame = {
      head: writer.copy(0),
      tail: resource.schemaUrl ? stringField(3, resource.schemaUrl) : EMPTY,
    };
    // A resource still detecting attributes may change: only a settled one is kept.
    if (!resource.asyncAttributesPending) this.#resourceFrames.set(resource, frame);
    return frame;
  }

  /** ScopeSpans.scope (field 1) and .schema_url (field 3). */
  #scopeFrame(scope: InstrumentationScope): Frame {
    const cached = this.#scopeFrames.get(scope);
    if (cached) return cached;
    // The stock serializer takes a scope with attributes too (an SDK extension).
    const extra = scope as { attributes?: Attributes; droppedAttributesCount?: number };
    const writer = new ProtoWriter(256);
    writer.byte(tag(1, LEN));
    const start = writer.begin();
    writer.byte(tag(1, LEN));
    writer.string(String(scope.name ?? ""));
    if (scope.version) {
      writer.byte(tag(2, LEN));
      writer.string(scope.version);
    }
    if (extra.attributes) this.#attributes(writer, extra.attributes, 3);
    if (extra.droppedAttributesCount) {
      writer.byte(tag(4, VARINT));
      writer.varint(extra.droppedAttributesCount);
    }
    writer.end(start);
    const frame: Frame = {
      head: writer.copy(0),
      tail: scope.schemaUrl ? stringField(3, scope.schemaUrl) : EMPTY,
    };
    this.#scopeFrames.set(scope, frame);
    return frame;
  }

  /** One span as a ScopeSpans.spans field. */
  #span(w: ProtoWriter, span: ReadableSpan): void {
    const context = span.spanContext();
    const parent = span.parentSpanContext;
    w.ensure(64);
    w.byte(REPEATED_2);
    const start = w.begin(2); // a span is 128 to 16,383 bytes as a rule
    w.byte(SPAN_TRACE_ID);
    if (!this.#traceId.write(w, context.traceId)) throw new TypeError("trace id");
    w.byte(SPAN_SPAN_ID);
    if (!w.hexId(context.spanId, 8)) throw new TypeError("span id");
    const traceState = context.traceState?.serialize();
    if (traceState) {
      w.byte(SPAN_TRACE_STATE);
      w.string(traceState);
    }
    if (parent?.spanId) {
      w.byte(SPAN_PARENT);
      if (!w.hexId(parent.spanId, 8)) throw new TypeError("parent span id");
    }
    w.raw(this.#name(span.name));
    const kind = span.kind == null ? 0 : span.kind + 1;
    if (kind !== 0) {
      w.byte(SPAN_KIND);
      w.varint(kind);
    }
    const startTime = span.startTime;
    const endTime = span.endTime;
    w.ensure(18);
    w.byte(SPAN_START);
    w.hrTime(startTime[0], startTime[1]);
    w.byte(SPAN_END);
    w.hrTime(endTime[0], endTime[1]);
    this.#spanAttributes(w, span.attributes);
    const flags = (context.traceFlags & 0xff) | HAS_IS_REMOTE | (parent?.isRemote ? IS_REMOTE : 0);
    const status = span.status;
    if (
      span.droppedAttributesCount === 0 && span.events.length === 0 &&
      span.droppedEventsCount === 0 && span.links.length === 0 && span.droppedLinksCount === 0 &&
      !status.message && (status.code === 0 || status.code === 1 || status.code === 2)
    ) {
      w.raw(this.#plainTail(status.code, flags));
    } else {
      this.#tail(w, span, flags);
    }
    w.end(start, 2);
  }

  /** Dropped counts, events, links, status and flags, as the stock serializer writes them. */
  #tail(w: ProtoWriter, span: ReadableSpan, flags: number): void {
    w.byte(tag(10, VARINT));
    w.varint(count(span.droppedAttributesCount));
    for (const event of span.events) this.#event(w, event);
    w.byte(tag(12, VARINT));
    w.varint(count(span.droppedEventsCount));
    for (const link of span.links) this.#link(w, link);
    w.byte(tag(14, VARINT));
    w.varint(count(span.droppedLinksCount));
    status(w, span.status.code, span.status.message);
    w.tag(16, I32);
    w.fixed32(flags);
  }

  #plainTail(code: number, flags: number): Uint8Array {
    const key = code * 0x10000 + flags;
    let tail = this.#plainTails.get(key);
    if (tail === undefined) {
      const w = new ProtoWriter(32);
      this.#tail(w, {
        droppedAttributesCount: 0,
        events: [],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        status: { code },
      } as unknown as ReadableSpan, flags);
      tail = w.copy(0);
      this.#plainTails.set(key, tail);
    }
    return tail;
  }

  /** Span.name (field 5) with its tag and length. */
  #name(name: string): Uint8Array {
    let bytes = this.#names.get(name);
    if (bytes === undefined) {
      bytes = stringField(5, typeof name === "string" ? name : String(name ?? ""));
      if (typeof name === "string" && this.#names.size < CACHE_SIZE) this.#names.set(name, bytes);
    }
    return bytes;
  }

  #event(w: ProtoWriter, event: TimedEvent): void {
    w.byte(SPAN_EVENT);
    const start = w.begin();
    w.byte(tag(1, I64));
    w.hrTime(event.time[0], event.time[1]);
    w.byte(tag(2, LEN));
    w.string(String(event.name ?? ""));
    if (event.attributes) this.#attributes(w, event.attributes, 3);
    w.byte(tag(4, VARINT));
    w.varint(count(event.droppedAttributesCount || 0));
    w.end(start);
  }

  #link(w: ProtoWriter, link: Link): void {
    const context = link.context;
    w.byte(SPAN_LINK);
    const start = w.begin();
    w.byte(tag(1, LEN));
    if (!w.hexId(context.traceId, 16)) throw new TypeError("link trace id");
    w.byte(tag(2, LEN));
    if (!w.hexId(context.spanId, 8)) throw new TypeError("link span id");
    const traceState = context.traceState?.serialize();
    if (traceState) {
      w.byte(tag(3, LEN));
      w.string(traceState);
    }
    if (link.attributes) this.#attributes(w, link.attributes, 4);
    w.byte(tag(5, VARINT));
    w.varint(count(link.droppedAttributesCount || 0));
    w.byte(tag(6, I32));
    w.fixed32((context.traceFlags & 0xff) | HAS_IS_REMOTE | (context.isRemote ? IS_REMOTE : 0));
    w.end(start);
  }

  /** A span's attributes (field 9), a value repeated from the last spans as kept bytes. */
  #spanAttributes(w: ProtoWriter, attributes: Attributes): void {
    for (const key in attributes) {
      if (Object.hasOwn(attributes, key)) this.#key(key).write(w, SPAN_ATTRIBUTE, attributes[key]);
    }
  }

  /** Attributes of a resource, scope, event or link, as repeated KeyValue `field`. */
  #attributes(w: ProtoWriter, attributes: Attributes, field: number): void {
    const fieldTag = tag(field, LEN);
    for (const key in attributes) {
      if (!Object.hasOwn(attributes, key)) continue;
      keyValue(w, fieldTag, this.#key(key).key, attributes[key]);
    }
  }

  #key(key: string): RepeatingKeyValue {
    let entry = this.#keys.get(key);
    if (entry === undefined) {
      entry = new RepeatingKeyValue(key);
      if (this.#keys.size < CACHE_SIZE) this.#keys.set(key, entry);
    }
    return entry;
  }
}

/** Span.status (field 15): message when set, code always. */
function status(w: ProtoWriter, code: number, message: string | undefined): void {
  w.byte(tag(15, LEN));
  const start = w.begin();
  if (message) {
    w.byte(tag(2, LEN));
    w.string(message);
  }
  w.byte(tag(3, VARINT));
  w.varint(count(code));
  w.end(start);
}

/** A count or enum as a varint (what is not a non-negative integer is 0, its default). */
function count(value: number | undefined): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : 0;
}
