/**
 * The structured logger. Every event is one JSON object (control characters escaped by the
 * serialiser, strings length-capped) carrying the active trace and span ids, so no input can
 * forge a second event and every line leads to its trace. Console output is buffered and
 * written off the request path; the CloudWatch sink receives the same JSON line.
 */
import { redactText, scrubShapes } from "./scrub.ts";
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
    const event: Record<string, unknown> = {
      timestamp: timestamp(ts),
      level,
      message: cap(scrubWith(text, secrets), MAX_MESSAGE),
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
        const name = RESERVED.has(key) ? `field_${key}` : cap(key, 64);
        event[name] = typeof value === "string"
          ? cap(scrubWith(value, secrets), MAX_STRING_FIELD)
          : typeof value === "number"
          ? value
          : capValue(value, secrets);
      }
    }
    try {
      // Serialise once, and only into the forms that are written.
      const json = format === "json" || options.sink ? JSON.stringify(event) : "";
      options.write(format === "json" ? json : prettyLine(event));
      options.sink?.push({ timestamp: ts, message: json });
      options.records?.emit(level, event, { timeMs: ts, trace });
    } catch {
      // A logger must never throw into the request; an unserialisable field loses the event.
    }
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
