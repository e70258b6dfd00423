/**
 * The structured logger. Every event is one JSON object (control characters escaped by the
 * serialiser, strings length-capped) carrying the active trace and span ids, so no input can
 * forge a second event and every line leads to its trace. Console output is buffered and
 * written off the request path; the CloudWatch sink receives the same JSON line.
 */
import { NOT_PLAIN, redactText, scrubShapes } from "./scrub.ts";
import { detached } from "./util/text.ts";
import type { LogLine } from "./types.ts";

/** Severity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVELS: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
const MAX_MESSAGE = 4096;
const MAX_STRING_FIELD = 2048;
const MAX_FIELDS = 32;
const RESERVED = new Set([
  "timestamp",
  "level",
  "message",
  "service",
  "trace_id",
  "span_id",
  "xray_trace_id",
]);

/** Trace identifiers of the active span, when there is one. */
export interface LogTraceContext {
  traceId: string;
  spanId: string;
  /** W3C trace flags of the span (sampled bit), for sinks that link records to it. */
  traceFlags?: number;
  xrayTraceId?: string;
}

/**
 * Receives every kept event as the object the JSON line is made of (already scrubbed and
 * capped), with its time and the span it was written in. Never throws.
 */
export interface LogRecordSink {
  emit(
    level: LogLevel,
    event: Readonly<Record<string, unknown>>,
    detail: { timeMs: number; trace: LogTraceContext | undefined },
  ): void;
}

/** The logger the app and the services receive. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** True when events of this level are kept (skip building fields otherwise). */
  enabled(level: LogLevel): boolean;
  /** Logs with explicit trace ids, for callers that hold them (saves entering a context). */
  logWith(
    level: LogLevel,
    trace: LogTraceContext | undefined,
    message: string,
    fields?: Record<string, unknown>,
  ): void;
  /** Waits, by `deadlineMs` at the latest, until the console has every line (main.ts's last). */
  flush(deadlineMs: number): Promise<void>;
}

/** Options of `createLogger`. */
export interface LoggerOptions {
  service: string;
  level: LogLevel;
  /** `auto`: `pretty` when stdout is a terminal, else `json` (one serialisation per event). */
  format: "pretty" | "json" | "auto";
  /** Whether stdout is a terminal, for `auto` (default: `Deno.stdout.isTerminal()`). */
  isTerminal?: () => boolean;
  /** Console output, one line at a time (buffered by the caller). */
  write: (line: string) => void;
  /** Waits for the console output by a deadline (see Logger.flush). */
  flush?: (deadlineMs: number) => Promise<void>;
  /** Optional remote sink (CloudWatch) fed the JSON line. */
  sink?: { push(line: LogLine): void };
  /** Optional structured consumer (OTLP logs) fed the event after scrubbing and caps. */
  records?: LogRecordSink;
  /** Reads the active trace context. */
  traceContext: () => LogTraceContext | undefined;
  /** The active request's secret values, scrubbed from every string of an event. */
  secrets?: () => ReadonlySet<string> | undefined;
  now?: () => number;
}

/** Caps a string by UTF-16 length, marking the cut; the result never pins the input. */
export function cap(text: string, max: number): string {
  if (text.length <= max) return text;
  return detached(`${text.slice(0, max)}…[truncated ${text.length - max}]`);
}

/** Scrubs a string of secret shapes and of the request's secrets (longest first, or none). */
function scrubWith(text: string, secrets: readonly string[] | undefined): string {
  const out = scrubShapes(text);
  return secrets === undefined ? out : redactText(out, secrets);
}

function capValue(value: unknown, secrets: readonly string[] | undefined, depth = 0): unknown {
  if (typeof value === "string") return cap(scrubWith(value, secrets), MAX_STRING_FIELD);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return value;
  if (value instanceof Error) {
    return { type: value.name, message: cap(scrubWith(value.message, secrets), MAX_STRING_FIELD) };
  }
  if (typeof value === "bigint") return value.toString();
  if (depth >= 3 || typeof value !== "object") return String(typeof value);
  if (Array.isArray(value)) {
    return value.slice(0, MAX_FIELDS).map((v) => capValue(v, secrets, depth + 1));
  }
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (++n > MAX_FIELDS) break;
    out[cap(key, 64)] = capValue(v, secrets, depth + 1);
  }
  return out;
}

