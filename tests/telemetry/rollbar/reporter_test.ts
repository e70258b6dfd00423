import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import process from "node:process";
import {
  createRollbarReporter,
  type ErrorReporter,
  type RollbarOptions,
} from "../../../telemetry/rollbar/reporter.ts";
import {
  ROLLBAR_MAX_PAYLOAD_BYTES,
  type RollbarStandIn,
  startRollbarStandIn,
} from "../../support/rollbar_standin.ts";
import { startHostileEndpoint } from "../../support/hostile_http.ts";

const TOKEN = "test-post-server-item-token";

interface Harness {
  standIn: RollbarStandIn;
  reporter: ErrorReporter;
  diagnostics: string[];
}

async function withReporter(
  options: Partial<RollbarOptions>,
  run: (h: Harness) => Promise<void>,
): Promise<void> {
  const standIn = startRollbarStandIn({ accessToken: TOKEN });
  const diagnostics: string[] = [];
  const reporter = createRollbarReporter({
    accessToken: TOKEN,
    endpoint: standIn.endpoint,
    environment: "test",
    codeVersion: "abc1234",
    host: "test-host",
    diagnostic: (m) => diagnostics.push(m),
    ...options,
  });
  try {
    await run({ standIn, reporter, diagnostics });
  } finally {
    await reporter.shutdown(Date.now() + 2000);
    await standIn.close();
  }
}

function assertFalse(value: boolean, message?: string) {
  assert(!value, message ?? "expected false");
}

function assertStringIncludes(text: string, part: string) {
  assert(text.includes(part), `expected ${JSON.stringify(part)} in ${JSON.stringify(text)}`);
}

function soon(ms = 2000): number {
  return Date.now() + ms;
}

function assertBalanced(reporter: ErrorReporter) {
  const s = reporter.stats();
  assertEquals(s.queued, s.sent + s.failed + s.dropped, JSON.stringify(s));
}

