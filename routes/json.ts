/**
 * JSON answers with a Content-Length, so the request span and the X-Ray segment can record
 * the response size (`http.response.body.size`, `content_length`) without reading the body.
 */
import { Buffer } from "node:buffer";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Serialises `value` and answers with it. */
export function jsonResponse(c: Context, value: unknown, status: ContentfulStatusCode) {
  const text = JSON.stringify(value);
  // Set on the built response rather than passed to it: Deno converts a Response's `headers`
  // init through WebIDL at ~1 µs a header, while `set` on the new response costs a fraction
  // (measured: 12.8 → 6.7 µs CPU per request for a Hono route answering this way).
  const response = c.body(text, status);
  response.headers.set("content-type", "application/json");
  response.headers.set("content-length", String(Buffer.byteLength(text)));
  return response;
}
