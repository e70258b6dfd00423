/** What routes receive: the services' dependencies and a few request-level capabilities. */
import type { Context } from "hono";
import { DatabaseUnavailableError } from "../services/store/types.ts";
import type { ServiceDeps } from "../services/types.ts";
import type { ServiceResult } from "../services/types.ts";
import { STORE_SOURCE_VAR } from "../telemetry/http.ts";
import { errorResponse } from "./errors.ts";
import { addResponseHeader, jsonResponse } from "./response.ts";

/** Route dependencies. */
export interface RouteDeps {
  services: ServiceDeps;
  /** The signed-in user (the original's hard-coded `andrewbrown` until Cognito arrives). */
  currentUser: string;
  /** Scrubs a parsed body's secret-named fields from all telemetry. */
  noteBodySecrets(body: Record<string, unknown>): void;
  /** Reports a message to Rollbar. */
  reportMessage(message: string, level: "info" | "warning" | "error", c: Context): void;
}

/** The variable a route sets when its template is not Hono's path pattern. */
export { HTTP_ROUTE_VAR as ROUTE_TEMPLATE } from "../telemetry/http.ts";

/** Seconds a client should wait before retrying when the database is unavailable. */
export const DATABASE_RETRY_AFTER_SECONDS = 1;

/**
 * Maps a service result to HTTP: 200 with data, 422 codes, 404 codes. A database that is down
 * or unreachable is a 503 `database_unavailable` with Retry-After (the query's span already
 * holds the error), not a 500: the app recovers by itself once the database is back.
 */
export async function respond<T>(
  c: Context,
  work: ServiceResult<T> | Promise<ServiceResult<T>>,
): Promise<Response> {
  let result: ServiceResult<T>;
  try {
    result = await work;
  } catch (error) {
    if (!(error instanceof DatabaseUnavailableError)) throw error;
    addResponseHeader(c, "Retry-After", String(DATABASE_RETRY_AFTER_SECONDS));
    return errorResponse(c, 503, ["database_unavailable"]);
  }
  // A read answered from memory while the database starts says so in the access log.
  if (result.source) c.set(STORE_SOURCE_VAR, result.source);
  if (result.ok) return jsonResponse(c, result.data, 200);
  return errorResponse(c, result.kind === "not_found" ? 404 : 422, result.errors);
}