function field(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

function randomCanary(): string {
  return `canary${crypto.randomUUID().replaceAll("-", "")}`;
}

Deno.test("reportMessage() delivers a warning item with level warning", async () => {
  await withReporter({}, async ({ standIn, reporter }) => {
    reporter.reportMessage("disk almost full", "warning");
    await reporter.forceFlush(soon());
    assertEquals(standIn.items.length, 1);
    const data = standIn.items[0]!.data;
    assertEquals(data.level, "warning");
    assertEquals(field(data, "body", "message", "body"), "disk almost full");
    assertEquals(data.environment, "test");
    assertEquals(data.code_version, "abc1234");
    assertEquals(field(data, "server", "host"), "test-host");
    assertEquals(reporter.stats().sent, 1);
    assertBalanced(reporter);
  });
});

Deno.test("reportError() sends one error item with trace ids, route, person and custom data", async () => {
  await withReporter({}, async ({ standIn, reporter }) => {
    class ActivityError extends Error {
      override name = "ActivityError";
    }
    reporter.reportError(new ActivityError("could not create the activity"), {
      request: {
        method: "POST",
        url: "http://localhost:4567/api/activities?draft=1",
        route: "/api/activities",
        headers: new Headers({ "user-agent": "test-agent", "content-type": "application/json" }),
        clientAddress: "198.51.100.23",
      },
      person: { id: "user-42", username: "andrewbrown" },
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      xrayTraceId: "1-5759e988-bd862e3fe1be46a994272793",
      custom: { handle: "@andrewbrown" },
    });
    await reporter.forceFlush(soon());
    assertEquals(standIn.items.length, 1);
    const data = standIn.items[0]!.data;
    assertEquals(data.level, "error");
    const trace = field(data, "body", "trace_chain", 0);
    assertEquals(field(trace, "exception", "message"), "could not create the activity");
    assertEquals(field(trace, "exception", "class"), "ActivityError");
    assert(Array.isArray(field(trace, "frames")));
    assertEquals(data.custom, {
      handle: "@andrewbrown",
      trace_id: "0af7651916cd43dd8448eb211c80319c",
      span_id: "b7ad6b7169203331",
      xray_trace_id: "1-5759e988-bd862e3fe1be46a994272793",
      route: "/api/activities",
    });
    assertEquals(data.person, { id: "user-42", username: "andrewbrown" });
    assertEquals(data.context, "/api/activities");
    assertEquals(field(data, "request", "method"), "POST");
    assertEquals(
      field(data, "request", "url"),
      "http://localhost:4567/api/activities?draft=REDACTED",
    );
    assertEquals(field(data, "request", "user_ip"), "198.51.100.0");
    assertEquals(field(data, "request", "headers", "user-agent"), "test-agent");
    assertEquals(field(data, "request", "body"), undefined);
    assertEquals(field(data, "server", "argv"), undefined);
    assertEquals(reporter.stats().sent, 1);
    assertBalanced(reporter);
  });
});

Deno.test("reportError() lets no secret canary reach the payload", async () => {
  await withReporter({}, async ({ standIn, reporter }) => {
    const canary = randomCanary();
    const forwardedIp = "203.0.113.77";
    const cause = new Error(`token refresh failed for ${canary}`);
    const error = new Error(`auth failed: Bearer ${canary}; cookie ${canary}`, { cause });
    reporter.reportError(error, {
      request: {
        method: "GET",
        url: `/api/activities/home?token=${canary}&access_token=${canary}&sig=${canary}&page=2`,
        route: "/api/activities/home",
        headers: new Headers({
          authorization: `Bearer ${canary}`,
          cookie: `session=${canary}; theme=dark`,
          "x-api-key": canary,
          "x-forwarded-for": `${forwardedIp}, 10.0.0.1`,
          "user-agent": "test-agent",
        }),
        clientAddress: "127.0.0.1",
      },
      custom: { password: canary, note: `echo ${canary}` },
    });
    await reporter.forceFlush(soon());
    assertEquals(standIn.items.length, 1);
    const raw = standIn.bodies.join("\n");
    assertFalse(raw.includes(canary), "the canary reached Rollbar");
    assertFalse(raw.includes(forwardedIp), "X-Forwarded-For reached Rollbar");
    assertFalse(raw.toLowerCase().includes("x-forwarded-for"));
    const data = standIn.items[0]!.data;
    // Keys kept, values gone.
    const url = String(field(data, "request", "url"));
    for (const key of ["token=", "access_token=", "sig=", "page="]) assertStringIncludes(url, key);
    assertStringIncludes(
      String(field(data, "body", "trace_chain", 0, "exception", "message")),
      "auth failed: REDACTED; cookie REDACTED",
    );
    assertEquals(reporter.stats().sent, 1);
    assertBalanced(reporter);
  });
});

Deno.test("createRollbarReporter() drops and counts items beyond itemsPerMinute", async () => {
  let clock = 1_000_000;
  await withReporter(
    { itemsPerMinute: 3, now: () => clock },
    async ({ standIn, reporter, diagnostics }) => {
      for (let i = 0; i < 5; i++) reporter.reportMessage(`message ${i}`, "info");
      await reporter.forceFlush(soon());
      assertEquals(standIn.items.length, 3);
      assertEquals(reporter.stats().dropped, 2);
      assertEquals(reporter.stats().sent, 3);
      assertEquals(diagnostics.length, 1, "at most one diagnostic a minute");
      clock += 60_000;
      reporter.reportMessage("next minute", "info");
      await reporter.forceFlush(soon());
      assertEquals(standIn.items.length, 4);
      assertEquals(
        field(standIn.items[3]!.data, "body", "message", "body"),
        "next minute",
      );
      assertEquals(reporter.stats(), {
        queued: 6,
        sent: 4,
        retried: 0,
        dropped: 2,
        rejected: 0,
        failed: 0,
      });
    },
  );
});

Deno.test("createRollbarReporter() drops and counts items beyond maxPending", async () => {
  await withReporter({ maxPending: 2 }, async ({ standIn, reporter }) => {
    for (let i = 0; i < 5; i++) reporter.reportError(new Error(`e${i}`), {});
    assertEquals(reporter.stats().dropped, 3);
    await reporter.forceFlush(soon());
    assertEquals(standIn.items.length, 2);
    assertEquals(reporter.stats().sent, 2);
    assertBalanced(reporter);
  });
});

Deno.test("reportError() with the stand-in down returns at once, counts a failure, never throws", async () => {
  await withReporter({}, async ({ standIn, reporter, diagnostics }) => {
    reporter.reportMessage("warm-up", "info");
    await reporter.forceFlush(soon());
    await standIn.down();
    reporter.reportError(new Error("while Rollbar is unreachable"), {});
    // Nothing settled yet: the call returned before the network was tried.
    assertEquals(reporter.stats().failed, 0);
    assertEquals(reporter.stats().sent, 1);
    await reporter.forceFlush(soon());
    assertEquals(reporter.stats().failed, 1);
    assertEquals(diagnostics.length, 1);
    assertStringIncludes(diagnostics[0]!, "could not send an item");
    standIn.up();
    reporter.reportError(new Error("after recovery"), {});
    await reporter.forceFlush(soon());
    assertEquals(reporter.stats().sent, 2);
    assertBalanced(reporter);
  });
});

Deno.test("reportError() counts 500 and 429 answers as failed", async () => {
  await withReporter({}, async ({ standIn, reporter }) => {
    standIn.respondWith(500, 1);
    reporter.reportError(new Error("first"), {});
    await reporter.forceFlush(soon());
    standIn.respondWith(429, 1);
    reporter.reportError(new Error("second"), {});
    await reporter.forceFlush(soon());
    assertEquals(standIn.statuses, [500, 429]);
    assertEquals(standIn.items.length, 0);
    assertEquals(reporter.stats().failed, 2);
    assertEquals(reporter.stats().sent, 0);
    assertBalanced(reporter);
  });
});

Deno.test("shutdown() flushes a pending item, then drops later ones and is harmless twice", async () => {
  await withReporter({}, async ({ standIn, reporter }) => {
    reporter.reportError(new Error("just before SIGTERM"), {});
    assertEquals(reporter.stats().sent, 0);
    await reporter.shutdown(soon());
    assertEquals(standIn.items.length, 1);
    assertEquals(reporter.stats().sent, 1);
    reporter.reportError(new Error("after shutdown"), {});
    await reporter.shutdown(soon());
    assertEquals(reporter.stats().dropped, 1);
    assertEquals(standIn.items.length, 1);
    assertBalanced(reporter);
  });
});

Deno.test("reportError() cuts an oversized item under Rollbar's size limit and delivers it", async () => {
  await withReporter({}, async ({ standIn, reporter }) => {
    const big = "x".repeat(300 * 1024);
    reporter.reportError(new Error(`huge ${big}`), { custom: { dump: big, keep: "small" } });
    await reporter.forceFlush(soon());
    assertEquals(standIn.statuses, [200]);
    assertEquals(reporter.stats().sent, 1);
    const body = standIn.bodies[0]!;
    assert(new TextEncoder().encode(body).byteLength <= ROLLBAR_MAX_PAYLOAD_BYTES);
    const data = standIn.items[0]!.data;
    assertStringIncludes(
      String(field(data, "body", "trace_chain", 0, "exception", "message")),
      "huge xxx",
    );
    assertBalanced(reporter);
  });
});

Deno.test("shutdown() abandons a stalled item at its deadline and counts it dropped", async () => {
  await withReporter({}, async ({ standIn, reporter, diagnostics }) => {
    const release = standIn.hold();
    reporter.reportError(new Error("stuck in flight"), {});
    const started = Date.now();
    await reporter.shutdown(Date.now() + 200);
    const waited = Date.now() - started;
    // Lower bound: it waited for the item; upper: it did not wait for the held answer.
    assert(waited >= 150 && waited < 5000, `shutdown took ${waited} ms`);
    assertEquals(reporter.stats().dropped, 1);
    assertStringIncludes(diagnostics.join("\n"), "abandoned 1 item");
    release();
    // The late answer must not be counted a second time.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assertEquals(reporter.stats().sent, 0);
    assertBalanced(reporter);
  });
});

Deno.test("reportError() without size fitting gets a 413 from the stand-in, counted failed", async () => {
  await withReporter({ maxPayloadBytes: 10 * 1024 * 1024 }, async ({ standIn, reporter }) => {
    reporter.reportError(new Error("big custom data"), { custom: { dump: "y".repeat(200_000) } });
    await reporter.forceFlush(soon());
    assertEquals(standIn.statuses, [413]);
    assertEquals(reporter.stats().failed, 1);
    assertBalanced(reporter);
  });
});

Deno.test("the Rollbar stand-in enforces the token and the payload size limit", async () => {
  const standIn = startRollbarStandIn({ accessToken: TOKEN });
  try {
    const item = JSON.stringify({ data: { environment: "t", body: { message: { body: "m" } } } });
    const noToken = await fetch(standIn.endpoint, { method: "POST", body: item });
    assertEquals(noToken.status, 401);
    assertEquals((await noToken.json()).err, 1);
    const big = JSON.stringify({
      data: {
        environment: "t",
        body: { message: { body: "x".repeat(ROLLBAR_MAX_PAYLOAD_BYTES) } },
      },
    });
    const tooBig = await fetch(standIn.endpoint, {
      method: "POST",
      body: big,
      headers: { "x-rollbar-access-token": TOKEN },
    });
    assertEquals(tooBig.status, 413);
    await tooBig.body?.cancel();
    const ok = await fetch(standIn.endpoint, {
      method: "POST",
      body: item,
      headers: { "x-rollbar-access-token": TOKEN },
    });
    assertEquals(ok.status, 200);
    const answer = await ok.json();
    assertEquals(answer.err, 0);
    assert(typeof answer.result.uuid === "string");
    assertEquals(standIn.items.length, 1);
  } finally {
    await standIn.close();
  }
});

Deno.test("captureUncaught reports uncaught errors at level error and shutdown() removes its handlers", async () => {
  const before = process.listenerCount("uncaughtException");
  const beforeRejections = process.listenerCount("unhandledRejection");
  await withReporter({ captureUncaught: true }, async ({ standIn, reporter }) => {
    assertEquals(process.listenerCount("uncaughtException"), before + 1);
    assertEquals(process.listenerCount("unhandledRejection"), beforeRejections + 1);
    process.emit("uncaughtException", new Error("nobody caught me"));
    await reporter.forceFlush(soon());
    assertEquals(standIn.items.length, 1);
    assertEquals(standIn.items[0]!.data.level, "error");
    await reporter.shutdown(soon());
    assertEquals(process.listenerCount("uncaughtException"), before);
    assertEquals(process.listenerCount("unhandledRejection"), beforeRejections);
  });
});

Deno.test("reportError() reads at most 64 KiB of a 200 answer that never ends, counts it failed", async () => {
  const endpoint = startHostileEndpoint("flood");
  const diagnostics: string[] = [];
  const reporter = createRollbarReporter({
    accessToken: TOKEN,
    endpoint: endpoint.url,
    diagnostic: (m) => diagnostics.push(m),
    requestTimeoutMs: 5000,
  });
  try {
    const rssBefore = Deno.memoryUsage().rss;
    for (let i = 0; i < 5; i++) reporter.reportError(new Error(`flooded ${i}`), {});
    await reporter.forceFlush(Date.now() + 10_000);
    assertEquals(reporter.stats().failed, 5);
    assertEquals(endpoint.requests, 5);
    const grown = Deno.memoryUsage().rss - rssBefore;
    assert(grown < 100 * 1024 * 1024, `RSS grew ${grown} bytes`);
    assertStringIncludes(diagnostics.join("\n"), "answer over 65536 bytes");
    assertBalanced(reporter);
  } finally {
    await reporter.shutdown(Date.now() + 2000);
    await endpoint.close();
  }
});

Deno.test("reportError() cuts a 200 answer that trickles forever at the post's timeout", async () => {
  const endpoint = startHostileEndpoint("trickle");
  const diagnostics: string[] = [];
  const reporter = createRollbarReporter({
    accessToken: TOKEN,
    endpoint: endpoint.url,
    diagnostic: (m) => diagnostics.push(m),
    requestTimeoutMs: 150,
  });
  try {
    reporter.reportError(new Error("trickled"), {});
    await reporter.forceFlush(Date.now() + 10_000);
    assertEquals(reporter.stats().failed, 1);
    assertStringIncludes(diagnostics.join("\n"), "timed out");
    assertBalanced(reporter);
  } finally {
    await reporter.shutdown(Date.now() + 2000);
    await endpoint.close();
  }
});
