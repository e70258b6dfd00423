import assert from "node:assert/strict";
import { until } from "../support/faults.ts";
import { buildApp, type Harness } from "../support/harness.ts";
import { startUdpListener } from "../support/udp_listener.ts";

const LIMIT = { RATE_LIMIT_WRITES_PER_MINUTE: "6", RATE_LIMIT_WRITE_BURST: "3" };

function post(h: Harness, client = "203.0.113.5", headers: Record<string, string> = {}) {
  return h.app.request("/api/activities", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ message: "hello", ttl: "7-days" }),
  }, { remoteAddr: { hostname: client } });
}

Deno.test("writes beyond the burst answer 429 rate_limited with Retry-After, on the span and in the access log; the bucket refills", async () => {
  const h = await buildApp(LIMIT);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await post(h);
      assert.equal(res.status, 200, `write ${i + 1}`);
      await res.arrayBuffer();
    }
    const limited = await post(h);
    assert.equal(limited.status, 429);
    assert.deepEqual(await limited.json(), ["rate_limited"]);
    // 6 per minute: one write every 10 s.
    assert.equal(limited.headers.get("retry-after"), "10");
    const span = h.exporter.spans.filter((s) => s.attributes["url.path"] === "/api/activities")
      .at(-1);
    assert.equal(span?.attributes["http.response.status_code"], 429);
    assert.equal(span?.attributes["error.type"], "rate_limited");
    const access = h.events().filter((e) => e.event === "access").at(-1);
    assert.equal(access?.status, 429);
    assert.equal(access?.error_type, "rate_limited");
    // Reads are not limited, another client has its own bucket.
    assert.equal((await h.app.request("/api/activities/home")).status, 200);
    const other = await post(h, "198.51.100.9");
    assert.equal(other.status, 200);
    await other.arrayBuffer();
    // Part of the way the answer is the time still to wait; at 10 s one more write is allowed.
    h.clock.advance(4_000);
    const early = await post(h);
    assert.equal(early.status, 429);
    assert.equal(early.headers.get("retry-after"), "6");
    await early.arrayBuffer();
    h.clock.advance(6_000);
    const refilled = await post(h);
    assert.equal(refilled.status, 200);
    await refilled.arrayBuffer();
    assert.equal((await post(h)).status, 429);
  } finally {
    await h.close();
  }
});

Deno.test("a 429 is recorded as a throttle on the X-Ray segment", async () => {
  const daemon = await startUdpListener();
  const h = await buildApp({
    ...LIMIT,
    RATE_LIMIT_WRITE_BURST: "1",
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}`,
  }, {
    xray: { flushIntervalMs: 5, random: () => 0 },
  });
  try {
    assert.equal((await post(h)).status, 200);
    const limited = await post(h);
    assert.equal(limited.status, 429);
    await limited.arrayBuffer();
    await h.telemetry.forceFlush(Date.now() + 3000);
    await until(
      () => daemon.documents.some((d) => d.doc.http?.response?.status === 429),
      5000,
      "the 429 segment",
    );
    const segment = daemon.documents.find((d) => d.doc.http?.response?.status === 429)?.doc;
    assert.equal(segment.throttle, true);
    assert.equal(segment.error, true);
    assert.equal(segment.fault, undefined);
    const ok = daemon.documents.find((d) => d.doc.http?.response?.status === 200)?.doc;
    assert.equal(ok?.throttle, undefined);
  } finally {
    await h.close();
    await daemon.close();
  }
});

Deno.test("behind a private proxy the client is the last X-Forwarded-For entry; a public peer cannot dodge with a forged one", async () => {
  const h = await buildApp({ ...LIMIT, RATE_LIMIT_WRITE_BURST: "1" });
  try {
    // Through the load balancer (10.0.0.2): two clients, two buckets.
    assert.equal((await post(h, "10.0.0.2", { "x-forwarded-for": "203.0.113.1" })).status, 200);
    assert.equal((await post(h, "10.0.0.2", { "x-forwarded-for": "203.0.113.2" })).status, 200);
    assert.equal(
      (await post(h, "10.0.0.2", { "x-forwarded-for": "1.1.1.1, 203.0.113.1" })).status,
      429,
    );
    // Straight from the internet: a new X-Forwarded-For each time does not make a new client.
    assert.equal((await post(h, "198.51.100.20", { "x-forwarded-for": "9.9.9.1" })).status, 200);
    assert.equal((await post(h, "198.51.100.20", { "x-forwarded-for": "9.9.9.2" })).status, 429);
  } finally {
    await h.close();
  }
});

Deno.test("RATE_LIMIT_WRITES_PER_MINUTE=0 turns the limit off", async () => {
  const h = await buildApp({ RATE_LIMIT_WRITES_PER_MINUTE: "0", RATE_LIMIT_WRITE_BURST: "1" });
  try {
    for (let i = 0; i < 40; i++) {
      const res = await post(h);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
  } finally {
    await h.close();
  }
});
