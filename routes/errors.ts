/**
 * The one error shape: a JSON array of snake_case codes, as the original backend answered its
 * 422s (`["message_blank"]`). Every error status uses it, so clients parse one thing.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { jsonResponse } from "./json.ts";

/** An error a route raises on purpose, mapped to its status by `app.onError`. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(readonly status: ContentfulStatusCode, readonly codes: string[]) {
    super(codes.join(", "));
  }
}

/** Answers with the error shape. */
export function errorResponse(c: Context, status: ContentfulStatusCode, codes: string[]) {
  return jsonResponse(c, codes, status);
}
