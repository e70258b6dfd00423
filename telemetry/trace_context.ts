/**
 * W3C Trace Context parsing that never throws: `traceparent` (Level 1 and 2 rules) and
 * `tracestate` (member limits and truncation). An invalid `traceparent` yields undefined and
 * the caller starts a new trace; `tracestate` is only read when `traceparent` is valid.
 */

const VERSION_00_LENGTH = 55;
const MAX_TRACEPARENT_LENGTH = 512;
const MAX_TRACESTATE_MEMBERS = 32;
const MAX_TRACESTATE_LENGTH = 512;
const LONG_MEMBER = 128;
const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = "00000000000000000000000000000000";
const ZERO_SPAN = "0000000000000000";
const TRACESTATE_KEY =
  /^(?:[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})$/;
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** A parsed, valid `traceparent`. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  /** The trace-flags byte (bit 0: sampled). */
  flags: number;
}

/** Parses `traceparent`; undefined for anything the W3C processing model calls invalid. */
export function parseTraceParent(header: string | null | undefined): TraceParent | undefined {
  if (typeof header !== "string") return undefined;
  if (header.length < VERSION_00_LENGTH || header.length > MAX_TRACEPARENT_LENGTH) {
    return undefined;
  }
  const version = header.slice(0, 2);
  if (!HEX.test(version) || version === "ff") return undefined;
  // Version 00 has exactly four fields; a later version may append fields after a dash.
  if (version === "00" && header.length !== VERSION_00_LENGTH) return undefined;
  if (header.length > VERSION_00_LENGTH && header[VERSION_00_LENGTH] !== "-") return undefined;
  if (header[2] !== "-" || header[35] !== "-" || header[52] !== "-") return undefined;
  const traceId = header.slice(3, 35);
  const spanId = header.slice(36, 52);
  const flags = header.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

/** Formats a `traceparent` (also the Level 2 `traceresponse`) for version 00. */
export function formatTraceParent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${flags & 1 ? "01" : "00"}`;
}

/**
 * Filters `tracestate`: drops malformed members and duplicates of a key, discards the whole
 * header past 32 members, and trims to 512 characters by dropping members over 128
 * characters first, then from the end, as the specification recommends.
 */
export function sanitizeTraceState(header: string | null | undefined): string | undefined {
  if (typeof header !== "string" || header.length === 0) return undefined;
  if (header.length > 8192) return undefined;
  const members: string[] = [];
  const seen = new Set<string>();
  for (const raw of header.split(",")) {
    const member = raw.trim();
    if (member === "") continue;
    const eq = member.indexOf("=");
    if (eq <= 0) continue;
    const key = member.slice(0, eq);
    const value = member.slice(eq + 1);
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(value) || seen.has(key)) continue;
    seen.add(key);
    members.push(`${key}=${value}`);
  }
  if (members.length === 0 || members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  let kept = members;
  let length = kept.join(",").length;
  if (length > MAX_TRACESTATE_LENGTH) {
    kept = kept.filter((m) => m.length <= LONG_MEMBER);
    length = kept.join(",").length;
    while (length > MAX_TRACESTATE_LENGTH && kept.length > 0) {
      kept = kept.slice(0, -1);
      length = kept.join(",").length;
    }
  }
  return kept.length > 0 ? kept.join(",") : undefined;
}
