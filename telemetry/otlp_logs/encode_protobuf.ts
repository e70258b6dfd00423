/**
 * OTLP/HTTP protobuf ExportLogsServiceRequest, written straight from the logger's events into
 * two byte buffers the encoder keeps and uses by turns (telemetry/otlp/protobuf.ts): each
 * record becomes its LogRecord bytes as it is read out of the buffer, after room left for the
 * body's frame; when the body is sealed, the frame (resource and scope, encoded once when the
 * encoder is built, and the two lengths) is written into that room, just before the records,
 * so nothing is copied. Ids go as raw bytes from their hex, times as fixed64 without BigInt,
 * severities, attribute keys and the last two bodies as cached bytes, and an attribute whose
 * value repeats from the last record as the cached bytes of the whole field.
 *
 * The records mean what the JSON encoder's mean (encode.ts): the same attributes, body, ids
 * (left out unless valid), the same record and body caps (a record shortened with the one
 * truncation marker, a batch split into several bodies), counted in exact bytes here. The
 * field order and presence are the stock ProtobufLogsSerializer's (the test suite compares).
 */
import type { LogLevel, LogTraceContext } from "../logger.ts";
import {
  anyValue,
  I32,
  I64,
  KEPT_WRITER_BYTES,
  keyBytes,
  keyValue,
  LastId,
  LEN,
  MAX_REMEMBERED_CHARS,
  ProtoWriter,
  readVarint,
  RepeatingKeyValue,
  stringField,
  tag,
  VARINT,
  varintSize,
} from "../otlp/protobuf.ts";
import type { LogEvent } from "./buffer.ts";
import {
  ATTRIBUTE_COUNT_LIMIT,
  type EncodedRequest,
  type EncoderOptions,
  isAttribute,
  type LogRecordsEncoder,
  MAX_RECORD_BYTES,
  MAX_REQUEST_BYTES,
  SEVERITY_NUMBER,
} from "./encode.ts";

/** Nesting kept in a value; the logger caps at 3 levels, this guards any other caller. */
const MAX_DEPTH = 8;
/** Attribute keys whose bytes are cached (the logger's field names are few). */
const KEY_CACHE_SIZE = 512;

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const INVALID_TRACE_ID = "0".repeat(32);
const INVALID_SPAN_ID = "0".repeat(16);

/** LogRecord fields (opentelemetry/proto/logs/v1/logs.proto). */
const RECORD = tag(2, LEN); // ScopeLogs.log_records
const TIME = tag(1, I64);
const OBSERVED_TIME = tag(11, I64);
const BODY = tag(5, LEN);
const ATTRIBUTE = tag(6, LEN);
const DROPPED = tag(7, VARINT);
const FLAGS = tag(8, I32);
const RECORD_TRACE_ID = tag(9, LEN);
const RECORD_SPAN_ID = tag(10, LEN);

/** severity_number (2) and severity_text (3) of each level, encoded once. */
const SEVERITY_BYTES: Readonly<Record<string, Uint8Array>> = Object.fromEntries(
  Object.entries(SEVERITY_NUMBER).map(([level, n]) => {
    const w = new ProtoWriter(16);
    w.byte(tag(2, VARINT));
    w.varint(n);
    w.byte(tag(3, LEN));
    w.string(level.toUpperCase());
    return [level, w.copy(0)];
  }),
);
const NO_SEVERITY = new Uint8Array(0);

/** A body's sealed place in the buffer. */
interface Sealed {
  start: number;
  end: number;
  records: number;
}

/** See the module comment. */
export class LogsRequestProtobufEncoder implements LogRecordsEncoder {
  /** ResourceLogs.resource and ScopeLogs.scope, as fields. */
  readonly #resource: Uint8Array;
  readonly #scope: Uint8Array;
  /** The room left before a body's records for its frame: the frame at its largest. */
  readonly #frameRoom: number;
  readonly #maxRequestBytes: number;
  readonly #maxRecordBytes: number;
  readonly #keys = new Map<string, RepeatingKeyValue>();
  /** The last two bodies and their field (a request's two records alternate between two). */
  readonly #bodyValues: [unknown, unknown] = [undefined, undefined];
  readonly #bodyFields: [Uint8Array | undefined, Uint8Array | undefined] = [undefined, undefined];
  #nextBody = 0;
  /** One per batch out, plus the open batch's, by turns (encode.ts, REUSED_BUFFER_BYTES). */
  readonly #writers: ProtoWriter[];
  #current = 0;
  #sealed: Sealed[] = [];
  /** Where the open body's room starts; -1 when no body is open. */
  #bodyStart = -1;
  /** Bytes of the open body's record fields, and how many records. */
  #recordBytes = 0;
  #count = 0;
  /** Scratch for measuring shortened records. */
  readonly #scratch = new ProtoWriter(1024);
  truncated = 0;
  #lastTrace: LogTraceContext | undefined;
  #lastTraceValid = false;
  #lastValidTraceId = "";
  /** A request's records share their trace id: decoded from hex once. */
  readonly #traceId = new LastId(16);

