/** GET /api/health-check, and the seed's GET /rollbar/test. */
import type { Hono } from "hono";
import type { Store, StoreStartup } from "../services/store/types.ts";
import type { SinkStats } from "../telemetry/types.ts";
import type { RouteDeps } from "./deps.ts";

/** Options of the health route. */
export interface HealthOptions {
  version: string;
  /** When set, the answer includes every sink's counters (HEALTH_CHECK_DETAIL=true). */
  detail?: () => Record<string, SinkStats>;
  /** The store's kind and readiness (never its address), and how it started. */
  database: Pick<Store, "kind" | "ready" | "startup">;
}

/**
 * Registers the health check: `{"success": true, "ver": 1}` as the original's later weeks,
 * plus `database: {store, ready}`. Not ready is a 503 with `success: false`, so a load
 * balancer takes the replica out while its database is away. A PGlite store that answered
 * reads from memory while starting adds `warm_start: {source, reads, serving,
 * database_ready_at}` (`serving` until PGlite answers everything, then the time it did).
 */
export function healthRoutes(app: Hono, options: HealthOptions): void {
  app.get("/api/health-check", async (c) => {
    const ready = await options.database.ready();
    return c.json({
      success: ready,
      ver: 1,
      version: options.version,
      database: {
        store: options.database.kind,
        ready,
        ...(options.database.startup ? { warm_start: warmStart(options.database.startup()) } : {}),
      },
      ...(options.detail ? { telemetry: options.detail() } : {}),
    }, ready ? 200 : 503);
  });
}

/** The health check's `warm_start`: snake_case, as the rest of the answer. */
function warmStart(startup: StoreStartup): Record<string, unknown> {
  return {
    source: startup.source,
    reads: startup.reads,
    serving: startup.serving,
    ...(startup.databaseReadyAt ? { database_ready_at: startup.databaseReadyAt } : {}),
  };
}

/** Registers the seed's Rollbar smoke test: reports a warning, answers "Hello World!". */
export function rollbarTestRoute(app: Hono, deps: RouteDeps): void {
  app.get("/rollbar/test", (c) => {
    deps.reportMessage("Hello World!", "warning", c);
    return c.text("Hello World!");
  });
}
