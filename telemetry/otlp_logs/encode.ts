/**
 * OTLP/HTTP JSON ExportLogsServiceRequest, written straight from the logger's events: the
 * resource and scope are encoded once, when the encoder is built, and each record becomes one
 * JSON string as it is read out of the buffer (no SDK LogRecord, no intermediate object tree);
 * the batch is joined and UTF-8 encoded once. The output follows the OTLP JSON mapping the stock serializer
 * (otlp-transformer's JsonLogsSerializer) produces: hex trace and span ids, nanosecond times as
 * decimal strings, attributes as `{key, value: AnyValue}` with integers as `intValue`,
 * fractions as `doubleValue`, objects as `kvlistValue`, arrays as `arrayValue`. What a
 * collector would refuse is left out instead of sent: an empty attribute key, ids that are not
 * lowercase hex of the right length (or all zero).
 *
 * Size: one request body stays within {@linkcode MAX_REQUEST_BYTES}; a batch that would pass
 * it is split into several requests, in order. A record over {@linkcode MAX_RECORD_BYTES} is
 * kept, its longest strings cut with the one truncation marker until it fits, and counted in
 * {@linkcode LogsRequestEncoder.truncated}. The UTF-8 size is counted only when the cheap bound
 * (3 bytes per UTF-16 unit) says a limit may be near, so a usual batch is never measured.
 */
import type { LogLevel, LogTraceContext } from "../logger.ts";
import { truncateText, utf8Length } from "../util/text.ts";
import type { LogEvent } from "./buffer.ts";

/**
 * The largest OTLP/HTTP logs request body we send, uncompressed: 4 MiB. The strictest receiver
 * we target documents 5 MB (CloudWatch's OTLP endpoint, uncompressed; it refuses larger
 * requests); the OpenTelemetry Collector's otlphttp receiver takes 20 MiB by default
 * (confighttp `max_request_body_size`) and answers 413 past it. A full default batch of the
 * logger's usual records (~1 KB each) is ~0.5 MB, so this only splits batches of big records.
 */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/**
 * The largest single record, encoded: 512 KiB. Honeycomb turns each record into an event that
 * "must be less than 1 MB of uncompressed JSON", and CloudWatch's OTLP logs endpoint truncates
 * events over 1 MB; half of it leaves room for the resource attributes copied onto each event.
 * The logger's own caps (32 fields of 2,048 characters) keep records far below it unless
 * OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT is raised.
 */
export const MAX_RECORD_BYTES = 512 * 1024;

/** One request body and the records it carries. */
export interface EncodedRequest {
  /**
   * The body: a view into one of the encoder's reused buffers, valid until as many more
   * {@linkcode LogsRequestEncoder.finish} calls as the encoder has buffers less one (the
   * batcher has at most that many batches out, and they settle in order).
   */
  body: Uint8Array;
  records: number;
}

/**
 * The encoder writes its records into the buffers it keeps, by turns (a default batch is ~0.5
 * MB; one buffer per batch out, plus the open batch's): a fresh one per batch would stay
 * allocated, dead, until V8's next full GC, since the delivery holds it across the call. A
 * buffer a rare large batch grew past this is not kept.
 */
const REUSED_BUFFER_BYTES = 3 * 1024 * 1024;

/** Event members that are the record's own fields or its resource, not attributes. */
const NOT_ATTRIBUTES = new Set(["timestamp", "level", "message", "service", "trace_id", "span_id"]);

/** The SDK's default attribute count limit; the logger keeps far fewer (32 fields). */
export const ATTRIBUTE_COUNT_LIMIT = 128;

/** Nesting kept in a value; the logger caps at 3 levels, this guards any other caller. */
const MAX_DEPTH = 8;

/** Attribute keys whose encoded prefix is cached (the logger's field names are few). */
const KEY_CACHE_SIZE = 512;
/** Longest attribute value whose encoding is remembered for the next record. */
const MAX_REMEMBERED_VALUE = 256;

/** Severity numbers of the OpenTelemetry logs data model. */
export const SEVERITY_NUMBER: Readonly<Record<LogLevel, number>> = {
  debug: 5,
  info: 9,
  warn: 13,
  error: 17,
};
/** The record's severity members, written once per level. */
const SEVERITY_FIELDS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(SEVERITY_NUMBER).map(([level, n]) => [
    level,
    `,"severityNumber":${n},"severityText":"${level.toUpperCase()}"`,
  ]),
);

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);
const COMMA = 44;
/** How every record's JSON starts. */
const RECORD_START = utf8.encode(`{"timeUnixNano":"`);

