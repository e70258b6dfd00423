// deno-lint-ignore-file no-explicit-any
/**
 * A strict decoder for OTLP/HTTP protobuf bodies (ExportTraceServiceRequest,
 * ExportLogsServiceRequest, and the Export*ServiceResponse a collector answers with), written
 * from the opentelemetry-proto definitions, for the OTLP stand-in. It turns a body into the
 * OTLP JSON object form (ids as hex, 64-bit integers as decimal strings, bytes as base64), so
 * the JSON decoders' checks (tests/support/otlp_signals.ts) then apply to protobuf bodies
 * unchanged. Stricter than a collector: a field number the schema does not define, a wire
 * type that is not the field's, a singular field twice, two members of a oneof, a varint that
 * is not minimal or passes its type, a length past the end and a string that is not UTF-8 all
 * throw (an encoder of ours never writes them).
 */

type Scalar =
  | "string"
  | "bytes"
  | "bool"
  | "uint32"
  | "int64"
  | "uint64"
  | "fixed32"
  | "fixed64"
  | "double";

interface Field {
  name: string;
  type: Scalar | { message: string };
  repeated?: boolean;
  /** Members of one oneof share its name. */
  oneof?: string;
}

type Schema = Record<string, Record<number, Field>>;

const m = (message: string) => ({ message });

/** opentelemetry/proto v1: common, resource, trace, logs, collector services. */
const SCHEMA: Schema = {
  ExportTraceServiceRequest: {
    1: { name: "resourceSpans", type: m("ResourceSpans"), repeated: true },
  },
  ExportLogsServiceRequest: {
    1: { name: "resourceLogs", type: m("ResourceLogs"), repeated: true },
  },
  ExportTraceServiceResponse: { 1: { name: "partialSuccess", type: m("TracePartialSuccess") } },
  ExportLogsServiceResponse: { 1: { name: "partialSuccess", type: m("LogsPartialSuccess") } },
  TracePartialSuccess: {
    1: { name: "rejectedSpans", type: "int64" },
    2: { name: "errorMessage", type: "string" },
  },
  LogsPartialSuccess: {
    1: { name: "rejectedLogRecords", type: "int64" },
    2: { name: "errorMessage", type: "string" },
  },
  ResourceSpans: {
    1: { name: "resource", type: m("Resource") },
    2: { name: "scopeSpans", type: m("ScopeSpans"), repeated: true },
    3: { name: "schemaUrl", type: "string" },
  },
  ResourceLogs: {
    1: { name: "resource", type: m("Resource") },
    2: { name: "scopeLogs", type: m("ScopeLogs"), repeated: true },
    3: { name: "schemaUrl", type: "string" },
  },
  Resource: {
    1: { name: "attributes", type: m("KeyValue"), repeated: true },
    2: { name: "droppedAttributesCount", type: "uint32" },
  },
  ScopeSpans: {
    1: { name: "scope", type: m("InstrumentationScope") },
    2: { name: "spans", type: m("Span"), repeated: true },
    3: { name: "schemaUrl", type: "string" },
  },
  ScopeLogs: {
    1: { name: "scope", type: m("InstrumentationScope") },
    2: { name: "logRecords", type: m("LogRecord"), repeated: true },
    3: { name: "schemaUrl", type: "string" },
  },
  InstrumentationScope: {
    1: { name: "name", type: "string" },
    2: { name: "version", type: "string" },
    3: { name: "attributes", type: m("KeyValue"), repeated: true },
    4: { name: "droppedAttributesCount", type: "uint32" },
  },
  Span: {
    1: { name: "traceId", type: "bytes" },
    2: { name: "spanId", type: "bytes" },
    3: { name: "traceState", type: "string" },
    4: { name: "parentSpanId", type: "bytes" },
    5: { name: "name", type: "string" },
    6: { name: "kind", type: "uint32" },
    7: { name: "startTimeUnixNano", type: "fixed64" },
    8: { name: "endTimeUnixNano", type: "fixed64" },
    9: { name: "attributes", type: m("KeyValue"), repeated: true },
    10: { name: "droppedAttributesCount", type: "uint32" },
    11: { name: "events", type: m("Event"), repeated: true },
    12: { name: "droppedEventsCount", type: "uint32" },
    13: { name: "links", type: m("Link"), repeated: true },
    14: { name: "droppedLinksCount", type: "uint32" },
    15: { name: "status", type: m("Status") },
    16: { name: "flags", type: "fixed32" },
  },
  Event: {
    1: { name: "timeUnixNano", type: "fixed64" },
    2: { name: "name", type: "string" },
    3: { name: "attributes", type: m("KeyValue"), repeated: true },
    4: { name: "droppedAttributesCount", type: "uint32" },
  },
  Link: {
    1: { name: "traceId", type: "bytes" },
    2: { name: "spanId", type: "bytes" },
    3: { name: "traceState", type: "string" },
    4: { name: "attributes", type: m("KeyValue"), repeated: true },
    5: { name: "droppedAttributesCount", type: "uint32" },
    6: { name: "flags", type: "fixed32" },
  },
  Status: {
    2: { name: "message", type: "string" },
    3: { name: "code", type: "uint32" },
  },
  LogRecord: {
    1: { name: "timeUnixNano", type: "fixed64" },
    11: { name: "observedTimeUnixNano", type: "fixed64" },
    2: { name: "severityNumber", type: "uint32" },
    3: { name: "severityText", type: "string" },
    5: { name: "body", type: m("AnyValue") },
    6: { name: "attributes", type: m("KeyValue"), repeated: true },
    7: { name: "droppedAttributesCount", type: "uint32" },
    8: { name: "flags", type: "fixed32" },
    9: { name: "traceId", type: "bytes" },
    10: { name: "spanId", type: "bytes" },
    12: { name: "eventName", type: "string" },
  },
  KeyValue: {
    1: { name: "key", type: "string" },
    2: { name: "value", type: m("AnyValue") },
  },
  AnyValue: {
    1: { name: "stringValue", type: "string", oneof: "value" },
    2: { name: "boolValue", type: "bool", oneof: "value" },
    3: { name: "intValue", type: "int64", oneof: "value" },
    4: { name: "doubleValue", type: "double", oneof: "value" },
    5: { name: "arrayValue", type: m("ArrayValue"), oneof: "value" },
    6: { name: "kvlistValue", type: m("KeyValueList"), oneof: "value" },
    7: { name: "bytesValue", type: "bytes", oneof: "value" },
  },
  ArrayValue: { 1: { name: "values", type: m("AnyValue"), repeated: true } },
  KeyValueList: { 1: { name: "values", type: m("KeyValue"), repeated: true } },
};

