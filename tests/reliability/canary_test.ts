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
  canary: string | string[],
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
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST:
      "authorization,cookie,user-agent,referer,x-debug,x-trace-note",
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
        throw new Error(`insert failed for token ${[canary].flat()[0]} (connection reset)`);
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
      for (const secret of Array.isArray(canary) ? canary : [canary]) {
        const hits = texts.filter((t) => t.includes(secret));
        assert.equal(hits.length, 0, `${where} leaked ${secret}: ${hits[0]?.slice(0, 300)}`);
      }
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

/** Headers whose names are off the old list, and secret-shaped values under harmless names. */
function offListHeaders(canary: string, awsKey: string): Record<string, string> {
  return {
    "content-type": "application/json",
    "x-goog-iap-jwt-assertion": `eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.${canary}`,
    "x-hub-signature-256": `sha256=${canary}`,
    "x-webhook-signature": `t=1,v1=${canary}`,
    "x-auth": canary,
    "x-oauth": canary,
    "x-private-key": canary,
    "x-jwt": canary,
    "x-user-email": `${canary}@example.com`,
    referer: `https://frontend.example/callback?code=${canary}&state=xyz123`,
    "user-agent": `Mozilla/5.0 (X11) Bearer ${canary}`,
    // Harmless names, secret shapes: a JWT and an AWS access key id.
    "x-trace-note": `token eyJhbGciOiJIUzI1NiJ9.eyJjbnJ5IjoxfQ.${canary}`,
    "x-debug": `key ${awsKey} in use`,
  };
}

Deno.test("canary: secrets under names off the list and secret-shaped values leak nowhere, in any of the four sinks", async () => {
  const canary = `cnry${crypto.randomUUID().replaceAll("-", "")}`;
  const awsKey = `AKIA${canary.slice(4, 20).toUpperCase()}`;
  const { rollbar } = await withAllSinks([canary, awsKey], true, async (request) => {
    const res = await request("/api/activities", {
      method: "POST",
      headers: offListHeaders(canary, awsKey),
      body: JSON.stringify({ message: "hello", ttl: "7-days" }),
    });
    assert.equal(res.status, 500);
    await res.arrayBuffer();
    const search = await request("/api/activities/search?term=x", {
      headers: offListHeaders(canary, awsKey),
    });
    assert.equal(search.status, 200);
    await search.arrayBuffer();
  });
  // The headers were recorded, scrubbed, not dropped: the item shows their names.
  const headers = (rollbar.items[0]?.data.request as { headers: Record<string, string> }).headers;
  assert.equal(headers["x-hub-signature-256"], "REDACTED");
  assert.equal(headers.referer, "https://frontend.example/callback?code=REDACTED&state=REDACTED");
  assert.equal(headers["user-agent"], "Mozilla/5.0 (X11) Bearer REDACTED");
  assert.deepEqual(rollbar.statuses, [200], "the item is valid");
});
