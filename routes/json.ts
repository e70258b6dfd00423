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
  return c.body(text, status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
  });
}
