/**
 * Error reporting through the Rollbar SDK (rollbar 3.1.0), wrapped so it is bounded, counted,
 * scrubbed and never in the request's way. See the notes on `createRollbarReporter` for where
 * we deliberately step around parts of the SDK.
 */
import process from "node:process";
import Rollbar from "rollbar";
import {
  type Diagnostic,
  emptyStats,
  type ErrorContext,
  type ErrorDestination,
  type MessageLevel,
  type Sink,
  type SinkStats,
} from "../types.ts";
import { errorText, toError } from "../util/errors.ts";
import { truncateText } from "../util/text.ts";
import {
  CLIENT_ADDRESS_HEADERS,
  collectSecretValues,
  isSecretName,
  REDACTED,
  redactSecretValues,
  redactText,
  redactUrl,
  SECRET_NAMES,
} from "../scrub.ts";

/** Options for the Rollbar reporter; the composition root fills them from the environment. */
export interface RollbarOptions {
  /** ROLLBAR_ACCESS_TOKEN (post_server_item scope). */
  accessToken: string;
  /** ROLLBAR_ENVIRONMENT, default "development". */
  environment?: string;
  /** ROLLBAR_CODE_VERSION or the git commit when known. */
  codeVersion?: string;
  /** ROLLBAR_ENDPOINT (tests point it at the stand-in); Rollbar's item API by default. */
  endpoint?: string;
  /** Project root, so stack frames read relative to it in Rollbar. */
  root?: string;
  /** Items accepted per minute before dropping; default 60, like the SDK. */
  itemsPerMinute?: number;
  /** Items in flight at once; beyond it new items are dropped and counted. Default 100. */
  maxPending?: number;
  /** Report uncaught exceptions and unhandled rejections at level "error". Default false. */
  captureUncaught?: boolean;
  /** `server.host` in items; avoids relying on os.hostname(). */
  host?: string;
  /** Where the reporter's own failures go (at most once a minute). */
  diagnostic?: Diagnostic;
  /** Clock for the rate-limit window and diagnostic throttling; Date.now by default. */
  now?: () => number;
  /** Serialised size an item is cut down to; default 112 KiB, under Rollbar's documented 128 KB. */
  maxPayloadBytes?: number;
}

export type { ErrorContext } from "../types.ts";

/** A sink that reports errors and messages to Rollbar. */
export interface ErrorReporter extends Sink, ErrorDestination {}

type Level = MessageLevel;

interface Prepared {
  request?: Record<string, unknown>;
  person?: { id: string; username?: string };
  route?: string;
  secrets: string[];
}

const DEFAULT_ENDPOINT = "https://api.rollbar.com/api/1/item/";
const DEFAULT_MAX_PENDING = 100;
// Under the documented 128 KB with room for what the SDK appends after our transform
// (notifier.configured_options, notifier.diagnostic.raw_error: a few KiB).
const DEFAULT_MAX_PAYLOAD_BYTES = 112 * 1024;
const MAX_MESSAGE_CHARS = 4096;
const MAX_CAUSE_DEPTH = 5;
const DIAGNOSTIC_INTERVAL_MS = 60_000;
const WINDOW_MS = 60_000;
const TRUNCATED_STRING_CHARS = 1024;
const KEPT_FRAMES = 20;
const CORRELATION_KEYS = new Set(["trace_id", "span_id", "xray_trace_id", "route"]);
const KEPT_TOP_LEVEL = new Set([
  "environment",
  "body",
  "level",
  "timestamp",
  "uuid",
  "notifier",
  "language",
  "framework",
  "server",
  "request",
  "person",
  "context",
  "code_version",
]);

/** Rollbar's server defaults (rollbar 3.1.0 src/defaults.js), repeated so ours add to them. */
const ROLLBAR_DEFAULT_SCRUB_HEADERS = [
  "authorization",
  "www-authorization",
  "http_authorization",
  "omniauth.auth",
  "cookie",
  "oauth-access-token",
  "x-access-token",
  "x_csrf_token",
  "http_x_csrf_token",
  "x-csrf-token",
];

