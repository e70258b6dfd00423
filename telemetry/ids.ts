/**
 * Trace and span ids for the SDK pipeline. With X-Ray on, trace ids start with the epoch
 * seconds X-Ray requires (as AWSXRayIdGenerator makes them), so the segment can use the same id; they are
 * not marked random. Otherwise they are 128 random bits and carry W3C Level 2's
 * random-trace-id flag. A request that arrives with an X-Ray `Root` but no `Parent` seeds its
 * root span's id with that `Root`, so every sink shows the one trace X-Ray shows.
 */
import type { IdGenerator } from "@opentelemetry/sdk-trace-base";
import { randomHex } from "./xray/trace_header.ts";

/**
 * An X-Ray-style trace id as AWSXRayIdGenerator makes it (8 hex digits of epoch seconds, then
 * 96 random bits), from the pooled random bytes of randomHex instead of a Buffer per id.
 */
function xrayTraceId(): string {
  return Math.floor(Date.now() / 1000).toString(16).padStart(8, "0") + randomHex(12);
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
      return style === "xray" ? xrayTraceId() : randomHex(16);
    },
    generateSpanId(): string {
      return randomHex(8);
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
