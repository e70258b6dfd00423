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
 */
import type { LogLevel, LogTraceContext } from "../logger.ts";
import type { LogEvent } from "./buffer.ts";

/** Event members that are the record's own fields or its resource, not attributes. */
const NOT_ATTRIBUTES = new Set(["timestamp", "level", "message", "service", "trace_id", "span_id"]);

/** The SDK's default attribute count limit; the logger keeps far fewer (32 fields). */
export const ATTRIBUTE_COUNT_LIMIT = 128;

/** Nesting kept in a value; the logger caps at 3 levels, this guards any other caller. */
const MAX_DEPTH = 8;

/** Attribute keys whose encoded prefix is cached (the logger's field names are few). */
const KEY_CACHE_SIZE = 512;

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
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const INVALID_TRACE_ID = "0".repeat(32);
const INVALID_SPAN_ID = "0".repeat(16);

/** What every request of one pipeline shares. */
export interface EncoderOptions {
  /** Resource attributes (service.name, host.name, ...). */
  resource: Readonly<Record<string, unknown>>;
  scope: { name: string; version?: string };
}

/**
 * Builds one ExportLogsServiceRequest at a time: {@linkcode add} each record, then
 * {@linkcode finish} for the UTF-8 body. Reusable after `finish`.
 */
export class LogsRequestEncoder {
  /** Everything before the first record: resource and scope, encoded once. */
  readonly #head: string;
  /** `{"key":"name","value":` of the common attribute keys. */
  readonly #keys = new Map<string, string>();
  /** The records so far, comma-separated: one string, flattened once by the UTF-8 encode. */
  #records = "";
  #count = 0;
  #lastMs = Number.NaN;
  #lastTime = "";
  /** The two records of a request share their span's ids: checked once. */
  #lastTrace: LogTraceContext | undefined;
  #lastTraceValid = false;

  constructor(options: EncoderOptions) {
    const version = options.scope.version === undefined
      ? ""
      : `,"version":${JSON.stringify(options.scope.version)}`;
    this.#head = `{"resourceLogs":[{"resource":{"attributes":${
      keyValues(options.resource, 0)
    }},"scopeLogs":[{"scope":{"name":${
      JSON.stringify(options.scope.name)
    }${version}},"logRecords":[`;
  }

  /** Records added since the last {@linkcode finish}. */
  get count(): number {
    return this.#count;
  }

  /** Appends one record. Throws only if the event itself does (a throwing getter). */
  add(level: LogLevel, event: LogEvent, timeMs: number, trace: LogTraceContext | undefined): void {
    if (timeMs !== this.#lastMs) {
      this.#lastMs = timeMs;
      this.#lastTime = unixNanos(timeMs);
    }
    let record = `{"timeUnixNano":"${this.#lastTime}","observedTimeUnixNano":"${this.#lastTime}"${
      SEVERITY_FIELDS[level] ?? `,"severityNumber":0`
    },"body":${anyValue(event.message, 0)},"attributes":[`;
    let kept = 0;
    let dropped = 0;
    for (const key in event) {
      if (!isAttribute(event, key)) continue;
      if (kept === ATTRIBUTE_COUNT_LIMIT) {
        dropped++;
        continue;
      }
      record += `${kept++ === 0 ? "" : ","}${this.#keyPrefix(key)}${anyValue(event[key], 0)}}`;
    }
    record += "]";
    if (dropped > 0) record += `,"droppedAttributesCount":${dropped}`;
    if (trace !== undefined && trace !== this.#lastTrace) {
      this.#lastTrace = trace;
      this.#lastTraceValid = validIds(trace);
    }
    if (trace !== undefined && this.#lastTraceValid) {
      record += `,"traceId":"${trace.traceId}","spanId":"${trace.spanId}","flags":${
        (trace.traceFlags ?? 0) & 0xff
      }`;
    }
    this.#records += this.#count++ === 0 ? `${record}}` : `,${record}}`;
  }

  /** The request body of every record added, as UTF-8; the next request starts empty. */
  finish(): Uint8Array {
    const body = utf8.encode(`${this.#head}${this.#records}]}]}]}`);
    this.#records = "";
    this.#count = 0;
    this.#lastTrace = undefined;
    return body;
  }

  #keyPrefix(key: string): string {
    let prefix = this.#keys.get(key);
    if (prefix === undefined) {
      prefix = `{"key":${JSON.stringify(key)},"value":`;
      if (this.#keys.size < KEY_CACHE_SIZE) this.#keys.set(key, prefix);
    }
    return prefix;
  }
}

/** True for the event members that become attributes (not the record's own fields). */
export function isAttribute(event: LogEvent, key: string): boolean {
  return key !== "" && !NOT_ATTRIBUTES.has(key) && Object.hasOwn(event, key);
}

function validIds(trace: LogTraceContext): boolean {
  return TRACE_ID.test(trace.traceId) && SPAN_ID.test(trace.spanId) &&
    trace.traceId !== INVALID_TRACE_ID && trace.spanId !== INVALID_SPAN_ID;
}

/** Epoch milliseconds as decimal nanoseconds, exactly (a double cannot hold ms × 10⁶). */
export function unixNanos(ms: number): string {
  if (!(ms > 0) || !Number.isFinite(ms)) return "0";
  if (Number.isSafeInteger(ms)) return `${ms}000000`;
  const whole = Math.floor(ms);
  return (BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6))).toString();
}

/** An attribute list: `[{"key":…,"value":…},…]`, empty keys left out. */
function keyValues(object: Readonly<Record<string, unknown>>, depth: number): string {
  let out = "";
  for (const key in object) {
    if (key === "" || !Object.hasOwn(object, key)) continue;
    out += `${out === "" ? "" : ","}{"key":${JSON.stringify(key)},"value":${
      anyValue(object[key], depth)
    }}`;
  }
  return `[${out}]`;
}

/** One OTLP AnyValue as JSON; `{}` (the empty value) for null and what has no OTLP form. */
export function anyValue(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      return `{"stringValue":${JSON.stringify(value)}}`;
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
          out += (i === 0 ? "" : ",") + anyValue(value[i], depth + 1);
        }
        return `{"arrayValue":{"values":[${out}]}}`;
      }
      if (value instanceof Uint8Array) return `{"bytesValue":"${base64(value)}"}`;
      return `{"kvlistValue":{"values":${keyValues(value as Record<string, unknown>, depth + 1)}}}`;
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