function matches(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (bytes[at + i] !== expected[i]) return false;
  return true;
}
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const INVALID_TRACE_ID = "0".repeat(32);
const INVALID_SPAN_ID = "0".repeat(16);

/** What every request of one pipeline shares. */
export interface EncoderOptions {
  /** Resource attributes (service.name, host.name, ...). */
  resource: Readonly<Record<string, unknown>>;
  scope: { name: string; version?: string };
  /** Body cap (tests: smaller); default {@linkcode MAX_REQUEST_BYTES}. */
  maxRequestBytes?: number;
  /** Record cap (tests: smaller); default {@linkcode MAX_RECORD_BYTES}. */
  maxRecordBytes?: number;
  /** Buffers used by turns: the batches out at most plus one. Default 2 (one batch out). */
  buffers?: number;
}

/**
 * Builds ExportLogsServiceRequest bodies in one encoding (encode.ts JSON, encode_protobuf.ts
 * protobuf): {@linkcode add} each record, {@linkcode write} at the end of a turn,
 * {@linkcode finish} for the bodies (one, or several past the body cap). Reusable after it.
 */
export interface LogRecordsEncoder {
  /** Records added since the last {@linkcode finish}. */
  readonly count: number;
  /** Records shortened to fit the record cap since the caller last reset it. */
  truncated: number;
  /** Appends one record. Throws only if the event itself does (a throwing getter). */
  add(level: LogLevel, event: LogEvent, timeMs: number, trace: LogTraceContext | undefined): void;
  /** Ends a turn: whatever is held as text becomes bytes. */
  write(): void;
  /** Every body of the records added, in order; the next request starts empty. */
  finish(): EncodedRequest[];
  /**
   * A body this encoder wrote as two bodies of half its records each (fresh buffers), for a
   * receiver that answered 413; undefined for a body of one record or one it cannot read.
   */
  split(body: Uint8Array): [EncodedRequest, EncodedRequest] | undefined;
}

/** The request's closing brackets: `]}]}]}`. */
const TAIL = "]}]}]}";

/**
 * One attribute key's encoding: its `{"key":…,"value":` prefix, and the whole member for the
 * last string value it had. The access log's fields (method, route, path, user agent, client
 * address, the X-Ray id both records of a request carry) repeat record after record, and
 * comparing a string with the last one costs a fraction of quoting it again.
 */
interface KeyEncoding {
  prefix: string;
  lastValue: string | undefined;
  /** `prefix` + the AnyValue of `lastValue` + `}`. */
  lastMember: string;
}

/** The last two bodies and their AnyValue (a request's two records alternate between two). */
class RecentBodies {
  #values: [string, string] = ["", ""];
  #texts: [string, string] = ['{"stringValue":""}', '{"stringValue":""}'];
  #next = 0;

