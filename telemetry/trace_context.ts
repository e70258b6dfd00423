/**
 * W3C Trace Context parsing that never throws: `traceparent` (Level 1 and 2 rules, every flag
 * Level 2 defines) and `tracestate` (the current key grammar, member limits, truncation), plus
 * the response forms (`traceresponse`, `Server-Timing: trace;desc=…`). An invalid
 * `traceparent` yields undefined and the caller starts a new trace; `tracestate` is only read
 * when `traceparent` is valid.
 */

const VERSION_00_LENGTH = 55;
const MAX_TRACEPARENT_LENGTH = 512;
const MAX_TRACESTATE_MEMBERS = 32;
const MAX_TRACESTATE_LENGTH = 512;
/** Longest combined header read at all; anything longer is discarded unparsed. */
const MAX_TRACESTATE_INPUT = 8192;
const LONG_MEMBER = 128;
const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = "00000000000000000000000000000000";
const ZERO_SPAN = "0000000000000000";
/**
 * The key grammar of the current specification: `(lcalpha / DIGIT) 0*255(keychar)`, where
 * `@` is an ordinary keychar. (The older `tenant@vendor` form is a subset of it.)
 */
const TRACESTATE_KEY = /^[a-z0-9][a-z0-9_\-*/@]{0,255}$/;
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
/** Optional whitespace around list members (RFC 7230 OWS: space and horizontal tab). */
const OWS = /^[ \t]+|[ \t]+$/g;

/** The trace-flags bits Level 2 defines; every other bit is reserved and sent as zero. */
export const TRACE_FLAG_SAMPLED = 0x01;
/** At least the right-most 7 bytes of the trace id are random (Level 2). */
export const TRACE_FLAG_RANDOM = 0x02;
const KNOWN_FLAGS = TRACE_FLAG_SAMPLED | TRACE_FLAG_RANDOM;

/** A parsed, valid `traceparent`. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  /** The trace-flags byte as received (bit 0: sampled, bit 1: random trace id). */
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

/**
 * Formats a version-00 `traceparent` (the same form is the Level 2 `traceresponse` value):
 * the sampled and random-trace-id flags are kept, reserved bits are sent as zero.
 */
export function formatTraceParent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-0${(flags & KNOWN_FLAGS).toString(16)}`;
}

/**
 * The `Server-Timing` metric that carries the trace context to a browser page
 * (`PerformanceServerTiming.description`), as the current Trace Context draft defines it.
 */
export function formatServerTiming(traceId: string, spanId: string, flags: number): string {
  return `trace;desc=${formatTraceParent(traceId, spanId, flags)}`;
}

/**
 * Parses `tracestate` (multiple header fields arrive joined by commas). The whole header is
 * discarded when any member is malformed, a key repeats or there are more than 32 members:
 * a list that failed to parse is never propagated in part. Empty members are allowed and
 * dropped. A valid list longer than 512 characters loses members over 128 characters first,
 * then members from the end, as the specification recommends.
 */
export function sanitizeTraceState(header: string | null | undefined): string | undefined {
  if (typeof header !== "string" || header.length === 0) return undefined;
  if (header.length > MAX_TRACESTATE_INPUT) return undefined;
  const members: string[] = [];
  const seen = new Set<string>();
  for (const raw of header.split(",")) {
    const member = raw.replace(OWS, "");
    if (member === "") continue;
    const eq = member.indexOf("=");
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    const value = member.slice(eq + 1);
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(value) || seen.has(key)) {
      return undefined;
    }
    seen.add(key);
    members.push(member);
    if (members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  }
  if (members.length === 0) return undefined;
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

/**
 * An OpenTelemetry `TraceState` holding a list {@link sanitizeTraceState} accepted. The one in
 * `@opentelemetry/core` re-validates keys with the older `tenant@vendor` grammar and would drop
 * keys the current specification allows, so the list is kept exactly as parsed here.
 */
export class W3CTraceState {
  readonly #members: ReadonlyArray<readonly [string, string]>;

  constructor(members: ReadonlyArray<readonly [string, string]>) {
    this.#members = members;
  }

  /** Builds it from a header value; undefined when the header is absent or invalid. */
  static parse(header: string | null | undefined): W3CTraceState | undefined {
    const clean = sanitizeTraceState(header);
    if (clean === undefined) return undefined;
    return new W3CTraceState(
      clean.split(",").map((member) => {
        const eq = member.indexOf("=");
        return [member.slice(0, eq), member.slice(eq + 1)] as const;
      }),
    );
  }

  /** A new state with `key` first (a modified key moves to the left, as the spec requires). */
  set(key: string, value: string): W3CTraceState {
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(value)) return this;
    const rest = this.#members.filter(([k]) => k !== key);
    const first: readonly [string, string] = [key, value];
    return new W3CTraceState([first, ...rest].slice(0, MAX_TRACESTATE_MEMBERS));
  }

  /** A new state without `key`. */
  unset(key: string): W3CTraceState {
    return new W3CTraceState(this.#members.filter(([k]) => k !== key));
  }

  /** The value of `key`, if present. */
  get(key: string): string | undefined {
    return this.#members.find(([k]) => k === key)?.[1];
  }

  /** The header value. */
  serialize(): string {
    return this.#members.map(([k, v]) => `${k}=${v}`).join(",");
  }
}
