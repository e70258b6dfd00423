/**
 * Hostile and malformed input, one test per case: trace headers, HTTP abuse through a real
 * Deno.serve, and log injection. Never a crash, always the one JSON-array error shape.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { buildApp, serve } from "../support/harness.ts";
import { startRollbarStandIn } from "../support/rollbar_standin.ts";
import type { Store } from "../../services/store.ts";

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$/;
const VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function traceIdOf(res: Response): string | undefined {
  return res.headers.get("traceresponse")?.split("-")[1];
}

Deno.test("tracestate without traceparent starts a fresh trace and is not propagated", async () => {
  const h = await buildApp();
  try {
    const res = await h.app.request("/api/activities/home", { headers: { tracestate: "k=v" } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const span = h.exporter.byName("GET /api/activities/home");
    assert.equal(span.parentSpanContext, undefined);
    assert.equal(span.spanContext().traceState, undefined);
  } finally {
    await h.close();
  }
});

Deno.test("tracestate with 33 members and an oversized key: the trace continues, 200", async () => {
  const h = await buildApp();
  try {
    const members = Array.from({ length: 33 }, (_, i) => `k${i}=v${i}`);
    members.push(`${"k".repeat(300)}=v`);
    const res = await h.app.request("/api/activities/home", {
      headers: { traceparent: VALID, tracestate: members.join(",") },
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(traceIdOf(res), "4bf92f3577b34da6a3ce929d0e0e4736");
    const state = h.exporter.byName("GET /api/activities/home").spanContext().traceState;
    const kept = state?.serialize().split(",").filter((m) => m !== "") ?? [];
    assert.ok(kept.length <= 32, `kept ${kept.length} members`);
    assert.ok(!state?.serialize().includes("k".repeat(300)));
  } finally {
    await h.close();
  }
});

Deno.test("duplicate traceparent headers (combined with a comma) start a new trace, 200", async () => {
  const h = await buildApp();
  try {
    const other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const headers = new Headers();
    headers.append("traceparent", VALID);
    headers.append("traceparent", other);
    const res = await h.app.request("/api/activities/home", { headers });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.match(res.headers.get("traceresponse") ?? "", TRACEPARENT);
  } finally {
    await h.close();
  }
});

Deno.test("fuzzed X-Amzn-Trace-Id: thousands of random values, never a throw, always 200", async () => {
  const h = await buildApp();
  const alphabet = "0123456789abcdefRootParentSampled=;-1xyz \t\u0000\u00ff\u2028";
  const seeds = [
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "Root=;Parent=;Sampled=",
    ";;;;",
    "Root=1-zzzzzzzz-bd862e3fe1be46a994272793",
  ];
  try {
    for (let i = 0; i < 2000; i++) {
      let value = seeds[i % seeds.length]!;
      const n = Math.floor(Math.random() * 60);
      if (i % 2 === 0) {
        value = Array.from(
          { length: n },
          () => alphabet[Math.floor(Math.random() * alphabet.length)],
        )
          .join("");
      } else {
        const at = Math.floor(Math.random() * value.length);
        value = value.slice(0, at) + alphabet[i % alphabet.length] + value.slice(at + 1);
      }
      let headers: Headers;
      try {
        headers = new Headers({ "x-amzn-trace-id": value });
      } catch {
        continue; // not a legal header value: no client can send it
      }
      const res = await h.app.request("/api/activities/home", { headers });
      assert.equal(res.status, 200, value);
      await res.arrayBuffer();
      assert.match(res.headers.get("traceresponse") ?? "", TRACEPARENT, value);
      h.exporter.reset();
    }
  } finally {
    await h.close();
  }
});

async function rawRequest(port: number, text: string | Uint8Array): Promise<string> {
  return await new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Uint8Array[] = [];
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.on("data", (d: Uint8Array) => chunks.push(d));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))));
    });
    socket.on("error", () => {});
    socket.end(text);
  });
}

async function withServer(
  env: Record<string, string>,
  run: (url: string) => Promise<void>,
) {
  const h = await buildApp(env);
  const server = serve(h.app);
  try {
    await run(server.url);
    const after = await fetch(`${server.url}/api/health-check`);
    assert.equal(after.status, 200, "the server survives and the next request works");
    await after.arrayBuffer();
  } finally {
    await server.close();
    await h.close();
  }
}

async function assertErrorShape(res: Response, status: number | number[]): Promise<void> {
  const allowed = Array.isArray(status) ? status : [status];
  assert.ok(allowed.includes(res.status), `status ${res.status}`);
  const body = await res.json();
  assert.ok(Array.isArray(body) && body.every((c) => typeof c === "string"), JSON.stringify(body));
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
}

const POST = "/api/activities";

Deno.test("a body over the declared limit gets 413 in the error shape", async () => {
  await withServer({ BODY_LIMIT_BYTES: "1024" }, async (url) => {
    const res = await fetch(`${url}${POST}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: "x".repeat(5000), ttl: "7-days" }),
    });
    await assertErrorShape(res, 413);
  });
});

Deno.test("a chunked body without Content-Length over the limit gets 413", async () => {
  await withServer({ BODY_LIMIT_BYTES: "1024" }, async (url) => {
    const big = new TextEncoder().encode(JSON.stringify({ message: "x".repeat(5000) }));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < big.length; i += 500) controller.enqueue(big.slice(i, i + 500));
        controller.close();
      },
    });
    const res = await fetch(`${url}${POST}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    await assertErrorShape(res, 413);
  });
});

Deno.test("a Content-Length lie (claim small, send big) never crashes the server", async () => {
  await withServer({ BODY_LIMIT_BYTES: "1024" }, async (url) => {
    const port = Number(new URL(url).port);
    const body = JSON.stringify({ message: "x".repeat(5000), ttl: "7-days" });
    const answer = await rawRequest(
      port,
      `POST ${POST} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\nConnection: close\r\n\r\n${body}`,
    );
    assert.match(answer, /^HTTP\/1\.1 (400|413|422)/);
  });
});

Deno.test("a Content-Length lie (claim big, send small) ends cleanly", async () => {
  await withServer({ BODY_LIMIT_BYTES: "1024" }, async (url) => {
    const port = Number(new URL(url).port);
    const answer = await rawRequest(
      port,
      `POST ${POST} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"message":"hi"}`,
    );
    // Either a 413 for the declared size, or a closed connection: never a 5xx.
    assert.ok(answer === "" || /^HTTP\/1\.1 (400|413)/.test(answer), answer.slice(0, 80));
  });
});

Deno.test("a 64 KB header value gets whatever Deno answers, and the server survives", async () => {
  await withServer({}, async (url) => {
    const port = Number(new URL(url).port);
    const answer = await rawRequest(
      port,
      `GET /api/activities/home HTTP/1.1\r\nHost: x\r\nX-Big: ${
        "a".repeat(64 * 1024)
      }\r\nConnection: close\r\n\r\n`,
    );
    assert.ok(answer === "" || /^HTTP\/1\.1 (200|400|431)/.test(answer), answer.slice(0, 80));
  });
});

Deno.test("a non-JSON body gets 415, malformed JSON 400, an overlong message 422", async () => {
  await withServer({}, async (url) => {
    const post = (type: string, body: string) =>
      fetch(`${url}${POST}`, { method: "POST", headers: { "content-type": type }, body });
    await assertErrorShape(await post("text/plain", "hello"), 415);
    await assertErrorShape(await post("application/json", '{"message":'), 400);
    await assertErrorShape(
      await post("application/json", JSON.stringify({ message: "x".repeat(2000), ttl: "7-days" })),
      422,
    );
  });
});

Deno.test("a disallowed CORS origin gets no Access-Control-Allow-Origin", async () => {
  await withServer({ FRONTEND_URL: "http://localhost:3000" }, async (url) => {
    const res = await fetch(`${url}/api/activities/home`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    await res.arrayBuffer();
    assert.notEqual(res.headers.get("access-control-allow-origin"), "https://evil.example");
    assert.notEqual(res.headers.get("access-control-allow-origin"), "*");
  });
});

Deno.test("log injection: CR/LF, ANSI, NUL and 1 MB in a message and a User-Agent stay one capped JSON event", async () => {
  const h = await buildApp();
  try {
    const evil = 'line1\r\nFAKE {"level":"error"}\u001b[31mred\u001b[0m\u0000end';
    h.telemetry.logger.info(evil);
    h.telemetry.logger.info("x".repeat(1024 * 1024));
    const res = await h.app.request(
      `/api/activities/search?term=${encodeURIComponent(evil)}`,
      // A header cannot carry CR, LF or NUL (Headers refuses them); ANSI and length it can.
      { headers: { "user-agent": `ua\u001b[31m${"u".repeat(100_000)}` } },
    );
    await res.arrayBuffer();
    for (const line of h.lines) {
      // deno-lint-ignore no-control-regex
      assert.ok(!/[\r\n\u0000\u001b]/.test(line), "control characters are escaped");
      assert.ok(line.length <= 256 * 1024, `line of ${line.length} chars is capped`);
      JSON.parse(line); // each line is one well-formed event
    }
    assert.ok(h.lines.some((l) => l.includes("line1")), "the evil message is logged, escaped");
    assert.ok(!h.lines.some((l) => l.startsWith("FAKE")));
  } finally {
    await h.close();
  }
});

Deno.test("query and header values equal to Rollbar payload keys or levels never break an item (the stand-in validates the schema)", async () => {
  const rollbar = startRollbarStandIn();
  const h = await buildApp({
    ROLLBAR_ACCESS_TOKEN: "rollbar-token",
    ROLLBAR_ENDPOINT: rollbar.endpoint,
    ROLLBAR_ENVIRONMENT: "production",
  }, {
    store: (s: Store): Store => ({
      ...s,
      addActivity() {
        throw new Error("insert failed: connection reset");
      },
    }),
  });
  try {
    const values = ["message", "environment", "trace_chain", "exception", "frames", "warning"];
    const hostile = `x=${values.join("&x=")}&env=production&lvl=error`;
    const headers = {
      "content-type": "application/json",
      "x-api-key": "trace_chain",
      "x-csrf-token": "environment",
      "x-auth": "message",
    };
    const post = await h.app.request(`/api/activities?${hostile}`, {
      method: "POST",
      headers,
      body: JSON.stringify({ message: "hello", ttl: "7-days" }),
    });
    assert.equal(post.status, 500);
    await post.arrayBuffer();
    const hello = await h.app.request(`/rollbar/test?${hostile}`, { headers });
    assert.equal(hello.status, 200);
    await hello.arrayBuffer();
    await h.telemetry.forceFlush(Date.now() + 3000);
    assert.deepEqual(rollbar.statuses, [200, 200], "both items are accepted");
    const [error, message] = rollbar.items.map((i) => i.data);
    assert.ok(error && message);
    assert.ok(Array.isArray((error.body as Record<string, unknown>).trace_chain));
    assert.equal(error.level, "error");
    assert.equal(error.environment, "production", "the item stays in its environment");
    assert.equal((message.body as { message: { body: string } }).message.body, "Hello World!");
    assert.equal(message.level, "warning");
    assert.equal(message.environment, "production");
  } finally {
    await h.close();
    await rollbar.close();
  }
});
