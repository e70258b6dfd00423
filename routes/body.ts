/**
 * Reads a JSON object body: 415 unless the content type is JSON, 400 for malformed JSON or a
 * non-object. The size limit is enforced before this runs (413, hono/body-limit).
 */
import type { Context } from "hono";
import { CLIENT_CLOSED_REQUEST, HttpError } from "./errors.ts";

/**
 * Maps a failure to read the request body to the client's fault. Deno 2.9 raises
 * `BadResource` ("Cannot read body as underlying resource unavailable") when the peer resets
 * or closes mid-body, and a plain Error ("invalid HTTP/1 request: ...") for broken framing
 * such as an invalid chunk size. Neither is a server error: no Rollbar item, no ERROR span.
 */
export function bodyReadError(error: unknown): HttpError {
  const gone = error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.Interrupted;
  return gone
    ? new HttpError(CLIENT_CLOSED_REQUEST, ["client_closed_request"], "client_aborted")
    : new HttpError(400, ["malformed_body"], "malformed_body");
}

/** Parses the request body as a JSON object; secret-named fields are reported to `onSecret`. */
export async function readJsonObject(
  c: Context,
  onSecret?: (body: Record<string, unknown>) => void,
): Promise<Record<string, unknown>> {
  const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json" && !type?.endsWith("+json")) {
    throw new HttpError(415, ["unsupported_media_type"]);
  }
  let text: string;
  try {
    text = await c.req.text();
  } catch (error) {
    throw bodyReadError(error);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, ["malformed_json"]);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, ["body_must_be_object"]);
  }
  onSecret?.(body as Record<string, unknown>);
  return body as Record<string, unknown>;
}
