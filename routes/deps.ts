/** What routes receive: the services' dependencies and a few request-level capabilities. */
import type { Context } from "hono";
import type { ServiceDeps } from "../services/types.ts";
import type { ServiceResult } from "../services/types.ts";
import { errorResponse } from "./errors.ts";
import { jsonResponse } from "./json.ts";

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

/** Maps a service result to HTTP: 200 with data, 422 codes, 404 codes. */
export function respond<T>(c: Context, result: ServiceResult<T>) {
  if (result.ok) return jsonResponse(c, result.data, 200);
  return errorResponse(c, result.kind === "not_found" ? 404 : 422, result.errors);
}
