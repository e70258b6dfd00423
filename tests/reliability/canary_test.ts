/**
 * Secret canaries: one request carries a unique value in every secret-bearing place; with all
 * four sinks on, nothing that leaves the process (OTLP payloads, X-Ray datagrams, CloudWatch
 * events, Rollbar bodies, console lines) may contain it.
 */
import assert from "node:assert/strict";
import { buildApp } from "../support/harness.ts";
import { startOtlpReceiver } from "../support/otlp_receiver.ts";
import { startCloudWatchStandIn } from "../support/cloudwatch_standin.ts";
import { startRollbarStandIn } from "../support/rollbar_standin.ts";
import { startUdpListener } from "../support/udp_listener.ts";
import { AWS_ENV, until } from "../support/faults.ts";
import type { Store } from "../../services/store.ts";

async function withAllSinks(
  canary: string,
  expectRollbar: boolean,
  run: (request: (path: string, init?: RequestInit) => Promise<Response>) => Promise<void>,
) {
  const receiver = startOtlpReceiver();
  const daemon = await startUdpListener();
  const cloudwatch = startCloudWatchStandIn();
  const rollbar = startRollbarStandIn();
  const h = await buildApp({
    ...AWS_ENV,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: "10",
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST: "authorization,cookie,user-agent",
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}`,
    CLOUDWATCH_LOG_GROUP: "cruddur",
    CLOUDWATCH_LOG_STREAM: "canary",
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: cloudwatch.endpoint,
    CLOUDWATCH_FLUSH_INTERVAL_MS: "20",
    ROLLBAR_ACCESS_TOKEN: "rollbar-token",
    ROLLBAR_ENDPOINT: rollbar.endpoint,
  }, {
    xray: { flushIntervalMs: 5 },
    store: (s: Store): Store => ({
      ...s,
      addActivity() {
        throw new Error(`insert failed for token ${canary} (connection reset)`);
      },
    }),
  });
  try {
    await run(async (path, init) => await h.app.request(path, init));
    await h.telemetry.forceFlush(Date.now() + 3000);
    await until(() => receiver.spans().length >= 1, 3000, "spans");
    const places: Array<[string, string[]]> = [
      ["OTLP", receiver.requests.map((r) => r.raw)],
      ["X-Ray", daemon.documents.map((d) => JSON.stringify(d.doc))],
      ["CloudWatch", cloudwatch.events("cruddur", "canary").map((e) => e.message)],
      ["Rollbar", [...rollbar.bodies]],
      ["console", h.lines],
      ["diagnostics", h.diagnostics],
    ];
    for (const [where, texts] of places) {
      // A succeeding request reports nothing to Rollbar; every other place must have data.
      const optional = where === "diagnostics" || (where === "Rollbar" && !expectRollbar);
      assert.ok(texts.length > 0 || optional, `${where} captured something`);
      const hits = texts.filter((t) => t.includes(canary));
      assert.equal(hits.length, 0, `${where} leaked the canary: ${hits[0]?.slice(0, 300)}`);
    }
    return { receiver, daemon, cloudwatch, rollbar };
  } finally {
    await h.close();
    await receiver.close();
    await daemon.close();
    await cloudwatch.close();
    await rollbar.close();
  }
}

function canaryHeaders(canary: string): Record<string, string> {
  return {
    authorization: `Bearer ${canary}`,
    cookie: `session=${canary}; theme=dark`,
    "content-type": "application/json",
  };
}

Deno.test("canary: a failing POST /api/activities with the secret everywhere leaks it nowhere", async () => {
  const canary = `cnry${crypto.randomUUID().replaceAll("-", "")}`;
  await withAllSinks(canary, true, async (request) => {
    const res = await request(`/api/activities?access_token=${canary}&sig=${canary}`, {
      method: "POST",
      headers: canaryHeaders(canary),
      body: JSON.stringify({ message: "hello", ttl: "7-days", password: canary }),
    });
    assert.equal(res.status, 500);
    assert.ok(!(await res.text()).includes(canary));
  });
});

Deno.test("canary: a succeeding search with access_token in the query leaks it nowhere", async () => {
  const canary = `cnry${crypto.randomUUID().replaceAll("-", "")}`;
  await withAllSinks(canary, false, async (request) => {
    const res = await request(`/api/activities/search?term=x&access_token=${canary}`, {
      headers: canaryHeaders(canary),
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });
});
