/**
 * The test service the W3C Trace Context suite (w3c/trace-context, `test/`) drives: the real
 * app plus `POST /test`, which takes a JSON array of `{url, arguments}` and, for each element,
 * POSTs `arguments` as JSON to `url` through `telemetry.fetch()`, so the callback shows the
 * trace context the app propagates. Used in-process by tests/telemetry/trace_context_suite_test.ts;
 * run it directly to point the official Python suite at it:
 *
 *   deno run -A tests/support/trace_context_service.ts   # listens on 127.0.0.1:5000
 *   STRICT_LEVEL=2 SPEC_LEVEL=2 python3 test.py http://127.0.0.1:5000/test
 */
import { buildApp, type Harness } from "./harness.ts";

/** One instruction of the suite: call `url` with `arguments` as the body. */
interface Instruction {
  url: string;
  arguments: Instruction[];
}

function isInstructions(value: unknown): value is Instruction[] {
  return Array.isArray(value) &&
    value.every((item) =>
      typeof item === "object" && item !== null && typeof item.url === "string" &&
      Array.isArray(item.arguments)
    );
}

/** Builds the app with the suite's `POST /test` endpoint added. */
export async function buildTraceContextService(env: Record<string, string> = {}): Promise<Harness> {
  const h = await buildApp({ LOG_LEVEL: "warn", ...env });
  h.app.post("/test", async (c) => {
    const body: unknown = await c.req.json().catch(() => undefined);
    if (!isInstructions(body)) return c.json(["bad_instructions"], 400);
    for (const item of body) {
      // Only loopback callbacks: the suite's harness runs beside the service.
      if (!/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?\//.test(item.url)) continue;
      const res = await h.telemetry.fetch(item.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(item.arguments),
      });
      await res.arrayBuffer();
    }
    return c.json({ ok: true });
  });
  return h;
}

if (import.meta.main) {
  const h = await buildTraceContextService();
  const port = Number(Deno.env.get("PORT") ?? 5000);
  const server = Deno.serve({ hostname: "127.0.0.1", port }, h.app.fetch);
  Deno.addSignalListener("SIGINT", async () => {
    await server.shutdown();
    await h.close();
    Deno.exit(0);
  });
}
