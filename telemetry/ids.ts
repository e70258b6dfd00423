/**
 * Trace and span ids for the SDK pipeline. With X-Ray on, trace ids start with the epoch
 * seconds X-Ray requires (AWSXRayIdGenerator), so the segment can use the same id; they are
 * not marked random. Otherwise they are 128 random bits and carry W3C Level 2's
 * random-trace-id flag. A request that arrives with an X-Ray `Root` but no `Parent` seeds its
 * root span's id with that `Root`, so every sink shows the one trace X-Ray shows.
 */
import type { IdGenerator } from "@opentelemetry/sdk-trace-base";
import { AWSXRayIdGenerator } from "@opentelemetry/id-generator-aws-xray";
import { randomHex } from "./xray/trace_header.ts";

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
  const xray = new AWSXRayIdGenerator();
  let seed: string | undefined;
  return {
    style,
    generateTraceId(): string {
      if (seed !== undefined) {
        const id = seed;
        seed = undefined;
        return id;
      }
      return style === "xray" ? xray.generateTraceId() : randomHex(16);
    },
    generateSpanId(): string {
      return xray.generateSpanId();
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