/**
 * The ISO-8601 form of epoch milliseconds, with the text up to the second kept: events of one
 * second share it, and only the milliseconds are formatted (a Date and its ISO string per
 * event cost more than the event's JSON).
 */
function createTimestamps(): (ms: number) => string {
  let second = Number.NaN;
  let prefix = "";
  return (ms) => {
    const whole = Math.floor(ms / 1000);
    if (whole !== second) {
      const iso = new Date(whole * 1000).toISOString();
      // "…T12:34:56.000Z": everything before the milliseconds.
      prefix = iso.slice(0, -4);
      second = whole;
    }
    const milli = ms - whole * 1000;
    if (!Number.isInteger(milli)) return new Date(ms).toISOString();
    return `${prefix}${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z`;
  };
}

/**
 * An event's JSON line written directly, when every string in it is plain (see NOT_PLAIN: no
 * secret shape, nothing to escape), short enough to keep and not a reserved name, and every
 * value a string, a number, a boolean or null: then the line is what `JSON.stringify` gives
 * for the event object, key for key, and the strings need no scrubbing: no scrub test per
 * string and no call into the serialiser. Returns undefined for any other event, which takes
 * the general path.
 */
/**
 * Whether each string seen lately is plain (NOT_PLAIN), by value: the strings of log events
 * recur (methods, paths, routes, messages, user agents), and a look-up costs less than the
 * test (in a profile of the two lines of a feed request, the expression was a fifth of them).
 * Bounded: when full it starts over; longer strings are tested each time.
 */
const plainTexts = new Map<string, boolean>();
const MAX_PLAIN_TEXTS = 1024;
const MAX_PLAIN_TEXT_LENGTH = 256;

/** Trace ids as the tracer makes them (hex, X-Ray's dashes): plain, and new every request. */
const IDS = /^[0-9a-f -]*$/;

function isPlain(text: string): boolean {
  if (text.length > MAX_PLAIN_TEXT_LENGTH) return !NOT_PLAIN.test(text);
  let plain = plainTexts.get(text);
  if (plain === undefined) {
    plain = !NOT_PLAIN.test(text);
    if (plainTexts.size >= MAX_PLAIN_TEXTS) plainTexts.clear();
    plainTexts.set(text, plain);
  }
  return plain;
}

function plainLine(
  head: string,
  message: string,
  tail: { json: string; text: string },
  fields: Record<string, unknown> | undefined,
): string | undefined {
  if (message.length > MAX_MESSAGE || !isPlain(message) || !IDS.test(tail.text)) return undefined;
  let body = "";
  if (fields) {
    let n = 0;
    for (const key in fields) {
      const value = fields[key];
      if (value === undefined) continue;
      if (++n > MAX_FIELDS || key.length > 64 || RESERVED.has(key)) return undefined;
      if (!isPlain(key)) return undefined;
      if (typeof value === "string") {
        if (value.length > MAX_STRING_FIELD || !isPlain(value)) return undefined;
        body += `,"${key}":"${value}"`;
      } else if (typeof value === "number") {
        body += `,"${key}":${Number.isFinite(value) ? value : "null"}`;
      } else if (typeof value === "boolean" || value === null) {
        body += `,"${key}":${value}`;
      } else {
        return undefined;
      }
    }
  }
  return `${head}"${message}"${tail.json}${body}}`;
}

function prettyLine(event: Record<string, unknown>): string {
  const { timestamp, level, message, ...rest } = event;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
  const text = JSON.stringify(message).slice(1, -1);
  return `${timestamp} ${String(level).toUpperCase().padEnd(5)} ${text}${
    fields ? ` ${fields}` : ""
  }`;
}

