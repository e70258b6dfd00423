/**
 * The checks in front of the routes, as one middleware layer: the Host first, then under
 * /api/ CORS (cross-origin requests only), the write rate limit (writes only) and the body
 * limit (requests with a body only). A same-origin read passes with one look at each instead
 * of a Hono layer per check. The same layer gives an answer not built by `jsonResponse` its
 * security and collected headers on the way out (routes/response.ts), one layer fewer again.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { bodyReadError } from "./body.ts";
import { errorResponse, HttpError } from "./errors.ts";
import { type RateLimitOptions, rateLimitWrites, WRITE_METHODS } from "./rate_limit.ts";
import { hasInvalidHost } from "./request_target.ts";
import { addResponseHeader, applyResponseHeaders } from "./response.ts";
import { requestOrigin } from "../telemetry/http.ts";

/** Headers the Cruddur frontend sends, tracing headers included. */
export const CORS_ALLOW_HEADERS = [
  "content-type",
  "if-modified-since",
  "authorization",
  "traceparent",
  "tracestate",
  "baggage",
  "x-amzn-trace-id",
];

/** Options of `edgeChecks`. */
export interface EdgeOptions {
  /** Origins a browser may call from. */
  origins: readonly string[];
  rateLimit: RateLimitOptions;
  bodyLimitBytes: number;
}

/** A step of the chain; a refusal it makes becomes the answer (`c.res`), as Hono does. */
type Next = () => Promise<void>;

/** Creates the checks layer (it also finishes the answer's headers: see the module doc). */
export function edgeChecks(options: EdgeOptions): MiddlewareHandler {
  const { origins } = options;
  const corsHeaders = cors({
    origin: (origin) => origins.includes(origin) ? origin : null,
    allowMethods: ["OPTIONS", "GET", "HEAD", "POST"],
    allowHeaders: CORS_ALLOW_HEADERS,
    exposeHeaders: ["location", "link", "traceresponse", "server-timing", "x-amzn-trace-id"],
    maxAge: 600,
  });
  const rateLimit = rateLimitWrites(options.rateLimit);
  const limitBody = bodyLimit({
    maxSize: options.bodyLimitBytes,
    onError: (c) => errorResponse(c, 413, ["payload_too_large"]),
  });

  return async function edge(c, next) {
    if (hasInvalidHost(c.req.raw)) return errorResponse(c, 400, ["invalid_host"]);
    if (!c.req.path.startsWith("/api/")) {
      await next();
      applyResponseHeaders(c);
      return;
    }
    // The limit reads a chunked body itself; an error there is the body failing to arrive (a
    // handler's errors never reach this catch: Hono hands them to onError below `next`).
    const checkBody: Next = c.req.raw.body === null ? next : async () => {
      try {
        const refused = await limitBody(c, next);
        if (refused instanceof Response) c.res = refused;
      } catch (error) {
        throw error instanceof HttpError ? error : bodyReadError(error);
      }
    };
    const checkRate: Next = WRITE_METHODS.has(c.req.method)
      ? async () => {
        const refused = await rateLimit(c, checkBody);
        if (refused instanceof Response) c.res = refused;
      }
      : checkBody;
    // Read with the request's secrets when the telemetry middleware ran (one pass, not two).
    const origin = requestOrigin(c);
    if (origin === undefined) {
      // Only cross-origin requests carry Origin; the rest skip the CORS work but keep `Vary`.
      addResponseHeader(c, "Vary", "Origin");
      await checkRate();
      applyResponseHeaders(c);
      return;
    }
    // The page may read our Server-Timing trace metric (PerformanceServerTiming).
    if (origins.includes(origin)) addResponseHeader(c, "Timing-Allow-Origin", origin);
    // A preflight is answered here (204): it becomes the answer before its headers are set.
    const preflight = await corsHeaders(c, checkRate);
    if (preflight instanceof Response) c.res = preflight;
    applyResponseHeaders(c);
  };
}
