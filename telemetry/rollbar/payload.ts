/**
 * What a Rollbar item carries and how it is cut to size: the request data we build ourselves
 * (no body, no client-address headers, secret headers redacted), errors copied with secrets
 * removed, and the fitting that keeps an item under Rollbar's documented 128 KB.
 */
import type { ErrorContext } from "../types.ts";
import {
  CLIENT_ADDRESS_HEADERS,
  collectSecretValues,
  redactText,
  redactUrl,
  scrubHeaderValue,
  scrubShapes,
} from "../scrub.ts";
import { truncateText } from "../util/text.ts";

/** What the reporter prepared for one item, found again by the SDK's hooks. */
export interface Prepared {
  request?: Record<string, unknown>;
  person?: { id: string; username?: string };
  route?: string;
  secrets: string[];
}

const MAX_MESSAGE_CHARS = 4096;
const MAX_CAUSE_DEPTH = 5;
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

/** The request, person and secrets of one item, scrubbed. */
export function prepare(context: ErrorContext | undefined): Prepared {
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
    headers[lower] = scrubHeaderValue(lower, value);
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

/**
 * Top-level item fields whose values are structure, never scrubbed: a query value equal to
 * `warning` must not make `level` invalid (422), nor one equal to `production` move the item
 * to another environment, where an attacker's own error would hide.
 */
export const STRUCTURAL_FIELDS: ReadonlySet<string> = new Set([
  "environment",
  "level",
  "timestamp",
  "uuid",
  "platform",
  "language",
  "framework",
  "notifier",
  "code_version",
  "context",
  "server",
]);

/** `text` without secrets, at most 4096 characters. */
export function cleanText(text: string, secrets: readonly string[]): string {
  const clean = scrubShapes(redactText(text, secrets));
  return truncateText(clean, MAX_MESSAGE_CHARS);
}

/** A copy of `error` (same prototype, so the class name survives) with secrets removed. */
export function cleanError(error: Error, secrets: readonly string[], depth: number): Error {
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

/** The item's custom data: the caller's, plus the trace correlation. */
export function customData(context: ErrorContext | undefined): Record<string, unknown> {
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

/** The serialised size of an item, as it is posted. */
export function byteSize(data: unknown): number {
  return new TextEncoder().encode(JSON.stringify({ data })).byteLength;
}

/** Cuts an item down until its JSON fits `maxBytes`, keeping the message and trace first. */
export function fitPayload(data: Record<string, unknown>, maxBytes: number) {
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