/**
 * Creates the Rollbar reporter. Where it steps around the SDK, and why:
 * - Rate limit: the SDK's limiter is one module-level object shared by every Rollbar instance,
 *   reads Date.now, and replaces the (limit+1)th item by a "limit reached" notice whose callback
 *   reports success; we keep our own per-reporter window (counted as dropped) and turn the
 *   SDK's off (`itemsPerMinute: 0`).
 * - Flush: `wait(cb)` keeps a single callback (a second caller replaces the first) and polls
 *   with a 500 ms interval that outlives a missed deadline; we track our own in-flight items.
 * - Uncaught errors: the SDK reports them at "debug" unless `uncaughtErrorLevel` is set, and
 *   its handlers are never removed; we install our own and remove them on shutdown.
 * - Request data: built by us (`addRequestData`), without body or client-address headers.
 * - Size: the SDK only truncates above 512 KiB, over Rollbar's documented 128 KB.
 */
export function createRollbarReporter(options: RollbarOptions): ErrorReporter {
  const now = options.now ?? Date.now;
  // deno-lint-ignore no-console
  const diagnostic = options.diagnostic ?? ((message: string) => console.error(message));
  const itemsPerMinute = options.itemsPerMinute ?? 60;
  const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const stats = emptyStats();
  const prepared = new WeakMap<object, Prepared>();
  const pending = new Set<object>();
  const idleWaiters = new Set<() => void>();
  let windowStart = now();
  let windowCount = 0;
  let closed = false;
  let lastDiagnosticAt = -Infinity;
  let suppressed = 0;

  function report(message: string) {
    const t = now();
    if (t - lastDiagnosticAt < DIAGNOSTIC_INTERVAL_MS) {
      suppressed++;
      return;
    }
    lastDiagnosticAt = t;
    const more = suppressed > 0 ? ` (${suppressed} similar since the last report)` : "";
    suppressed = 0;
    try {
      diagnostic(`rollbar: ${message}${more}`);
    } catch {
      // The diagnostic channel failing must not take the reporter with it.
    }
  }

  function addRequestData(data: Record<string, unknown>, req: Record<string, unknown>) {
    const info = prepared.get(req);
    if (!info) return;
    if (info.request) data.request = info.request;
    if (info.person) data.person = info.person;
    if (info.route) data.context = info.route;
  }

  function transform(data: Record<string, unknown>, item: Record<string, unknown>) {
    // A throwing transform is removed by the SDK for good, so nothing may escape here.
    try {
      const req = item.request;
      const info = typeof req === "object" && req !== null ? prepared.get(req) : undefined;
      const server = data.server as Record<string, unknown> | undefined;
      // argv can carry tokens passed on the command line.
      if (server) delete server.argv;
      const request = data.request as Record<string, unknown> | undefined;
      const headers = request?.headers as Record<string, unknown> | undefined;
      if (headers) {
        for (const name of Object.keys(headers)) {
          if (CLIENT_ADDRESS_HEADERS.includes(name.toLowerCase())) delete headers[name];
        }
      }
      redactSecretValues(data, info?.secrets ?? []);
      fitPayload(data, maxPayloadBytes);
    } catch (error) {
      report(`could not scrub an item: ${errorText(error)}`);
    }
  }

  const config: Rollbar.Configuration = {
    accessToken: options.accessToken,
    endpoint: options.endpoint ?? DEFAULT_ENDPOINT,
    environment: options.environment ?? "development",
    codeVersion: options.codeVersion,
    host: options.host,
    itemsPerMinute: 0,
    captureUncaught: false,
    captureUnhandledRejections: false,
    captureIp: "anonymize",
    captureEmail: false,
    captureUsername: false,
    autoInstrument: false,
    scrubRequestBody: true,
    scrubFields: [...SECRET_NAMES],
    scrubHeaders: [...new Set([...ROLLBAR_DEFAULT_SCRUB_HEADERS, ...SECRET_NAMES])],
    addRequestData,
    transform,
    reportLevel: "debug",
    verbose: false,
  };
  // Options the SDK reads but its typings do not list: `root` (server.root, src/server/
  // transforms.js) and the logger level "disable" (src/logger.js) — the SDK's logger writes to
  // the console, and our failures go to `diagnostic` instead.
  const untyped = { root: options.root, logLevel: "disable" as Rollbar.Level };
  const rollbar = new Rollbar({ ...config, ...untyped });

  function drop(why: string) {
    stats.dropped++;
    report(`dropped an item: ${why}`);
  }

  function settleIdle() {
    if (pending.size > 0) return;
    for (const wake of idleWaiters) wake();
    idleWaiters.clear();
  }

  function submit(level: Level, subject: Error | string, context: ErrorContext | undefined) {
    stats.queued++;
    if (closed) return drop("reporter is shut down");
    if (pending.size >= maxPending) return drop(`${maxPending} items already in flight`);
    const t = now();
    if (t - windowStart >= WINDOW_MS || t < windowStart) {
      windowStart = t;
      windowCount = 0;
    }
    if (windowCount >= itemsPerMinute) return drop(`${itemsPerMinute} items per minute reached`);
    windowCount++;

    const token = {};
    pending.add(token);
    const settle = (error: unknown, response: unknown) => {
      if (!pending.delete(token)) return;
      if (error) {
        stats.failed++;
        report(`could not send an item: ${errorText(error)}`);
      } else if (response === undefined || response === null) {
        // A predicate stopped the item without an error: it was never sent.
        stats.dropped++;
      } else {
        stats.sent++;
      }
      settleIdle();
    };
    try {
      const req: Record<string, unknown> = { headers: {} };
      const info = prepare(context);
      prepared.set(req, info);
      // The SDK copies the raw error (message and stack) into notifier.diagnostic.raw_error
      // after every scrubbing step and after `transform`, so the error is cleaned before it
      // goes in.
      const clean = typeof subject === "string"
        ? cleanText(subject, info.secrets)
        : cleanError(subject, info.secrets, 0);
      const args: Rollbar.LogArgument[] = [clean, req, customData(context), settle];
      rollbar[level](...args);
    } catch (error) {
      settle(error, undefined);
    }
  }

  function onUncaught(error: unknown) {
    reporter.reportError(error, { custom: { uncaught: true } });
  }

  const installed = options.captureUncaught === true;
  if (installed) {
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onUncaught);
  }

  function waitIdle(deadlineMs: number): Promise<boolean> {
    if (pending.size === 0) return Promise.resolve(true);
    // Deadlines are wall-clock epoch ms (the Sink contract), not the injected window clock.
    const delay = Math.min(Math.max(0, deadlineMs - Date.now()), 2 ** 31 - 1);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        idleWaiters.delete(wake);
        resolve(pending.size === 0);
      }, delay);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      idleWaiters.add(wake);
    });
  }

  const reporter: ErrorReporter = {
    name: "rollbar",
    reportError(error, context) {
      try {
        submit("error", toError(error), context);
      } catch (e) {
        report(`could not report an error: ${errorText(e)}`);
      }
    },
    reportMessage(message, level, context) {
      try {
        submit(level, String(message), context);
      } catch (e) {
        report(`could not report a message: ${errorText(e)}`);
      }
    },
    async forceFlush(deadlineMs) {
      await waitIdle(deadlineMs);
    },
    async shutdown(deadlineMs) {
      if (closed) return;
      closed = true;
      if (installed) {
        process.off("uncaughtException", onUncaught);
        process.off("unhandledRejection", onUncaught);
      }
      const idle = await waitIdle(deadlineMs);
      if (!idle) {
        // Abandoned, not awaited: count them so the books still balance.
        const abandoned = pending.size;
        pending.clear();
        stats.dropped += abandoned;
        report(`abandoned ${abandoned} item(s) at the shutdown deadline`);
      }
    },
    stats(): SinkStats {
      return { ...stats };
    },
  };
  return reporter;
}

