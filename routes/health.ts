/** GET /api/health-check, and the seed's GET /rollbar/test. */
import type { Hono } from "hono";
import type { SinkStats } from "../telemetry/types.ts";
import type { RouteDeps } from "./deps.ts";

/** Options of the health route. */
export interface HealthOptions {
  version: string;
  /** When set, the answer includes every sink's counters (HEALTH_CHECK_DETAIL=true). */
  detail?: () => Record<string, SinkStats>;
}

/** Registers the health check: `{"success": true, "ver": 1}` as the original's later weeks. */
export function healthRoutes(app: Hono, options: HealthOptions): void {
  app.get("/api/health-check", (c) =>
    c.json({
      success: true,
      ver: 1,
      version: options.version,
      ...(options.detail ? { telemetry: options.detail() } : {}),
    }));
}

/** Registers the seed's Rollbar smoke test: reports a warning, answers "Hello World!". */
export function rollbarTestRoute(app: Hono, deps: RouteDeps): void {
  app.get("/rollbar/test", (c) => {
    deps.reportMessage("Hello World!", "warning", c);
    return c.text("Hello World!");
  });
}