  constructor(options: EncoderOptions) {
    this.#writers = Array.from(
      { length: Math.max(2, options.buffers ?? 2) },
      () => new ProtoWriter(0),
    );
    const resource = new ProtoWriter(1024);
    resource.byte(tag(1, LEN));
    const start = resource.begin();
    for (const key in options.resource) {
      if (key === "" || !Object.hasOwn(options.resource, key)) continue;
      keyValue(resource, tag(1, LEN), keyBytes(key), options.resource[key], Infinity, MAX_DEPTH);
    }
    resource.byte(tag(2, VARINT)); // dropped_attributes_count, written as the stock does
    resource.byte(0);
    resource.end(start);
    this.#resource = resource.copy(0);
    const scope = new ProtoWriter(256);
    scope.byte(tag(1, LEN));
    const scopeStart = scope.begin();
    scope.raw(stringField(1, options.scope.name));
    if (options.scope.version) scope.raw(stringField(2, options.scope.version));
    scope.end(scopeStart);
    this.#scope = scope.copy(0);
    this.#frameRoom = 1 + 5 + this.#resource.length + 1 + 5 + this.#scope.length;
    this.#maxRequestBytes = options.maxRequestBytes ?? MAX_REQUEST_BYTES;
    // A record must fit in a body of its own: its tag, length and the frame's larger lengths.
    this.#maxRecordBytes = Math.min(
      options.maxRecordBytes ?? MAX_RECORD_BYTES,
      this.#maxRequestBytes - this.#bodySize(0) - 6 - 8,
    );
  }

  get count(): number {
    let sealed = 0;
    for (const request of this.#sealed) sealed += request.records;
    return sealed + this.#count;
  }

  add(level: LogLevel, event: LogEvent, timeMs: number, trace: LogTraceContext | undefined): void {
    const w = this.#writers[this.#current]!;
    if (this.#bodyStart < 0) {
      this.#bodyStart = w.pos;
      w.ensure(this.#frameRoom);
      w.pos += this.#frameRoom;
    }
    const start = w.pos;
    try {
      w.byte(RECORD);
      const inner = w.begin(2);
      this.#record(w, level, event, timeMs, trace, Infinity, true);
      if (w.pos - inner - 2 > this.#maxRecordBytes) {
        w.pos = start;
        this.#shortened(w, level, event, timeMs, trace);
        this.truncated++;
      } else {
        w.end(inner, 2);
      }
    } catch (error) {
      w.pos = start;
      throw error;
    }
    const bytes = w.pos - start;
    if (this.#count > 0 && this.#bodySize(this.#recordBytes + bytes) > this.#maxRequestBytes) {
      // This record opens the next body: the one before ends where it starts.
      const end = w.pos;
      w.pos = start;
      this.#seal(w);
      w.pos = end;
      w.ensure(this.#frameRoom);
      w.bytes.copyWithin(start + this.#frameRoom, start, end);
      this.#bodyStart = start;
      w.pos = end + this.#frameRoom;
    }
    this.#recordBytes += bytes;
    this.#count++;
  }

  /** Nothing to do: records are bytes as soon as they are added. */
  write(): void {}

  finish(): EncodedRequest[] {
    const w = this.#writers[this.#current]!;
    if (this.#count > 0) this.#seal(w);
    else if (this.#bodyStart >= 0) w.pos = this.#bodyStart;
    const requests = this.#sealed.map(({ start, end, records }) => ({
      body: w.bytes.subarray(start, end),
      records,
    }));
    this.#sealed = [];
    this.#lastTrace = undefined;
    // The bodies stay in this buffer while they are delivered; the next batch takes the next.
    if (w.bytes.length > KEPT_WRITER_BYTES) this.#writers[this.#current] = new ProtoWriter(0);
    this.#current = (this.#current + 1) % this.#writers.length;
    this.#writers[this.#current]!.pos = 0;
    return requests;
  }

  split(body: Uint8Array): [EncodedRequest, EncodedRequest] | undefined {
    const starts = this.#recordStarts(body);
    const frame = this.#resource.length + this.#scope.length;
    if (starts === undefined || starts.length < 2 || frame <= 0) return undefined;
    const half = starts.length >> 1;
    const cut = starts[half]!;
    const body2 = (records: Uint8Array, count: number): EncodedRequest => {
      const w = new ProtoWriter(records.length + this.#frameRoom);
      const scopeLogs = this.#scope.length + records.length;
      w.byte(tag(1, LEN));
      w.varint(this.#resource.length + 1 + varintSize(scopeLogs) + scopeLogs);
      w.raw(this.#resource);
      w.byte(tag(2, LEN));
      w.varint(scopeLogs);
      w.raw(this.#scope);
      w.raw(records);
      return { body: w.bytes.subarray(0, w.pos), records: count };
    };
    return [
      body2(body.subarray(starts[0]!, cut), half),
      body2(body.subarray(cut), starts.length - half),
    ];
  }

  /**
   * Where each record of a body we wrote starts, after our frame: resource_logs { resource,
   * scope_logs { scope, log_records... } }. Undefined for any other body.
   */
  #recordStarts(body: Uint8Array): number[] | undefined {
    try {
      let at = 0;
      if (body[at++] !== tag(1, LEN)) return undefined;
      at = readVarint(body, at)[1];
      if (!startsWith(body, at, this.#resource)) return undefined;
      at += this.#resource.length;
      if (body[at++] !== tag(2, LEN)) return undefined;
      at = readVarint(body, at)[1];
      if (!startsWith(body, at, this.#scope)) return undefined;
      at += this.#scope.length;
      const starts: number[] = [];
      while (at < body.length) {
        starts.push(at);
        if (body[at++] !== RECORD) return undefined;
        const [length, next] = readVarint(body, at);
        at = next + length;
      }
      return at === body.length ? starts : undefined;
    } catch {
      return undefined; // a truncated varint: not a body of ours
    }
  }

  /** A body's bytes with `records` bytes of record fields. */
  #bodySize(records: number): number {
    const scopeLogs = this.#scope.length + records;
    const resourceLogs = this.#resource.length + 1 + varintSize(scopeLogs) + scopeLogs;
    return 1 + varintSize(resourceLogs) + resourceLogs;
  }

  /** Writes the open body's frame into the room before its records, which end at `w.pos`. */
  #seal(w: ProtoWriter): void {
    const end = w.pos;
    const recordsStart = this.#bodyStart + this.#frameRoom;
    const scopeLogs = this.#scope.length + (end - recordsStart);
    const resourceLogs = this.#resource.length + 1 + varintSize(scopeLogs) + scopeLogs;
    const start = end - (1 + varintSize(resourceLogs) + resourceLogs);
    w.pos = start;
    w.byte(tag(1, LEN)); // ExportLogsServiceRequest.resource_logs
    w.varint(resourceLogs);
    w.raw(this.#resource);
    w.byte(tag(2, LEN)); // ResourceLogs.scope_logs
    w.varint(scopeLogs);
    w.raw(this.#scope);
    w.pos = end;
    this.#sealed.push({ start, end, records: this.#count });
    this.#bodyStart = -1;
    this.#recordBytes = 0;
    this.#count = 0;
  }

  /**
   * The record as a log_records field, re-encoded to fit the record cap: the longest cap on
   * its strings that fits (binary search; only the strings over it are cut), or, if even empty
   * strings are too many bytes, the body alone with the attributes counted as dropped.
   */
  #shortened(
    w: ProtoWriter,
    level: LogLevel,
    event: LogEvent,
    timeMs: number,
    trace: LogTraceContext | undefined,
  ): void {
    const size = (maxChars: number, withAttributes: boolean) => {
      this.#scratch.pos = 0;
      this.#record(this.#scratch, level, event, timeMs, trace, maxChars, withAttributes);
      return this.#scratch.pos;
    };
    let maxChars = 0;
    let withAttributes = true;
    if (size(0, true) > this.#maxRecordBytes) {
      withAttributes = false;
      for (maxChars = this.#maxRecordBytes; maxChars > 0; maxChars >>= 1) {
        if (size(maxChars, false) <= this.#maxRecordBytes) break;
      }
    } else {
      let low = 0; // fits
      let high = this.#maxRecordBytes; // a string of more UTF-16 units cannot fit
      while (high - low > 1) {
        const mid = Math.floor((low + high) / 2);
        if (size(mid, true) <= this.#maxRecordBytes) low = mid;
        else high = mid;
      }
      maxChars = low;
    }
    w.byte(RECORD);
    const inner = w.begin(3);
    this.#record(w, level, event, timeMs, trace, maxChars, withAttributes);
    w.end(inner, 3);
    if (this.#scratch.bytes.length > KEPT_WRITER_BYTES) this.#scratch.bytes = new Uint8Array(1024);
  }

  /** One LogRecord's fields; strings longer than `maxChars` cut with the marker. */
  #record(
    w: ProtoWriter,
    level: LogLevel,
    event: LogEvent,
    timeMs: number,
    trace: LogTraceContext | undefined,
    maxChars: number,
    withAttributes: boolean,
  ): void {
    w.ensure(10);
    w.byte(TIME);
    msTime(w, timeMs);
    w.raw(SEVERITY_BYTES[level] ?? NO_SEVERITY);
    const full = maxChars === Infinity;
    const message = event.message;
    if (full && typeof message === "string" && message.length <= MAX_REMEMBERED_CHARS) {
      w.raw(this.#body(message));
    } else {
      w.byte(BODY);
      const start = w.begin();
      anyValue(w, message, maxChars, MAX_DEPTH);
      w.end(start);
    }
    let kept = 0;
    let dropped = 0;
    for (const key in event) {
      if (!isAttribute(event, key)) continue;
      if (kept === ATTRIBUTE_COUNT_LIMIT || !withAttributes) {
        dropped++;
        continue;
      }
      kept++;
      this.#attribute(w, key, event[key], maxChars);
    }
    w.ensure(2);
    w.byte(DROPPED);
    w.varint(dropped);
    if (trace !== undefined && trace !== this.#lastTrace) {
      this.#lastTrace = trace;
      this.#lastTraceValid = this.#validIds(trace);
    }
    if (trace !== undefined && this.#lastTraceValid) {
      const flags = (trace.traceFlags ?? 0) & 0xff;
      if (flags !== 0) {
        w.byte(FLAGS);
        w.fixed32(flags);
      }
      w.byte(RECORD_TRACE_ID);
      this.#traceId.write(w, trace.traceId);
      w.byte(RECORD_SPAN_ID);
      w.hexId(trace.spanId, 8);
    }
    w.byte(OBSERVED_TIME);
    msTime(w, timeMs);
  }

  /** The body field of a short string message, one of the last two as cached bytes. */
  #body(message: string): Uint8Array {
    if (message === this.#bodyValues[0]) return this.#bodyFields[0]!;
    if (message === this.#bodyValues[1]) return this.#bodyFields[1]!;
    const w = new ProtoWriter(message.length * 3 + 8);
    w.byte(BODY);
    const start = w.begin();
    w.byte(tag(1, LEN));
    w.string(message);
    w.end(start);
    const field = w.copy(0);
    const slot = this.#nextBody;
    this.#bodyValues[slot] = message;
    this.#bodyFields[slot] = field;
    this.#nextBody = slot ^ 1;
    return field;
  }

  /** One attribute field; a short value repeated from the last records as kept bytes. */
  #attribute(w: ProtoWriter, key: string, value: unknown, maxChars: number): void {
    let entry = this.#keys.get(key);
    if (entry === undefined) {
      entry = new RepeatingKeyValue(key);
      if (this.#keys.size < KEY_CACHE_SIZE) this.#keys.set(key, entry);
    }
    entry.write(w, ATTRIBUTE, value, maxChars, MAX_DEPTH);
  }

  /** Both ids lowercase hex of their length and not all zero; the trace id checked once. */
  #validIds(trace: LogTraceContext): boolean {
    const { traceId, spanId } = trace;
    if (traceId !== this.#lastValidTraceId) {
      if (!TRACE_ID.test(traceId) || traceId === INVALID_TRACE_ID) return false;
      this.#lastValidTraceId = traceId;
    }
    return SPAN_ID.test(spanId) && spanId !== INVALID_SPAN_ID;
  }
}

function startsWith(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

/** Epoch milliseconds as fixed64 nanoseconds, exactly (what is not a positive time is 0). */
function msTime(w: ProtoWriter, ms: number): void {
  if (!(ms > 0) || !Number.isFinite(ms)) return w.fixed64(0, 0);
  const whole = Math.floor(ms);
  const seconds = Math.floor(whole / 1000);
  w.hrTime(seconds, (whole - seconds * 1000) * 1e6 + Math.round((ms - whole) * 1e6));
}
