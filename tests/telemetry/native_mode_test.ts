/**
 * Native mode (`OTEL_DENO=true`) as it leaves the process: the real main.ts in a subprocess,
 * Deno's own exporter sending OTLP/HTTP JSON to a loopback receiver, every body decoded here
 * key by key (the receiver's flattened view would hide a key sent twice).
 */
import assert from "node:assert/strict";
import { startOtlpReceiver } from "../support/otlp_receiver.ts";
import { childEnv } from "../support/child_env.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: unknown;
}
interface OtlpSpan {
  name: string;
  kind: number;
  traceId: string;
  parentSpanId: string;
  attributes: Array<{ key: string; value: OtlpValue }>;
}

function decodeSpans(raw: string): OtlpSpan[] {
  const body = JSON.parse(raw) as {
    resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
  };
  return (body.resourceSpans ?? []).flatMap((r) =>
    (r.scopeSpans ?? []).flatMap((s) => s.spans ?? [])
  );
}

function typeOf(value: OtlpValue): string {
  return Object.keys(value).find((k) => k.endsWith("Value")) ?? "none";
}

Deno.test("native mode exports each attribute key once per span, integers as intValue", async () => {
  const receiver = startOtlpReceiver();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "main.ts"],
    cwd: new URL("../..", import.meta.url),
    clearEnv: true,
    env: childEnv({
      OTEL_DENO: "true",
      // The spawn grants no write, so not the default PGlite store.
      DATABASE_URL: "memory:",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_DENO_CONSOLE: "ignore",
      OTEL_DENO_METRICS: "false",
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_FORMAT: "json",
    }),
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    let port = "";
    while (!port) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`main.ts exited early: ${buffered}`);
      buffered += value;
      port = /listening on http:\/\/[^:]+:(\d+)/.exec(buffered)?.[1] ?? "";
    }
    const drain = (async () => {
      while (!(await reader.read()).done) { /* keep the pipe flowing */ }
    })();
    const base = `http://127.0.0.1:${port}`;
    const requests: Array<[string, RequestInit]> = [
      ["/api/activities/home", { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } }],
      ["/api/activities/search?term=cloud", {}],
      ["/api/activities/does-not-exist/x", {}],
      ["/api/activities/home", { method: "FOO" }],
    ];
    for (const [path, init] of requests) {
      await (await fetch(`${base}${path}`, init)).arrayBuffer();
    }
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await drain;
    await receiver.waitForSpans(6, 30_000);
    const spans = receiver.requests.filter((r) => r.status === 200).flatMap((r) =>
      decodeSpans(r.raw)
    );
    const servers = spans.filter((s) => s.kind === 2);
    assert.equal(servers.length, requests.length);
    for (const span of spans) {
      const keys = span.attributes.map((a) => a.key);
      assert.deepEqual(
        keys.filter((k, i) => keys.indexOf(k) !== i),
        [],
        `${span.name} sends a key twice`,
      );
    }
    const value = (span: OtlpSpan, key: string) =>
      span.attributes.find((a) => a.key === key)?.value;
    const home = servers.find((s) => s.name === "GET /api/activities/home")!;
    assert.equal(home.traceId, TRACE);
    assert.equal(home.parentSpanId, PARENT);
    assert.equal(value(home, "http.route")?.stringValue, "/api/activities/home");
    // Integers are integers: ours as intValue.
    for (const key of ["server.port", "http.response.body.size"]) {
      assert.equal(typeOf(value(home, key)!), "intValue", key);
    }
    const data = spans.find((s) => s.name === "home-activities-mock-data")!;
    assert.equal(typeOf(value(data, "app.result_length")!), "intValue");
    // What stays Deno's (2.9): its own status code and url.full, once each.
    assert.ok(value(home, "http.response.status_code"));
    assert.ok(value(home, "url.full"));
    const other = servers.find((s) => s.name === "HTTP")!;
    assert.equal(value(other, "http.request.method_original")?.stringValue, "FOO");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    await receiver.close();
  }
});
