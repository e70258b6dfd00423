/**
 * How answers are built. Deno 2.9 serves a Response made in one `new Response(body, init)`
 * from a native header list built at construction; the first read of `response.headers`
 * afterwards throws that away and re-converts every header through WebIDL (measured on a bare
 * `Deno.serve` handler answering 2 KB of JSON: 45 → 39 µs CPU per request for 15 headers given
 * in the init instead of `set` afterwards). So every header an answer needs is collected on the request first
 * (`addResponseHeader`: the telemetry's trace headers, `Vary`, `Link`, `Retry-After`, ...) and
 * `jsonResponse` builds the answer once with all of them and the security headers, and keeps
 * the body so the span and the X-Ray segment can record its size without reading it.
 *
 * How the init names the headers matters as much (callgrind, a plain Hono handler answering
 * the home feed with these 7 headers: 221k instructions per request given as an array of
 * pairs, 190k as a plain object, 159k as a `Headers` object; 115k with content-type alone):
 * Deno copies a `Headers` object's validated entries as they are, while an array or an object
 * is converted and validated entry by entry. So a set that recurs (the security headers plus
 * `Vary: Origin`, an `Allow`, a `Retry-After`) is built once and reused, as a kept set
 * (routes/kept_headers.ts: a `Headers` whose entries Deno derives once instead of per answer);
 * the telemetry's per-request trace headers join such a set without converting it again
 * (`keptHeaderSetWith`: callgrind, the full configuration, 616k → 553k instructions a request);
 * any other per-request value (a `Link`, a HEAD answer's length) makes the set a plain object.
 *
 * An answer built any other way (Hono's own, a 204 preflight) gets the same headers set on it
 * by `applyResponseHeaders`, the slower path.
 */
import { Buffer } from "node:buffer";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { keptHeaderSet, keptHeaderSetWith } from "./kept_headers.ts";

/**
 * The security headers of a JSON answer: the ones that act on a response a script fetches
 * (OWASP's REST Security Cheat Sheet: nosniff, framing, HSTS; plus the referrer and
 * cross-origin resource policies). Each header costs every answer (WebIDL conversion, then
 * the wire), so the ones that only act on a document a browser renders are kept for those.
 */
export const API_SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["cross-origin-resource-policy", "same-origin"],
  ["referrer-policy", "no-referrer"],
  ["strict-transport-security", "max-age=15552000; includeSubDomains"],
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "SAMEORIGIN"],
];

/**
 * Hono's `secureHeaders()` defaults (same names and values), for any answer not built by
 * `jsonResponse` (a page, a script, a preflight): the API set plus the document-only ones.
 */
export const DOCUMENT_SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ...API_SECURITY_HEADERS,
  ["cross-origin-opener-policy", "same-origin"],
  ["origin-agent-cluster", "?1"],
  ["x-dns-prefetch-control", "off"],
  ["x-download-options", "noopen"],
  ["x-permitted-cross-domain-policies", "none"],
  ["x-xss-protection", "0"],
];

/** What a request's answer must carry, and whether its builder already gave it. */
interface PendingHeaders {
  list: Array<[string, string]>;
  applied: boolean;
  /** The body `jsonResponse` answered with (its size is counted only when asked). */
  body?: string;
}

declare module "hono" {
  interface ContextVariableMap {
    responseHeaders: PendingHeaders;
  }
}

function pending(c: Context): PendingHeaders {
  let state = c.get("responseHeaders");
  if (state === undefined) {
    state = { list: [], applied: false };
    c.set("responseHeaders", state);
  }
  return state;
}

/** Adds a header to the request's answer, whoever builds it (appends: `Vary` may repeat). */
export function addResponseHeader(c: Context, name: string, value: string): void {
  pending(c).list.push([name, value]);
}

/** The body size of an answer `jsonResponse` built, without touching its headers. */
export function responseBodyBytes(c: Context): number | undefined {
  const body = c.get("responseHeaders")?.body;
  return body === undefined ? undefined : Buffer.byteLength(body);
}

/**
 * Headers whose values come from a small fixed set (the configuration, the route table, a
 * rate limit's whole seconds): a header set made only of these recurs, so it is kept.
 */
const RECURRING = new Set(["vary", "allow", "retry-after", "timing-allow-origin"]);
/**
 * The telemetry's trace headers (lowercase, as telemetry/http.ts adds them): a value per
 * request, each given once, none of them a JSON answer's own; they join a kept set.
 */
const PER_REQUEST = new Set(["traceresponse", "server-timing", "x-amzn-trace-id"]);
/** Kept header sets at most; past it a set is built per answer (still correct, slower). */
const MAX_KEPT_SETS = 64;
const JSON_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["content-type", "application/json"],
  ...API_SECURITY_HEADERS,
];
const keptSets = new Map<string, Headers>([["", keptHeaderSet(JSON_HEADERS)]]);

/**
 * The headers of a JSON answer with `extra` as a kept set (plus the per-request trace headers
 * when there are any), or undefined when they are not such a set.
 */
function keptHeaders(extra: ReadonlyArray<[string, string]>): Headers | undefined {
  let key = "";
  let perRequest: Array<[string, string]> | undefined;
  for (const pair of extra) {
    const name = pair[0];
    if (PER_REQUEST.has(name)) {
      // Each at most once: kept entries are combined, these are not.
      if (perRequest?.some(([seen]) => seen === name)) return undefined;
      (perRequest ??= []).push(pair);
    } else if (RECURRING.has(name.toLowerCase())) {
      key += `${name}\n${pair[1]}\n`;
    } else {
      return undefined;
    }
  }
  let headers = keptSets.get(key);
  if (headers === undefined && keptSets.size < MAX_KEPT_SETS) {
    // Once per set: the recurring headers only.
    const recurring = extra.filter(([name]) => !PER_REQUEST.has(name));
    headers = keptHeaderSet([...JSON_HEADERS, ...recurring]);
    keptSets.set(key, headers);
  }
  if (headers === undefined || perRequest === undefined) return headers;
  return keptHeaderSetWith(headers, perRequest);
}

/** A JSON answer's headers as one plain object (a repeated name joins its values, as HTTP does). */
function headerObject(extra: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of JSON_HEADERS) headers[name] = value;
  for (const [name, value] of extra) {
    const key = name.toLowerCase();
    const before = headers[key];
    headers[key] = before === undefined ? value : `${before}, ${value}`;
  }
  return headers;
}

/** Serialises `value` and answers with it, every collected header included. */
export function jsonResponse(c: Context, value: unknown, status: ContentfulStatusCode): Response {
  const text = JSON.stringify(value);
  const state = pending(c);
  state.applied = true;
  state.body = text;
  // Deno counts a body's length itself; a HEAD answer has none, so it is told.
  const headers = c.req.method === "HEAD"
    ? headerObject([...state.list, ["content-length", String(Buffer.byteLength(text))]])
    : keptHeaders(state.list) ?? headerObject(state.list);
  return new Response(text, { status, headers });
}

/**
 * Gives an answer not built by `jsonResponse` the security and collected headers (set over
 * the handler's own of the same name, as `secureHeaders()` did). Runs after the handler.
 */
export function applyResponseHeaders(c: Context): void {
  const state = c.get("responseHeaders");
  if (state?.applied) return;
  const headers = c.res.headers;
  for (const [name, value] of DOCUMENT_SECURITY_HEADERS) headers.set(name, value);
  if (state === undefined) return;
  state.applied = true;
  for (const [name, value] of state.list) headers.append(name, value);
}