const WIRE: Record<Scalar, number> = {
  string: 2,
  bytes: 2,
  bool: 0,
  uint32: 0,
  int64: 0,
  uint64: 0,
  fixed32: 5,
  fixed64: 1,
  double: 1,
};

/** Fields whose bytes are ids: hex in the JSON form (as OTLP JSON writes them). */
const ID_FIELDS = new Set(["traceId", "spanId", "parentSpanId"]);

const utf8 = new TextDecoder("utf-8", { fatal: true });

class Reader {
  at: number;
  constructor(readonly data: Uint8Array, start: number, readonly end: number) {
    this.at = start;
  }

  varint(): bigint {
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new Error("truncated varint");
      const b = this.data[this.at++]!;
      value |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        if (i > 0 && b === 0) throw new Error("varint not minimal");
        if (value >= 1n << 64n) throw new Error("varint past 64 bits");
        return value;
      }
      shift += 7n;
    }
    throw new Error("varint longer than 10 bytes");
  }

  take(n: number): [number, number] {
    if (n < 0 || this.at + n > this.end) throw new Error(`length ${n} past the end`);
    const start = this.at;
    this.at += n;
    return [start, this.at];
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

function decodeMessage(type: string, data: Uint8Array, start: number, end: number): any {
  const schema = SCHEMA[type];
  if (!schema) throw new Error(`no schema for ${type}`);
  const reader = new Reader(data, start, end);
  const out: Record<string, any> = {};
  const seen = new Set<number>();
  let oneof: string | undefined;
  while (reader.at < end) {
    const key = reader.varint();
    const number = Number(key >> 3n);
    const wire = Number(key & 7n);
    const field = schema[number];
    if (!field) throw new Error(`${type}: unknown field ${number}`);
    const expected = typeof field.type === "string" ? WIRE[field.type] : 2;
    if (wire !== expected) throw new Error(`${type}.${field.name}: wire type ${wire}`);
    if (!field.repeated) {
      if (seen.has(number)) throw new Error(`${type}.${field.name} twice`);
      seen.add(number);
    }
    if (field.oneof) {
      if (oneof !== undefined) throw new Error(`${type}: ${oneof} and ${field.name} both set`);
      oneof = field.name;
    }
    let value: unknown;
    if (typeof field.type !== "string") {
      const [s, e] = reader.take(Number(reader.varint()));
      value = decodeMessage(field.type.message, data, s, e);
    } else {
      value = scalar(reader, field, type);
    }
    if (field.repeated) (out[field.name] ??= []).push(value);
    else out[field.name] = value;
  }
  return out;
}

function scalar(reader: Reader, field: Field, type: string): unknown {
  const data = reader.data;
  switch (field.type) {
    case "string": {
      const [s, e] = reader.take(Number(reader.varint()));
      return utf8.decode(data.subarray(s, e));
    }
    case "bytes": {
      const [s, e] = reader.take(Number(reader.varint()));
      const bytes = data.subarray(s, e);
      return ID_FIELDS.has(field.name) ? hex(bytes) : base64(bytes);
    }
    case "bool": {
      const v = reader.varint();
      if (v > 1n) throw new Error(`${type}.${field.name}: bool ${v}`);
      return v === 1n;
    }
    case "uint32": {
      const v = reader.varint();
      if (v > 0xffffffffn) throw new Error(`${type}.${field.name}: ${v} past uint32`);
      return Number(v);
    }
    case "int64":
      return BigInt.asIntN(64, reader.varint()).toString();
    case "uint64":
      return reader.varint().toString();
    case "fixed32": {
      const [s] = reader.take(4);
      return new DataView(data.buffer, data.byteOffset + s, 4).getUint32(0, true);
    }
    case "fixed64": {
      const [s] = reader.take(8);
      return new DataView(data.buffer, data.byteOffset + s, 8).getBigUint64(0, true).toString();
    }
    case "double": {
      const [s] = reader.take(8);
      const v = new DataView(data.buffer, data.byteOffset + s, 8).getFloat64(0, true);
      // Proto3 JSON spells the non-finite doubles as strings.
      return Number.isFinite(v) ? v : String(v);
    }
    default:
      throw new Error(`${type}: type ${field.type}`);
  }
}

/** Which request a body is. */
export type ProtobufRequestKind = "traces" | "logs";

const ROOT: Record<ProtobufRequestKind, string> = {
  traces: "ExportTraceServiceRequest",
  logs: "ExportLogsServiceRequest",
};

/**
 * A protobuf request body as the OTLP JSON object form (what JSON.parse of the JSON body
 * would give); throws on anything the module comment lists.
 */
export function protobufToJson(kind: ProtobufRequestKind, body: Uint8Array): any {
  return decodeMessage(ROOT[kind], body, 0, body.length);
}

/** A collector's protobuf answer (its partial success), as the JSON form. */
export function protobufResponseToJson(kind: ProtobufRequestKind, body: Uint8Array): any {
  const type = kind === "traces" ? "ExportTraceServiceResponse" : "ExportLogsServiceResponse";
  return decodeMessage(type, body, 0, body.length);
}

/** Encodes an Export*ServiceResponse carrying a partial success of `rejected` items. */
export function partialSuccessResponse(rejected: number, message: string): Uint8Array<ArrayBuffer> {
  const text = new TextEncoder().encode(message);
  const inner = [0x08, ...varint(rejected), 0x12, ...varint(text.length), ...text];
  return new Uint8Array([0x0a, ...varint(inner.length), ...inner]);
}

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