function prepare(context: ErrorContext | undefined): Prepared {
  const secrets: string[] = [];
  const info: Prepared = { secrets };
  if (context?.person) {
    info.person = context.person.username === undefined
      ? { id: context.person.id }
      : { id: context.person.id, username: context.person.username };
  }
  const request = context?.request;
  if (!request) return info;
  info.route = request.route;
  const headers: Record<string, string> = {};
  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase();
    if (CLIENT_ADDRESS_HEADERS.includes(lower)) continue;
    headers[lower] = isSecretName(lower) ? REDACTED : value;
  }
  info.request = {
    url: redactUrl(request.url),
    method: request.method,
    headers,
    user_ip: request.clientAddress ? anonymizeIp(request.clientAddress) : null,
  };
  secrets.push(...collectSecretValues(request.headers, request.url));
  return info;
}

function cleanText(text: string, secrets: readonly string[]): string {
  const clean = redactText(text, secrets);
  return truncateText(clean, MAX_MESSAGE_CHARS);
}

/** A copy of `error` (same prototype, so the class name survives) with secrets removed. */
function cleanError(error: Error, secrets: readonly string[], depth: number): Error {
  const copy = new Error(cleanText(String(error.message), secrets));
  Object.setPrototypeOf(copy, Object.getPrototypeOf(error));
  if (Object.hasOwn(error, "name")) copy.name = cleanText(String(error.name), secrets);
  copy.stack = typeof error.stack === "string"
    ? redactText(error.stack, secrets).slice(0, MAX_MESSAGE_CHARS * 4)
    : undefined;
  if (error.cause instanceof Error && depth < MAX_CAUSE_DEPTH) {
    copy.cause = cleanError(error.cause, secrets, depth + 1);
  }
  return copy;
}