  anyValue(value: string): string {
    if (value === this.#values[0]) return this.#texts[0];
    if (value === this.#values[1]) return this.#texts[1];
    const text = `{"stringValue":${JSON.stringify(value)}}`;
    const slot = this.#next;
    this.#values[slot] = value;
    this.#texts[slot] = text;
    this.#next = slot ^ 1;
    return text;
  }
}

/**
 * Builds ExportLogsServiceRequests: {@linkcode add} each record, {@linkcode write} at the end of
 * a turn (the text so far becomes UTF-8 bytes, so neither the events nor their text outlive the
 * turn), then {@linkcode finish} for the UTF-8 bodies (one, or several when the records pass
 * the body cap). Reusable after `finish`.
 */
export class LogsRequestEncoder implements LogRecordsEncoder {
  /** Everything before the first record: resource and scope, encoded once. */
  readonly #head: string;
  /** UTF-8 bytes of the head and the tail: every body's fixed part. */
  readonly #baseBytes: number;
  readonly #maxRequestBytes: number;
  readonly #maxRecordBytes: number;
  /** The encodings of the common attribute keys. */
  readonly #keys = new Map<string, KeyEncoding>();
  readonly #bodies = new RecentBodies();
  /** Bodies already full (where they are in the buffer), waiting for {@linkcode finish}. */
  #sealed: { start: number; end: number; records: number }[] = [];
  /** The buffers the batches are written into by turns; see {@linkcode REUSED_BUFFER_BYTES}. */
  readonly #buffers: Uint8Array[];
  /** The buffer of the open batch (the others hold the batches last finished). */
  #current = 0;
  /** Bytes of the current buffer in use. */
  #at = 0;
  /** Where the current body starts in the buffer; -1 until its head is written. */
  #bodyStart = -1;
  /** UTF-8 bytes of the current body's records already in the buffer. */
  #bodyWritten = 0;
  /** The current body's records not yet written, comma-separated. */
  #records = "";
  #count = 0;
  /** The current body's size: an upper bound (3 bytes a unit) until measured, then exact. */
  #bytes = 0;
  #measured = false;
  /** Records shortened to fit {@linkcode MAX_RECORD_BYTES} since the last {@linkcode finish}. */
  truncated = 0;
  #lastMs = Number.NaN;
  #lastTime = "";
  /** The two records of a request share their span's ids: checked once. */
  #lastTrace: LogTraceContext | undefined;
  #lastTraceValid = false;
  /** The last trace id found valid (a request's records share it, from different spans). */
  #lastValidTraceId = "";

  constructor(options: EncoderOptions) {
    this.#buffers = Array.from({ length: Math.max(2, options.buffers ?? 2) }, () => EMPTY);
    const version = options.scope.version === undefined
      ? ""
      : `,"version":${JSON.stringify(options.scope.version)}`;
    this.#head = `{"resourceLogs":[{"resource":{"attributes":${
      keyValues(options.resource, 0)
    }},"scopeLogs":[{"scope":{"name":${
      JSON.stringify(options.scope.name)
    }${version}},"logRecords":[`;
    this.#baseBytes = utf8Length(this.#head) + TAIL.length;
    this.#maxRequestBytes = options.maxRequestBytes ?? MAX_REQUEST_BYTES;
    // A record must fit in a body of its own (the comma before it counted).
    this.#maxRecordBytes = Math.min(
      options.maxRecordBytes ?? MAX_RECORD_BYTES,
      this.#maxRequestBytes - this.#baseBytes - 1,
    );
    this.#bytes = this.#baseBytes;
  }

  /** Records added since the last {@linkcode finish}. */
  get count(): number {
    let sealed = 0;
    for (const request of this.#sealed) sealed += request.records;
    return sealed + this.#count;
  }

  /** Appends one record. Throws only if the event itself does (a throwing getter). */
  add(level: LogLevel, event: LogEvent, timeMs: number, trace: LogTraceContext | undefined): void {
    let record = this.#record(level, event, timeMs, trace, Infinity, true);
    // An upper bound first; the exact count only when a limit may be near.
    let bytes = record.length * 3;
    let exact = false;
    if (bytes > this.#maxRecordBytes) {
      bytes = utf8Length(record);
      exact = true;
      if (bytes > this.#maxRecordBytes) {
        record = this.#shortened(level, event, timeMs, trace);
        bytes = utf8Length(record);
        this.truncated++;
      }
    }
    if (this.#measured && !exact) {
      bytes = utf8Length(record);
      exact = true;
    }
    if (this.#count > 0 && this.#bytes + 1 + bytes > this.#maxRequestBytes) {
      if (!this.#measured) {
        // Measure once what is already here; from now on every record is counted exactly.
        this.#bytes = this.#baseBytes + this.#bodyWritten + utf8Length(this.#records);
        this.#measured = true;
        if (!exact) bytes = utf8Length(record);
      }
      if (this.#bytes + 1 + bytes > this.#maxRequestBytes) this.#seal();
    }
    this.#bytes += this.#count === 0 ? bytes : bytes + 1;
    this.#records += this.#count++ === 0 ? record : `,${record}`;
  }

  /** Writes the records added so far into the buffer as UTF-8 (the end of a turn). */
  write(): void {
    if (this.#records === "") return;
    if (this.#bodyStart < 0) {
      this.#bodyStart = this.#at;
      this.#writeText(this.#head);
    }
    this.#bodyWritten += this.#writeText(this.#records);
    this.#records = "";
  }

  /** Every body of the records added, in order, as UTF-8; the next request starts empty. */
  finish(): EncodedRequest[] {
    if (this.#count > 0) this.#seal();
    const sealed = this.#sealed;
    this.#sealed = [];
    this.#lastTrace = undefined;
    const buffer = this.#buffers[this.#current]!;
    const requests = sealed.map(({ start, end, records }) => ({
      body: buffer.subarray(start, end),
      records,
    }));
    // The bodies stay in this buffer while they are delivered; the next batch takes the next.
    if (buffer.length > REUSED_BUFFER_BYTES) this.#buffers[this.#current] = EMPTY;
    this.#current = (this.#current + 1) % this.#buffers.length;
    this.#at = 0;
    return requests;
  }

  split(body: Uint8Array): [EncodedRequest, EncodedRequest] | undefined {
    const head = utf8.encode(this.#head);
    const tail = TAIL.length;
    for (let i = 0; i < head.length; i++) if (body[i] !== head[i]) return undefined;
    // Each record after the first starts with `,{"timeUnixNano":"`; inside a JSON string a
    // quote is escaped, so the sequence marks a record boundary and nothing else.
    const starts = [head.length];
    for (let at = head.length; at < body.length - tail; at++) {
      if (body[at] === COMMA && matches(body, at + 1, RECORD_START)) starts.push(at + 1);
    }
    if (starts.length < 2) return undefined;
    const half = starts.length >> 1;
    const cut = starts[half]!;
    const closing = utf8.encode(TAIL);
    const join = (records: Uint8Array, count: number): EncodedRequest => {
      const out = new Uint8Array(head.length + records.length + closing.length);
      out.set(head);
      out.set(records, head.length);
      out.set(closing, head.length + records.length);
      return { body: out, records: count };
    };
    return [
      join(body.subarray(head.length, cut - 1), half),
      join(body.subarray(cut, body.length - tail), starts.length - half),
    ];
  }

  /** Appends `text` to the current buffer as UTF-8 (grown to fit); returns the bytes written. */
  #writeText(text: string): number {
    let buffer = this.#buffers[this.#current]!;
    // At most 3 bytes per UTF-16 unit.
    const needed = this.#at + text.length * 3;
    if (needed > buffer.length) {
      const grown = new Uint8Array(Math.max(needed, buffer.length * 2, 64 * 1024));
      grown.set(buffer.subarray(0, this.#at));
      this.#buffers[this.#current] = buffer = grown;
    }
    const written = utf8.encodeInto(text, buffer.subarray(this.#at)).written;
    this.#at += written;
    return written;
  }

  /** Closes the current body and starts the next one. */
  #seal(): void {
    this.write();
    this.#writeText(TAIL);
    this.#sealed.push({ start: this.#bodyStart, end: this.#at, records: this.#count });
    this.#bodyStart = -1;
    this.#bodyWritten = 0;
    this.#count = 0;
    this.#bytes = this.#baseBytes;
    this.#measured = false;
  }

  /** One record's JSON; strings longer than `maxChars` cut with the marker. */
  #record(
    level: LogLevel,
    event: LogEvent,
    timeMs: number,
    trace: LogTraceContext | undefined,
    maxChars: number,
    withAttributes: boolean,
  ): string {
    if (timeMs !== this.#lastMs) {
      this.#lastMs = timeMs;
      this.#lastTime = unixNanos(timeMs);
    }
    // The full-length encoding (every record's, bar one being shortened) reuses repeated text.
    const full = maxChars === Infinity;
    const message = event.message;
    const body = full && typeof message === "string"
      ? this.#bodies.anyValue(message)
      : anyValue(message, 0, maxChars);
    let record = `{"timeUnixNano":"${this.#lastTime}","observedTimeUnixNano":"${this.#lastTime}"${
      SEVERITY_FIELDS[level] ?? `,"severityNumber":0`
    },"body":${body},"attributes":[`;
    let kept = 0;
    let dropped = 0;
    for (const key in event) {
      if (!isAttribute(event, key)) continue;
      if (kept === ATTRIBUTE_COUNT_LIMIT || !withAttributes) {
        dropped++;
        continue;
      }
      record += `${kept++ === 0 ? "" : ","}${this.#member(key, event[key], full, maxChars)}`;
    }
    record += "]";
    if (dropped > 0) record += `,"droppedAttributesCount":${dropped}`;
    if (trace !== undefined && trace !== this.#lastTrace) {
      this.#lastTrace = trace;
      this.#lastTraceValid = this.#validIds(trace);
    }
    if (trace !== undefined && this.#lastTraceValid) {
      record += `,"traceId":"${trace.traceId}","spanId":"${trace.spanId}","flags":${
        (trace.traceFlags ?? 0) & 0xff
      }`;
    }
    return `${record}}`;
  }

  /**
   * The record re-encoded to fit {@linkcode MAX_RECORD_BYTES}: the longest cap on its strings
   * that fits (binary search; only the strings over it are cut), or, if even empty strings
   * are too many bytes, the body alone with the attributes counted as dropped.
   */
  #shortened(
    level: LogLevel,
    event: LogEvent,
    timeMs: number,
    trace: LogTraceContext | undefined,
  ): string {
    const fits = (maxChars: number) =>
      utf8Length(this.#record(level, event, timeMs, trace, maxChars, true)) <=
        this.#maxRecordBytes;
    if (!fits(0)) {
      for (let maxChars = this.#maxRecordBytes; maxChars > 0; maxChars >>= 1) {
        const record = this.#record(level, event, timeMs, trace, maxChars, false);
        if (utf8Length(record) <= this.#maxRecordBytes) return record;
      }
      return this.#record(level, event, timeMs, trace, 0, false);
    }
    let low = 0; // fits
    let high = this.#maxRecordBytes; // a string of more UTF-16 units cannot fit
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (fits(mid)) low = mid;
      else high = mid;
    }
    return this.#record(level, event, timeMs, trace, low, true);
  }

  /** One attribute's `{"key":…,"value":…}`. */
  #member(key: string, value: unknown, full: boolean, maxChars: number): string {
    let known = this.#keys.get(key);
    if (known === undefined) {
      known = {
        prefix: `{"key":${JSON.stringify(key)},"value":`,
        lastValue: undefined,
        lastMember: "",
      };
      if (this.#keys.size < KEY_CACHE_SIZE) this.#keys.set(key, known);
    }
    // Only short values are remembered: the memo holds at most KEY_CACHE_SIZE of them.
    if (!full || typeof value !== "string" || value.length > MAX_REMEMBERED_VALUE) {
      return `${known.prefix}${anyValue(value, 0, maxChars)}}`;
    }
    if (value !== known.lastValue) {
      known.lastValue = value;
      known.lastMember = `${known.prefix}{"stringValue":${JSON.stringify(value)}}}`;
    }
    return known.lastMember;
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

/** True for the event members that become attributes (not the record's own fields). */
export function isAttribute(event: LogEvent, key: string): boolean {
  return key !== "" && !NOT_ATTRIBUTES.has(key) && Object.hasOwn(event, key);
}

/** Epoch milliseconds as decimal nanoseconds, exactly (a double cannot hold ms × 10⁶). */
export function unixNanos(ms: number): string {
  if (!(ms > 0) || !Number.isFinite(ms)) return "0";
  if (Number.isSafeInteger(ms)) return `${ms}000000`;
  const whole = Math.floor(ms);
  return (BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6))).toString();
}

/** An attribute list: `[{"key":…,"value":…},…]`, empty keys left out. */
function keyValues(
  object: Readonly<Record<string, unknown>>,
  depth: number,
  maxChars = Infinity,
): string {
  let out = "";
  for (const key in object) {
    if (key === "" || !Object.hasOwn(object, key)) continue;
    out += `${out === "" ? "" : ","}{"key":${JSON.stringify(key)},"value":${
      anyValue(object[key], depth, maxChars)
    }}`;
  }
  return `[${out}]`;
}

/**
 * One OTLP AnyValue as JSON; `{}` (the empty value) for null and what has no OTLP form.
 * Strings longer than `maxChars` UTF-16 units are cut with the truncation marker.
 */
export function anyValue(value: unknown, depth: number, maxChars = Infinity): string {
  switch (typeof value) {
    case "string":
      return `{"stringValue":${
        JSON.stringify(value.length > maxChars ? truncateText(value, maxChars) : value)
      }}`;
    case "number":
      // int64 in JSON: a number is exact within 2^53; past it the double is the value.
      if (Number.isSafeInteger(value)) return `{"intValue":${value}}`;
      // Proto3 JSON spells the non-finite doubles as strings.
      return Number.isFinite(value) ? `{"doubleValue":${value}}` : `{"doubleValue":"${value}"}`;
    case "boolean":
      return value ? `{"boolValue":true}` : `{"boolValue":false}`;
    case "bigint":
      return `{"stringValue":"${value}"}`;
    case "object": {
      if (value === null || depth >= MAX_DEPTH) return "{}";
      if (Array.isArray(value)) {
        let out = "";
        for (let i = 0; i < value.length; i++) {
          out += (i === 0 ? "" : ",") + anyValue(value[i], depth + 1, maxChars);
        }
        return `{"arrayValue":{"values":[${out}]}}`;
      }
      if (value instanceof Uint8Array) return `{"bytesValue":"${base64(value)}"}`;
      return `{"kvlistValue":{"values":${
        keyValues(value as Record<string, unknown>, depth + 1, maxChars)
      }}}`;
    }
    default:
      return "{}";
  }
}

function base64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
  return btoa(text);
}
