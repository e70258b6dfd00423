/**
 * Writes (POST under /api/) are rate-limited per client with a token bucket: `burst` writes at
 * once, refilled at `perMinute`. Beyond it: 429 `["rate_limited"]` with `Retry-After` (whole
 * seconds until the next write is allowed), `error.type=rate_limited` on the span and in the
 * access log, and, from the 429, `throttle: true` on the X-Ray segment as the X-Ray SDKs do.
 * Reads are never limited here. The bucket table is bounded: the least recently seen client
 * is forgotten first, so a flood of addresses cannot grow memory.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Clock } from "../services/types.ts";
import { HTTP_ERROR_TYPE_VAR } from "../telemetry/http.ts";
import { errorResponse } from "./errors.ts";
import { addResponseHeader } from "./response.ts";

/** Options of `rateLimitWrites`. */
export interface RateLimitOptions {
  /** Writes refilled per minute per client; 0 turns the limit off. */
  perMinute: number;
  /** Writes a client may make at once. */
  burst: number;
  clock: Clock;
  /** Clients remembered at most (least recently seen forgotten first). Default 10,000. */
  maxClients?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** The methods the limit counts. */
export const WRITE_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** IPv4/IPv6 loopback and private ranges: a peer there is taken to be our own proxy. */
const PRIVATE_PEER =
  /^(?:127\.|10\.|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.|::1$|f[cd][0-9a-f]{2}:|::ffff:(?:127|10)\.)/i;

/**
 * Who the client is. The socket peer, unless the peer is a private address (a load balancer
 * or proxy in front of us): then the last X-Forwarded-For entry, the one that proxy appended
 * and the client cannot forge (the first entries are whatever the client sent).
 */
export function rateLimitKey(c: Context): string {
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  const peer = info?.remoteAddr?.hostname ?? "unknown";
  const forwarded = c.req.header("x-forwarded-for");
  if (!forwarded || !PRIVATE_PEER.test(peer)) return peer;
  const last = forwarded.split(",").at(-1)?.trim();
  return last ? last : peer;
}

/** Creates the write rate limit middleware. */
export function rateLimitWrites(options: RateLimitOptions): MiddlewareHandler {
  const { perMinute, burst, clock } = options;
  const maxClients = options.maxClients ?? 10_000;
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, Bucket>();

  function remember(key: string, bucket: Bucket) {
    // Map order is insertion order: re-inserting makes this client the most recent.
    buckets.delete(key);
    buckets.set(key, bucket);
    if (buckets.size > maxClients) {
      const oldest = buckets.keys().next().value;
      if (oldest !== undefined) buckets.delete(oldest);
    }
  }

  return async function rateLimit(c, next) {
    if (perMinute === 0 || !WRITE_METHODS.has(c.req.method)) return await next();
    const key = rateLimitKey(c);
    const now = clock();
    const bucket = buckets.get(key) ?? { tokens: burst, at: now };
    // A clock that went back refills nothing rather than draining.
    bucket.tokens = Math.min(burst, bucket.tokens + Math.max(0, now - bucket.at) * perMs);
    bucket.at = now;
    if (bucket.tokens < 1) {
      remember(key, bucket);
      const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
      addResponseHeader(c, "Retry-After", String(retryAfter));
      c.set(HTTP_ERROR_TYPE_VAR, "rate_limited");
      return errorResponse(c, 429, ["rate_limited"]);
    }
    bucket.tokens -= 1;
    remember(key, bucket);
    return await next();
  };
}
