/**
 * The `X-Amzn-Trace-Id` header and the mapping between X-Ray and OpenTelemetry trace ids.
 * Parsing follows AWSXRayPropagator: untrusted input, named limits, never throws.
 */

/** Longest header accepted; ALB headers with Self/Lineage stay far below this. */
export const MAX_TRACE_HEADER_LENGTH = 1024;
/** Extra key=value pairs kept beyond Root/Parent/Sampled. */
const MAX_EXTRA_PAIRS = 16;
/** X-Ray accepts trace ids up to 30 days old. */
const MAX_AGE_SECONDS = 30 * 24 * 60 * 60;
/** Clock skew tolerated for ids stamped in the future. */
const MAX_AHEAD_SECONDS = 5 * 60;

const ROOT_RE = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/;
const PARENT_RE = /^[0-9a-f]{16}$/;
const OTEL_TRACE_ID_RE = /^[0-9a-f]{32}$/;
const INVALID_TRACE_ID = "00000000000000000000000000000000";
const INVALID_SPAN_ID = "0000000000000000";

/** A parsed `X-Amzn-Trace-Id`; fields that were absent or invalid are undefined. */
export interface AmznTraceHeader {
  /** `1-<8 hex epoch seconds>-<24 hex>`, lowercase. */
  root: string | undefined;
  /** The caller's segment or subsegment id (16 hex); only kept with a valid root. */
  parent: string | undefined;
  /** `1` sampled, `0` not, `?` the caller asks us to decide and tell it. */
  sampled: "1" | "0" | "?" | undefined;
  /** Other pairs (Self, Lineage, ...) in header order. */
  extra: Array<[string, string]>;
}

/** Parses an `X-Amzn-Trace-Id` value; undefined for absent, oversized or pair-less input. */
export function parseAmznTraceId(
  header: string | null | undefined,
): AmznTraceHeader | undefined {
  if (typeof header !== "string" || header.length === 0) return undefined;
  if (header.length > MAX_TRACE_HEADER_LENGTH) return undefined;
  const result: AmznTraceHeader = {
    root: undefined,
    parent: undefined,
    sampled: undefined,
    extra: [],
  };
  let pairs = 0;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key.length === 0) continue;
    pairs++;
    switch (key.toLowerCase()) {
      case "root": {
        const root = value.toLowerCase();
        if (result.root === undefined && ROOT_RE.test(root) && !isZeroRoot(root)) {
          result.root = root;
        }
        break;
      }
      case "parent": {
        const parent = value.toLowerCase();
        if (result.parent === undefined && PARENT_RE.test(parent) && parent !== INVALID_SPAN_ID) {
          result.parent = parent;
        }
        break;
      }
      case "sampled":
        if (result.sampled === undefined && (value === "1" || value === "0" || value === "?")) {
          result.sampled = value;
        }
        break;
      default:
        if (result.extra.length < MAX_EXTRA_PAIRS) result.extra.push([key, value]);
    }
  }
  if (pairs === 0) return undefined;
  // A parent only makes sense inside the caller's trace.
  if (result.root === undefined) result.parent = undefined;
  return result;
}

/** Fields for {@link formatAmznTraceId}. */
export interface AmznTraceFields {
  /** X-Ray trace id. */
  root: string;
  /** Segment or subsegment id of the sender. */
  parent?: string;
  /** Sampling decision to propagate. */
  sampled?: "1" | "0" | "?";
}

/** Formats an `X-Amzn-Trace-Id` value: `Root=...[;Parent=...][;Sampled=...]`. */
export function formatAmznTraceId(fields: AmznTraceFields): string {
  let header = `Root=${fields.root}`;
  if (fields.parent !== undefined) header += `;Parent=${fields.parent}`;
  if (fields.sampled !== undefined) header += `;Sampled=${fields.sampled}`;
  return header;
}

/** Converts a 32-hex OpenTelemetry trace id to `1-<first 8>-<last 24>`. */
export function otelToXRayTraceId(otelTraceId: string): string {
  return `1-${otelTraceId.slice(0, 8)}-${otelTraceId.slice(8)}`;
}

/** Converts an X-Ray trace id to the OpenTelemetry form; undefined when it is not valid. */
export function xrayToOtelTraceId(root: string): string | undefined {
  const lower = root.toLowerCase();
  if (!ROOT_RE.test(lower)) return undefined;
  const otel = lower.slice(2, 10) + lower.slice(11);
  return otel === INVALID_TRACE_ID ? undefined : otel;
}

/** True when the trace id's first 8 hex read as an epoch second X-Ray would accept now. */
export function isPlausibleXRayTime(otelTraceId: string, nowMs: number): boolean {
  if (!OTEL_TRACE_ID_RE.test(otelTraceId)) return false;
  const seconds = parseInt(otelTraceId.slice(0, 8), 16);
  const nowSeconds = Math.floor(nowMs / 1000);
  return seconds >= nowSeconds - MAX_AGE_SECONDS && seconds <= nowSeconds + MAX_AHEAD_SECONDS;
}

/** A fresh X-Ray trace id stamped with `nowMs`: epoch seconds then 96 random bits. */
export function newXRayTraceId(nowMs: number): string {
  const seconds = Math.floor(nowMs / 1000).toString(16).padStart(8, "0");
  return `1-${seconds}-${randomHex(12)}`;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
/** Random bytes drawn 4 KiB at a time: one getRandomValues call serves ~250 trace ids. */
const pool = new Uint8Array(4096);
let poolAt = pool.length;

/** `bytes` (at most 64) random bytes as lowercase hex, never all zeros. */
export function randomHex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  let hex = "";
  let any = 0;
  for (let i = 0; i < bytes; i++) {
    const b = pool[poolAt++]!;
    any |= b;
    hex += HEX_BYTE[b];
  }
  return any === 0 ? `${hex.slice(0, -2)}01` : hex;
}

function isZeroRoot(root: string): boolean {
  return root.slice(2, 10) + root.slice(11) === INVALID_TRACE_ID;
}
