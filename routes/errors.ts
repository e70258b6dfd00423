/**
 * The one error shape: a JSON array of snake_case codes, as the original backend answered its
 * 422s (`["message_blank"]`). Every error status uses it, so clients parse one thing.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { jsonResponse } from "./response.ts";

/** An error a route raises on purpose, mapped to its status by `app.onError`. */
export class HttpError extends Error {
  override name = "HttpError";
  /**
   * @param errorType when set, recorded as the span's `error.type` and the access log's
   * `error_type` (a client fault worth telling apart from an ordinary 4xx).
   */
  constructor(
    readonly status: ContentfulStatusCode,
    readonly codes: string[],
    readonly errorType?: string,
  ) {
    super(codes.join(", "));
  }
}

/** nginx's "client closed request": the client went away before the request was read. */
export const CLIENT_CLOSED_REQUEST = 499 as ContentfulStatusCode;

/** Answers with the error shape. */
export function errorResponse(c: Context, status: ContentfulStatusCode, codes: string[]) {
  return jsonResponse(c, codes, status);
}
