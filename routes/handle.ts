/**
 * The `@handle` segment of a feed or messages path, decoded exactly once from the raw request
 * target. Hono's path and params are already (partly) decoded, so decoding them again turned
 * `@andrew%2562rown` into `andrewbrown`, and a malformed escape (`@%ZZ`) threw a URIError that
 * answered 500. A malformed escape is the client's error: 400 `malformed_percent_encoding`.
 */
import type { Context } from "hono";
import { HttpError } from "./errors.ts";

/** The handle after `@` in the last segment of the request's path, decoded once and trimmed. */
export function handleParam(c: Context): string {
  const url = c.req.url;
  const start = url.indexOf("/", url.indexOf("://") + 3);
  let end = url.length;
  for (const mark of ["?", "#"]) {
    const at = url.indexOf(mark, start);
    if (at !== -1 && at < end) end = at;
  }
  const path = url.slice(start, end);
  const segment = path.slice(path.lastIndexOf("/") + 1);
  const raw = segment.startsWith("@") ? segment.slice(1) : segment;
  try {
    return decodeURIComponent(raw).trim();
  } catch {
    throw new HttpError(400, ["malformed_percent_encoding"]);
  }
}
