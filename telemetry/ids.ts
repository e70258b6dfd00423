/**
 * Trace and span ids for the SDK pipeline. With X-Ray on, trace ids start with the epoch
 * seconds X-Ray requires (as AWSXRayIdGenerator makes them), so the segment can use the same id; they are
 * not marked random. Otherwise they are 128 random bits and carry W3C Level 2's
 * random-trace-id flag. A request that arrives with an X-Ray `Root` but no `Parent` seeds its
 * root span's id with that `Root`, so every sink shows the one trace X-Ray shows.
 */
import type { IdGenerator } from "@opentelemetry/sdk-trace-base";

/** The character codes of the lowercase hex digits. */
const DIGITS = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
/** Random bytes drawn 4 KiB at a time: one getRandomValues call serves ~500 span ids. */
const pool = new Uint8Array(4096);
let poolAt = pool.length;
/**
 * An id's character codes, written in place and turned into the id by one
 * `String.fromCharCode` call: one string per id, where appending two digits at a time made
 * eight to twelve intermediate strings (and a rope to flatten) for each.
 */
const SPAN_CODES: number[] = new Array(16).fill(0);
const TRACE_CODES: number[] = new Array(32).fill(0);
/** X-Ray-style trace ids have their own: the first 8 digits stay the current second's. */
const XRAY_CODES: number[] = new Array(32).fill(0);

/**
 * Fills `codes[from..]` with random hex digits from the pool. If the whole id would be zeros
 * (invalid in W3C and X-Ray), its last digit becomes 1; `any` says whether an earlier part of
 * the id was non-zero already.
 */
function fillRandom(codes: number[], from: number, any: boolean): void {
  const bytes = (codes.length - from) >> 1;
  if (poolAt + bytes > pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  let seen = any ? 1 : 0;
  for (let i = from; i < codes.length; i += 2) {
    const b = pool[poolAt++]!;
    seen |= b;
    codes[i] = DIGITS[b >> 4]!;
    codes[i + 1] = DIGITS[b & 15]!;
  }
  if (seen === 0) codes[codes.length - 1] = DIGITS[1]!;
}

function idFrom(codes: number[]): string {
  return String.fromCharCode.apply(null, codes);
}

/** 64 random bits as 16 hex digits, never all zeros. */
export function randomSpanId(): string {
  fillRandom(SPAN_CODES, 0, false);
  return idFrom(SPAN_CODES);
}

/** 128 random bits as 32 hex digits, never all zeros. */
export function randomTraceId(): string {
  fillRandom(TRACE_CODES, 0, false);
  return idFrom(TRACE_CODES);
}

/** The epoch second the first 8 digits of XRAY_CODES hold. */
let epochSeconds = -1;

/**
 * An X-Ray-style trace id as AWSXRayIdGenerator makes it (8 hex digits of epoch seconds, then
 * 96 random bits), from pooled random bytes instead of a Buffer per id. The seconds' digits
 * are written once a second, not once per trace.
 */
export function xrayTraceId(): string {
  const seconds = Math.floor(Date.now() / 1000);
  if (seconds !== epochSeconds) {
    epochSeconds = seconds;
    const hex = seconds.toString(16).padStart(8, "0").slice(-8);
    for (let i = 0; i < 8; i++) XRAY_CODES[i] = hex.charCodeAt(i);
  }
  fillRandom(XRAY_CODES, 8, seconds !== 0);
  return idFrom(XRAY_CODES);
}

/** How root trace ids are made. */
export type TraceIdStyle = "xray" | "random";

/** The id generator plus the seam the request middleware uses to seed one root span. */
export interface TraceIds extends IdGenerator {
  readonly style: TraceIdStyle;
  /**
   * Runs `start` (which must start exactly one root span, synchronously) so that the span
   * gets `traceId`. Nested or concurrent seeding is impossible: span creation is synchronous.
   */
  seeded<T>(traceId: string, start: () => T): T;
}

/** Creates the id source for a style. */
export function createTraceIds(style: TraceIdStyle): TraceIds {
  let seed: string | undefined;
  return {
    style,
    generateTraceId(): string {
      if (seed !== undefined) {
        const id = seed;
        seed = undefined;
        return id;
      }
      return style === "xray" ? xrayTraceId() : randomTraceId();
    },
    generateSpanId(): string {
      return randomSpanId();
    },
    seeded<T>(traceId: string, start: () => T): T {
      seed = traceId;
      try {
        return start();
      } finally {
        seed = undefined;
      }
    },
  };
}