/** Creates the logger. */
export function createLogger(options: LoggerOptions): Logger {
  const threshold = LEVELS[options.level];
  const format = options.format !== "auto"
    ? options.format
    : (options.isTerminal ?? (() => Deno.stdout.isTerminal()))()
    ? "pretty"
    : "json";
  const now = options.now ?? Date.now;
  const timestamp = createTimestamps();
  const service = options.service;
  const serviceJson = `,"service":${JSON.stringify(service)}`;
  const noTrace = { json: serviceJson, text: "" };

  function emit(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (LEVELS[level] < threshold) return;
    emitWith(level, options.traceContext(), message, fields);
  }

  function emitWith(
    level: LogLevel,
    trace: LogTraceContext | undefined,
    message: string,
    fields?: Record<string, unknown>,
  ): void {
    if (LEVELS[level] < threshold) return;
    const ts = now();
    // Looked up and ordered (longest first) once per event, not once per string field.
    const active = options.secrets?.();
    const secrets = active !== undefined && active.size > 0
      ? [...active].sort((a, b) => b.length - a.length)
      : undefined;
    const text = typeof message === "string" ? message : String(message);
    try {
      // Serialise once, and only into the forms that are written.
      const serialised = format === "json" || options.sink !== undefined;
      let json = serialised && secrets === undefined
        ? plainLine(
          `{"timestamp":"${timestamp(ts)}","level":"${level}","message":`,
          text,
          trace === undefined ? noTrace : traceTail(trace),
          fields,
        )
        : undefined;
      let event: Record<string, unknown> | undefined;
      if (json === undefined || format === "pretty" || options.records) {
        // A plain line's strings are already their scrubbed, capped selves.
        event = buildEvent(level, ts, trace, text, fields, json === undefined, secrets);
        if (serialised) json ??= JSON.stringify(event);
      }
      options.write(format === "json" ? json! : prettyLine(event!));
      options.sink?.push({ timestamp: ts, message: json ?? "" });
      if (event) options.records?.emit(level, event, { timeMs: ts, trace });
    } catch {
      // A logger must never throw into the request; an unserialisable field loses the event.
    }
  }

  /** What follows the message in a plain line: the service and the trace ids, in that order. */
  function traceTail(trace: LogTraceContext): { json: string; text: string } {
    const { traceId, spanId, xrayTraceId } = trace;
    const json = `${serviceJson},"trace_id":"${traceId}","span_id":"${spanId}"`;
    return xrayTraceId
      ? {
        json: `${json},"xray_trace_id":"${xrayTraceId}"`,
        text: `${traceId} ${spanId} ${xrayTraceId}`,
      }
      : { json, text: `${traceId} ${spanId}` };
  }

  function buildEvent(
    level: LogLevel,
    ts: number,
    trace: LogTraceContext | undefined,
    text: string,
    fields: Record<string, unknown> | undefined,
    scrub: boolean,
    secrets: readonly string[] | undefined,
  ): Record<string, unknown> {
    const event: Record<string, unknown> = {
      timestamp: timestamp(ts),
      level,
      message: scrub ? cap(scrubWith(text, secrets), MAX_MESSAGE) : text,
      service,
    };
    if (trace) {
      event.trace_id = trace.traceId;
      event.span_id = trace.spanId;
      if (trace.xrayTraceId) event.xray_trace_id = trace.xrayTraceId;
    }
    if (fields) {
      let n = 0;
      for (const key in fields) {
        const value = fields[key];
        if (value === undefined) continue;
        if (++n > MAX_FIELDS) break;
        if (!scrub) {
          event[key] = value;
          continue;
        }
        const name = RESERVED.has(key) ? `field_${key}` : cap(key, 64);
        event[name] = typeof value === "string"
          ? cap(scrubWith(value, secrets), MAX_STRING_FIELD)
          : typeof value === "number"
          ? value
          : capValue(value, secrets);
      }
    }
    return event;
  }

  return {
    debug: (message, fields) => emit("debug", message, fields),
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
    enabled: (level) => LEVELS[level] >= threshold,
    logWith: emitWith,
    flush: (deadlineMs) => options.flush?.(deadlineMs) ?? Promise.resolve(),
  };
}