function customData(context: ErrorContext | undefined): Record<string, unknown> {
  const custom: Record<string, unknown> = { ...context?.custom };
  if (context?.traceId) custom.trace_id = context.traceId;
  if (context?.spanId) custom.span_id = context.spanId;
  if (context?.xrayTraceId) custom.xray_trace_id = context.xrayTraceId;
  if (context?.request?.route) custom.route = context.request.route;
  return custom;
}

/** Keeps the network prefix only, like the SDK's `captureIp: "anonymize"`. */
function anonymizeIp(ip: string): string | null {
  if (ip.includes(".") && !ip.includes(":")) {
    const parts = ip.split(".");
    parts[parts.length - 1] = "0";
    return parts.join(".");
  }
  if (ip.includes(":")) {
    const v4 = ip.match(/^::ffff:(\d+\.\d+\.\d+)\.\d+$/i);
    if (v4) return `${v4[1]}.0`;
    return `${ip.split(":").slice(0, 3).join(":")}:0000:0000:0000:0000:0000`;
  }
  return null;
}

function byteSize(data: unknown): number {
  return new TextEncoder().encode(JSON.stringify({ data })).byteLength;
}

/** Cuts an item down until its JSON fits `maxBytes`, keeping the message and trace first. */
function fitPayload(data: Record<string, unknown>, maxBytes: number) {
  if (byteSize(data) <= maxBytes) return;
  data.truncated = true;
  truncateStrings(data, TRUNCATED_STRING_CHARS, new WeakSet());
  const body = data.body as Record<string, unknown> | undefined;
  const chain = body?.trace_chain;
  if (Array.isArray(chain)) {
    for (const trace of chain) {
      const frames = (trace as Record<string, unknown>)?.frames;
      if (Array.isArray(frames) && frames.length > KEPT_FRAMES) {
        frames.splice(KEPT_FRAMES / 2, frames.length - KEPT_FRAMES);
      }
    }
  }
  if (byteSize(data) <= maxBytes) return;
  // Then the free-form data goes, keeping what links the item to its trace.
  const custom = (data.custom ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(data)) {
    if (!KEPT_TOP_LEVEL.has(key)) delete data[key];
  }
  data.custom = Object.fromEntries(
    Object.entries(custom).filter(([key]) => CORRELATION_KEYS.has(key)),
  );
  data.truncated = true;
  if (byteSize(data) <= maxBytes) return;
  const request = data.request as Record<string, unknown> | undefined;
  if (request) delete request.headers;
  if (byteSize(data) <= maxBytes) return;
  const message = firstMessage(body).slice(0, TRUNCATED_STRING_CHARS);
  data.body = { message: { body: message || "Item too large to send; its content was dropped." } };
}

function firstMessage(body: Record<string, unknown> | undefined): string {
  const chain = body?.trace_chain;
  if (Array.isArray(chain)) {
    const exception = (chain[0] as Record<string, unknown> | undefined)?.exception as
      | Record<string, unknown>
      | undefined;
    return `${exception?.class ?? "Error"}: ${exception?.message ?? ""}`;
  }
  const message = body?.message as Record<string, unknown> | undefined;
  return typeof message?.body === "string" ? message.body : "";
}

function truncateStrings(value: unknown, max: number, seen: WeakSet<object>): unknown {
  if (typeof value === "string") {
    return truncateText(value, max);
  }
  if (value === null || typeof value !== "object" || seen.has(value)) return value;
  seen.add(value);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = truncateStrings(record[key], max, seen);
  return value;
}
