/**
 * Each signal's OTEL_EXPORTER_OTLP_<SIGNAL>_TIMEOUT reaches its exporter: a loopback collector
 * that never answers, a generic OTEL_EXPORTER_OTLP_TIMEOUT of 10 minutes and a signal timeout of
 * 100 ms. Only the signal's own value can end the call within the test's bound.
 */
import assert from "node:assert/strict";
import { buildApp, type Harness } from "../support/harness.ts";

/** An OTLP collector that holds every request open until it closes. */
function startSilentCollector() {
  const paths: string[] = [];
  const release: Array<() => void> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    paths.push(new URL(req.url).pathname);
    return new Promise<Response>((resolve) => release.push(() => resolve(Response.json({}))));
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    paths,
    async close() {
      for (const answer of release.splice(0)) answer();
      await server.shutdown();
    },
  };
}

/** Waits for `test`, failing after a bound far below the 10-minute generic timeout. */
async function waitFor(test: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!test()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const GENERIC = { OTEL_EXPORTER_OTLP_TIMEOUT: "600000" };

async function withApp(
  collectorUrl: string,
  env: Record<string, string>,
  run: (h: Harness) => Promise<void>,
): Promise<void> {
  const h = await buildApp({ OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, ...GENERIC, ...env });
  try {
    const res = await h.app.request("/api/activities/home");
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await run(h);
  } finally {
    await h.close();
  }
}

Deno.test("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ends a trace export the collector never answers", async () => {
  const collector = startSilentCollector();
  try {
    await withApp(collector.url, {
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "100",
      OTEL_BSP_SCHEDULE_DELAY: "10",
      OTEL_METRICS_EXPORTER: "none",
      OTEL_LOGS_EXPORTER: "none",
    }, async (h) => {
      await waitFor(() => (h.telemetry.stats().traces?.retried ?? 0) >= 1, "a timed-out retry");
      assert.ok(h.diagnostics.some((d) => d.includes("100 ms")), h.diagnostics.join("\n"));
    });
  } finally {
    await collector.close();
  }
});

Deno.test("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT ends a log export the collector never answers", async () => {
  const collector = startSilentCollector();
  try {
    await withApp(collector.url, {
      OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: "100",
      OTEL_BLRP_SCHEDULE_DELAY: "10",
      OTEL_TRACES_EXPORTER: "none",
      OTEL_METRICS_EXPORTER: "none",
    }, async (h) => {
      await waitFor(() => (h.telemetry.stats().logs?.retried ?? 0) >= 1, "a timed-out retry");
    });
  } finally {
    await collector.close();
  }
});

Deno.test("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT ends a metric export the collector never answers", async () => {
  const collector = startSilentCollector();
  try {
    // The reader's own OTEL_METRIC_EXPORT_TIMEOUT (30 s by default) is also beyond the bound.
    await withApp(collector.url, {
      OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: "100",
      OTEL_TRACES_EXPORTER: "none",
      OTEL_LOGS_EXPORTER: "none",
    }, async (h) => {
      const flushed = h.telemetry.forceFlush(Date.now() + 60_000);
      await waitFor(() => (h.telemetry.stats().metrics?.dropped ?? 0) >= 1, "a timed-out export");
      await flushed;
    });
  } finally {
    await collector.close();
  }
});
