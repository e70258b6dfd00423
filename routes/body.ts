/**
 * Reads a JSON object body: 415 unless the content type is JSON, 400 for malformed JSON or a
 * non-object. The size limit is enforced before this runs (413, hono/body-limit).
 */
import type { Context } from "hono";
import { HttpError } from "./errors.ts";

/** Parses the request body as a JSON object; secret-named fields are reported to `onSecret`. */
export async function readJsonObject(
  c: Context,
  onSecret?: (body: Record<string, unknown>) => void,
): Promise<Record<string, unknown>> {
  const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json" && !type?.endsWith("+json")) {
    throw new HttpError(415, ["unsupported_media_type"]);
  }
  const text = await c.req.text();
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
