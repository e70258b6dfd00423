/**
 * Halves an encoded ExportTraceServiceRequest for a receiver that refused it as too large
 * (413: the Collector past its `max_request_body_size`, a vendor's 8-10 MB, a proxy's 1 MB).
 * Only that rare answer comes here, so the body is read back rather than kept as spans: a JSON
 * body is parsed and written again (every number in it was written by JavaScript, so it reads
 * back to the same text), a protobuf body is walked field by field and its spans' bytes are
 * copied as they are. Both halves keep the spans in order under their own resource and scope.
 */
import type { OtlpProtocol } from "./encoding.ts";
import { LEN, ProtoWriter, readVarint, skipField, tag } from "./protobuf.ts";

/** One half of a refused body. */
export interface TraceRequestHalf {
  body: Uint8Array;
  spans: number;
}

/**
 * The body's spans in two requests, the first half of them (in order) in the first; undefined
 * for a body of fewer than two spans or one that does not read as a trace request.
 */
export function halveTraceRequest(
  protocol: OtlpProtocol,
  body: Uint8Array,
): [TraceRequestHalf, TraceRequestHalf] | undefined {
  try {
    return protocol === "http/protobuf" ? halveProtobuf(body) : halveJson(body);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// JSON

interface JsonScopeSpans {
  spans?: unknown[];
  [field: string]: unknown;
}
interface JsonResourceSpans {
  scopeSpans?: JsonScopeSpans[];
  [field: string]: unknown;
}

const utf8 = new TextEncoder();
const utf8Text = new TextDecoder("utf-8", { fatal: true });

function halveJson(body: Uint8Array): [TraceRequestHalf, TraceRequestHalf] | undefined {
  const request = JSON.parse(utf8Text.decode(body)) as { resourceSpans?: JsonResourceSpans[] };
  const resources = request.resourceSpans;
  if (!Array.isArray(resources)) return undefined;
  let total = 0;
  for (const resource of resources) {
    for (const scope of resource.scopeSpans ?? []) total += scope.spans?.length ?? 0;
  }
  if (total < 2) return undefined;
  const cut = total >> 1;
  // Span index `from` (inclusive) to `to` (exclusive), across every resource and scope.
  const part = (from: number, to: number): TraceRequestHalf => {
    let at = 0;
    const out: JsonResourceSpans[] = [];
    for (const resource of resources) {
      const scopes: JsonScopeSpans[] = [];
      for (const scope of resource.scopeSpans ?? []) {
        const spans = scope.spans ?? [];
        const start = Math.max(from - at, 0);
        const end = Math.min(to - at, spans.length);
        at += spans.length;
        if (start < end) scopes.push({ ...scope, spans: spans.slice(start, end) });
      }
      if (scopes.length > 0) out.push({ ...resource, scopeSpans: scopes });
    }
    return { body: utf8.encode(JSON.stringify({ resourceSpans: out })), spans: to - from };
  };
  return [part(0, cut), part(cut, total)];
}

// ---------------------------------------------------------------------------------------------
// Protobuf: ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1 },
// ResourceSpans { resource = 1; repeated ScopeSpans scope_spans = 2; schema_url = 3 },
// ScopeSpans { scope = 1; repeated Span spans = 2; schema_url = 3 }.

/** A message's fields in order: other fields' bytes as they are, or the repeated child. */
type Field<Child> = { raw: Uint8Array } | { child: Child };

interface ScopeFields {
  fields: Field<Uint8Array>[]; // a child is one span's message bytes
}
interface ResourceFields {
  fields: Field<ScopeFields>[];
}

/** The fields of the message `bytes`; field `repeated` (LEN) goes through `read`. */
function fieldsOf<Child>(
  bytes: Uint8Array,
  repeated: number,
  read: (message: Uint8Array) => Child,
): Field<Child>[] {
  const fields: Field<Child>[] = [];
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    const [key, next] = readVarint(bytes, at);
    if (key === tag(repeated, LEN)) {
      const [length, content] = readVarint(bytes, next);
      if (content + length > bytes.length) throw new RangeError("truncated message");
      fields.push({ child: read(bytes.subarray(content, content + length)) });
      at = content + length;
    } else {
      at = skipField(bytes, next, key & 7);
      if (at > bytes.length) throw new RangeError("truncated field");
      fields.push({ raw: bytes.subarray(start, at) });
    }
  }
  return fields;
}

function halveProtobuf(body: Uint8Array): [TraceRequestHalf, TraceRequestHalf] | undefined {
  const resources = fieldsOf(body, 1, (resource): ResourceFields => ({
    fields: fieldsOf(resource, 2, (scope): ScopeFields => ({
      fields: fieldsOf(scope, 2, (span) => span),
    })),
  }));
  let total = 0;
  for (const resource of resources) {
    if (!("child" in resource)) continue;
    for (const scope of resource.child.fields) {
      if ("child" in scope) total += scope.child.fields.filter((f) => "child" in f).length;
    }
  }
  if (total < 2) return undefined;
  const cut = total >> 1;
  const part = (from: number, to: number): TraceRequestHalf => {
    let at = 0;
    const w = new ProtoWriter(body.length);
    for (const resource of resources) {
      if (!("child" in resource)) continue; // an unknown top-level field: not ours to repeat
      let kept = false;
      const fields = resource.child.fields.map((scope): Field<Uint8Array> | undefined => {
        if (!("child" in scope)) return scope;
        const spans = scope.child.fields.filter((field) => {
          if (!("child" in field)) return true;
          const index = at++;
          return index >= from && index < to;
        });
        if (!spans.some((f) => "child" in f)) return undefined;
        kept = true;
        return { raw: message(2, spans) };
      });
      if (kept) w.raw(message(1, fields.filter((f) => f !== undefined)));
    }
    return { body: w.copy(0), spans: to - from };
  };
  return [part(0, cut), part(cut, total)];
}

/** `[tag(field)][length][fields]`: each raw field as it was, each child (a span) as field 2. */
function message(field: number, fields: Field<Uint8Array>[]): Uint8Array {
  const inner = new ProtoWriter(1024);
  for (const f of fields) {
    if ("raw" in f) {
      inner.raw(f.raw);
    } else {
      inner.byte(tag(2, LEN));
      inner.bytesField(f.child);
    }
  }
  const w = new ProtoWriter(inner.pos + 8);
  w.byte(tag(field, LEN));
  w.bytesField(inner.bytes.subarray(0, inner.pos));
  return w.copy(0);
}
