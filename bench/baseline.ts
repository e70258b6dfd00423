/**
 * The benchmark's baseline: a plain Hono app serving GET /api/activities/home with the same
 * store, the same service and the same JSON response as the real app, and no telemetry at all
 * (a no-op span, a no-op logger, no middleware). Run it the way main.ts runs:
 *
 *   HOST=127.0.0.1 PORT=4568 deno run --allow-net --allow-env --allow-read bench/baseline.ts
 */
import { Hono } from "hono";
import { INVALID_SPAN_CONTEXT, type Span, trace } from "@opentelemetry/api";
import { homeActivities } from "../services/home_activities.ts";
import { createMemoryStore } from "../services/store.ts";
import type { ServiceDeps } from "../services/types.ts";

const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Builds the baseline app: the home feed route and a health check for readiness. */
export function createBaselineApp(clock: () => number = Date.now): Hono {
  const services: ServiceDeps = {
    store: createMemoryStore({ seededAt: clock(), currentUser: "andrewbrown" }),
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

if (import.meta.main) {
  const app = createBaselineApp();
  const server = Deno.serve({
    hostname: Deno.env.get("HOST") ?? "127.0.0.1",
    port: Number(Deno.env.get("PORT") ?? "4568"),
    onListen() {},
  }, app.fetch);
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, async () => {
      await server.shutdown();
      Deno.exit(0);
    });
  }
}
