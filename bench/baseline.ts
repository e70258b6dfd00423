/**
 * The benchmark's baseline: a plain Hono app serving GET /api/activities/home with the same
 * store, the same service and the same JSON response as the real app, and no telemetry at all
 * (a no-op span, a no-op logger, no middleware, untraced queries). The store is the one main.ts
 * would open with the same environment (DATABASE_URL, DATA_DIR, DATABASE_*, read by config.ts),
 * so a store's row has a baseline on that store. Run it the way main.ts runs:
 *
 *   DATABASE_URL=memory: HOST=127.0.0.1 PORT=4568 deno run --allow-net --allow-env --allow-read bench/baseline.ts
 *   DATA_DIR=/tmp/data ... deno run --allow-net --allow-env --allow-read --allow-write=/tmp/data bench/baseline.ts
 */
import { Hono } from "hono";
import { INVALID_SPAN_CONTEXT, type Span, trace } from "@opentelemetry/api";
import { loadConfig } from "../config.ts";
import { homeActivities } from "../services/home_activities.ts";
import { createMemoryStore, openStore, type Store } from "../services/store.ts";
import type { ServiceDeps } from "../services/types.ts";

const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
const CURRENT_USER = "andrewbrown";

/** Builds the baseline app: the home feed route and a health check for readiness. */
export function createBaselineApp(
  clock: () => number = Date.now,
  store: Store = createMemoryStore({ seededAt: clock(), currentUser: CURRENT_USER }),
): Hono {
  const services: ServiceDeps = {
    store,
    clock,
    // Same call shape as telemetry.traced, minus the span: the handler's own cost stays.
    traced: (_name, fn) => Promise.resolve(fn(NOOP_SPAN)),
    log: { info() {}, warn() {} },
  };
  const app = new Hono();
  app.get("/api/activities/home", async (c) => {
    const result = await homeActivities(services);
    if (!result.ok) return c.json({ errors: result.errors }, 422);
    return c.json(result.data, 200);
  });
  app.get("/api/health-check", (c) => c.json({ success: true, ver: 1 }));
  return app;
}

/**
 * The store main.ts would open with this process's store variables (DATABASE_URL, DATA_DIR,
 * DATABASE_*) and nothing else: the baseline (and bench/floor.ts) have no telemetry to configure.
 */
export function openStoreFromEnv(): Promise<Store> {
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => /^DATA(BASE_.*|_DIR)$/.test(name)),
  );
  return openStore({
    database: loadConfig(env).database,
    seededAt: Date.now(),
    currentUser: CURRENT_USER,
  });
}

if (import.meta.main) {
  const store = await openStoreFromEnv();
  const app = createBaselineApp(Date.now, store);
  const server = Deno.serve({
    hostname: Deno.env.get("HOST") ?? "127.0.0.1",
    port: Number(Deno.env.get("PORT") ?? "4568"),
    onListen() {},
  }, app.fetch);
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, async () => {
      await server.shutdown();
      await store.close();
      Deno.exit(0);
    });
  }
}
