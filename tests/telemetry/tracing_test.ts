import assert from "node:assert/strict";
import { buildApp } from "../support/harness.ts";
import { startUdpListener } from "../support/udp_listener.ts";

/** Every string anywhere in `value`, with its path. */
function strings(value: unknown, path = "$"): Array<[string, string]> {
  if (typeof value === "string") return [[path, value]];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => strings(v, `${path}.${k}`));
}

const HANDLE = "h".repeat(60 * 1024);

Deno.test("a 60 KB handle path reaches no span sink uncapped: 2048 by default for spans, X-Ray and logs", async () => {
  const daemon = await startUdpListener();
  const h = await buildApp({ AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}` });
  try {
    const res = await h.app.request(`http://localhost:4567/api/activities/@${HANDLE}`);
    await res.arrayBuffer();
    assert.ok(h.exporter.spans.length > 0);
    for (const span of h.exporter.spans) {
      for (const [key, value] of Object.entries(span.attributes)) {
        if (typeof value === "string") assert.ok(value.length <= 2048, `${span.name} ${key}`);
      }
    }
    const server = h.exporter.spans.find((s) => s.attributes["url.path"] !== undefined)!;
    assert.equal(String(server.attributes["url.path"]).length, 2048, "capped, not dropped");
    await h.telemetry.forceFlush(Date.now() + 5000);
    const [doc] = await daemon.waitFor(1, 5000);
    for (const [path, value] of strings(doc!.doc)) assert.ok(value.length <= 2048, path);
    for (const event of h.events()) {
      for (const [path, value] of strings(event)) assert.ok(value.length <= 4096 + 32, path);
    }
  } finally {
    await h.close();
    await daemon.close();
  }
});

Deno.test("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT wins over OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", async () => {
  for (
    const [env, limit] of [
      [{ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: "100" }, 100],
      [
        { OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: "100", OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: "50" },
        50,
      ],
    ] as const
  ) {
    const h = await buildApp(env);
    try {
      await (await h.app.request(`http://localhost:4567/api/activities/@${HANDLE}`)).arrayBuffer();
      const server = h.exporter.spans.find((s) => s.attributes["url.path"] !== undefined)!;
      assert.equal(String(server.attributes["url.path"]).length, limit);
    } finally {
      await h.close();
    }
  }
});
