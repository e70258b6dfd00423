import assert from "node:assert/strict";
import { SpanStatusCode } from "@opentelemetry/api";
import { buildApp } from "../support/harness.ts";
import { parseTraceParent, sanitizeTraceState } from "../../telemetry/trace_context.ts";
import { startUdpListener } from "../support/udp_listener.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

Deno.test("a valid traceparent continues the caller's trace with its span as parent", async () => {
  const h = await buildApp();
  try {
    const res = await h.app.request("/api/activities/home", {
      headers: {
        traceparent: `00-${TRACE}-${PARENT}-01`,
        tracestate: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        baggage: "user.tier=gold",
      },
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const server = h.exporter.byName("GET /api/activities/home");
    const child = h.exporter.byName("home-activities-mock-data");
    assert.equal(server.spanContext().traceId, TRACE);
    assert.equal(server.parentSpanContext?.spanId, PARENT);
    assert.equal(server.parentSpanContext?.isRemote, true);
    assert.equal(child.spanContext().traceId, TRACE);
    assert.equal(
      server.spanContext().traceState?.serialize(),
      "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    );
    assert.equal(
      res.headers.get("traceresponse"),
      `00-${TRACE}-${server.spanContext().spanId}-01`,
    );
  } finally {
    await h.close();
  }
});

Deno.test("an unsampled traceparent is honoured: nothing is exported", async () => {
  const h = await buildApp();
  try {
    await (await h.app.request("/api/activities/home", {
      headers: { traceparent: `00-${TRACE}-${PARENT}-00` },
    })).arrayBuffer();
    assert.equal(h.exporter.spans.length, 0);
  } finally {
    await h.close();
  }
});

const MALFORMED: Array<[string, string | string[]]> = [
  ["version ff", `ff-${TRACE}-${PARENT}-01`],
  ["all-zero trace id", `00-${"0".repeat(32)}-${PARENT}-01`],
  ["all-zero parent id", `00-${TRACE}-${"0".repeat(16)}-01`],
  ["uppercase hex", `00-${TRACE.toUpperCase()}-${PARENT}-01`],
  ["short trace id", `00-${TRACE.slice(1)}-${PARENT}-01`],
  ["long parent id", `00-${TRACE}-${PARENT}0-01`],
  ["extra field on version 00", `00-${TRACE}-${PARENT}-01-extra`],
  ["non-hex flags", `00-${TRACE}-${PARENT}-zz`],
  ["garbage", "hello world, this is not a traceparent at all, not even close!"],
  ["duplicate headers", [`00-${TRACE}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01`]],
];

for (const [label, value] of MALFORMED) {
  Deno.test(`a traceparent with ${label} starts a new trace and the answer is unchanged`, async () => {
    const h = await buildApp();
    try {
      const headers = new Headers();
      for (const v of Array.isArray(value) ? value : [value]) headers.append("traceparent", v);
      headers.set("tracestate", "rojo=00f067aa0ba902b7");
      const res = await h.app.request("/api/activities/home", { headers });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).length, 4);
      const server = h.exporter.byName("GET /api/activities/home");
      assert.notEqual(server.spanContext().traceId, TRACE);
      assert.equal(server.parentSpanContext, undefined);
      // tracestate is discarded with an invalid traceparent.
      assert.equal(server.spanContext().traceState, undefined);
    } finally {
      await h.close();
    }
  });
}

Deno.test("a future version with extra fields is accepted per the W3C rules", () => {
  const parsed = parseTraceParent(`01-${TRACE}-${PARENT}-01-what-the-future-holds`);
  assert.deepEqual(parsed, { traceId: TRACE, spanId: PARENT, flags: 1 });
  assert.equal(parseTraceParent(`01-${TRACE}-${PARENT}-01x`), undefined);
});

Deno.test("tracestate without a valid traceparent is dropped, and limits are enforced", () => {
  const members = Array.from({ length: 33 }, (_, i) => `k${i}=v${i}`).join(",");
  assert.equal(sanitizeTraceState(members), undefined, "33 members discard the header");
  const thirtyTwo = Array.from({ length: 32 }, (_, i) => `k${i}=v${i}`).join(",");
  assert.equal(sanitizeTraceState(thirtyTwo), thirtyTwo);
  const long = `big=${"x".repeat(200)},a=1,b=2`;
  assert.equal(
    sanitizeTraceState(
      `${long},${"c=" + "y".repeat(100)},${"d=" + "z".repeat(100)},${"e=" + "w".repeat(100)},${
        "f=" + "v".repeat(100)
      }`,
    )?.includes("big="),
    false,
  );
  // A list that fails to parse is never propagated in part (the W3C suite at strictness 2).
  assert.equal(sanitizeTraceState(`${"K".repeat(300)}=v,ok=1`), undefined, "invalid key");
  assert.equal(sanitizeTraceState("a=1,a=2"), undefined, "duplicate key");
  assert.equal(sanitizeTraceState("foo=bar=baz"), undefined, "= in a value");
  assert.equal(sanitizeTraceState("foo=,bar=3"), undefined, "empty value");
  assert.equal(sanitizeTraceState("foo=1, ,\t,bar=2"), "foo=1,bar=2", "empty members are fine");
});

Deno.test("tracestate keys follow the current grammar: @ is an ordinary key character", () => {
  // key = (lcalpha / DIGIT) 0*255(keychar), keychar includes "@".
  for (const key of ["foo@", "foo@@bar", "foo@bar@baz", "1abc", `${"t".repeat(242)}@v`]) {
    assert.equal(sanitizeTraceState(`${key}=1,bar=2`), `${key}=1,bar=2`, key);
  }
  assert.equal(sanitizeTraceState(`t@${"v".repeat(15)}=1`), `t@${"v".repeat(15)}=1`);
  assert.equal(sanitizeTraceState(`${"z".repeat(256)}=1`), `${"z".repeat(256)}=1`);
  for (const key of ["@foo", "Foo", "foo.bar", "foo ", "z".repeat(257), "-a"]) {
    assert.equal(sanitizeTraceState(`${key}=1,bar=2`), undefined, key);
  }
});

Deno.test("a valid tracestate with @ keys reaches the span and the outgoing call unchanged", async () => {
  const seen: Headers[] = [];
  const echo = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(req.headers);
    return new Response("ok");
  });
  const h = await buildApp();
  try {
    h.app.get("/hop", async (c) => {
      const res = await h.telemetry.fetch(`http://127.0.0.1:${echo.addr.port}/`);
      await res.arrayBuffer();
      return c.text("done");
    });
    const state = "foo@=1,t@vvvvvvvvvvvvvvv=2,congo@rojo@x=3";
    await (await h.app.request("/hop", {
      headers: { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: state },
    })).arrayBuffer();
    assert.equal(h.exporter.byName("GET /hop").spanContext().traceState?.serialize(), state);
    assert.equal(seen[0]?.get("tracestate"), state);
  } finally {
    await h.close();
    await echo.shutdown();
  }
});

for (
  const [incoming, sampled] of [["03", true], ["02", false], ["01", true], ["00", false]] as const
) {
  Deno.test(`trace flags ${incoming} come back in traceresponse, Server-Timing and outgoing calls`, async () => {
    const seen: Headers[] = [];
    const echo = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      seen.push(req.headers);
      return new Response("ok");
    });
    const h = await buildApp();
    try {
      h.app.get("/hop", async (c) => {
        await (await h.telemetry.fetch(`http://127.0.0.1:${echo.addr.port}/`)).arrayBuffer();
        return c.text("done");
      });
      const res = await h.app.request("/hop", {
        headers: { traceparent: `00-${TRACE}-${PARENT}-${incoming}` },
      });
      await res.arrayBuffer();
      const traceresponse = parseTraceParent(res.headers.get("traceresponse"));
      assert.equal(traceresponse?.traceId, TRACE);
      assert.notEqual(traceresponse?.spanId, PARENT);
      assert.equal(traceresponse?.flags, parseInt(incoming, 16), "every defined flag kept");
      assert.equal(
        res.headers.get("server-timing"),
        `trace;desc=${res.headers.get("traceresponse")}`,
      );
      const outgoing = parseTraceParent(seen[0]?.get("traceparent"));
      assert.equal(outgoing?.traceId, TRACE);
      assert.equal(outgoing?.flags, parseInt(incoming, 16));
      assert.equal(h.exporter.spans.length > 0, sampled);
    } finally {
      await h.close();
      await echo.shutdown();
    }
  });
}

Deno.test("trace ids we generate at random carry the random flag; X-Ray-style ids do not", async () => {
  const plain = await buildApp();
  try {
    const res = await plain.app.request("/api/activities/home");
    await res.arrayBuffer();
    const server = plain.exporter.byName("GET /api/activities/home");
    assert.equal(
      res.headers.get("traceresponse"),
      `00-${server.spanContext().traceId}-${server.spanContext().spanId}-03`,
    );
  } finally {
    await plain.close();
  }
  const listener = await startUdpListener();
  const xray = await buildApp({ AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${listener.port}` });
  try {
    const res = await xray.app.request("/api/activities/home");
    await res.arrayBuffer();
    const server = xray.exporter.byName("GET /api/activities/home");
    const traceId = server.spanContext().traceId;
    // The first 8 hex digits are the epoch seconds: not random, so the flag stays unset.
    assert.ok(Math.abs(parseInt(traceId.slice(0, 8), 16) - Date.now() / 1000) < 60);
    assert.equal(
      res.headers.get("traceresponse"),
      `00-${traceId}-${server.spanContext().spanId}-01`,
    );
  } finally {
    await xray.close();
    await listener.close();
  }
});

Deno.test("fuzzed traceparent and tracestate never throw and always yield a valid context", async () => {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = "0123456789abcdefABCDEF-_=,; \t\u0000\u00ffxyz";
  const h = await buildApp({ LOG_LEVEL: "warn" });
  try {
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(rand() * 70);
      let s = "";
      for (let j = 0; j < len; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
      if (i % 3 === 0) {
        s = `00-${TRACE}-${PARENT}-01`.split("").map((c) => rand() < 0.05 ? "g" : c).join("");
      }
      const parsed = parseTraceParent(s);
      if (parsed) {
        assert.match(parsed.traceId, /^[0-9a-f]{32}$/);
        assert.match(parsed.spanId, /^[0-9a-f]{16}$/);
        assert.notEqual(parsed.traceId, "0".repeat(32));
      }
      const state = sanitizeTraceState(s);
      if (state !== undefined) assert.ok(state.length <= 512);
    }
    // A sample of the fuzz corpus through the full middleware, headers that Headers accepts.
    for (let i = 0; i < 200; i++) {
      const value = `00-${TRACE}-${PARENT}-01`.split("").map((c) => rand() < 0.1 ? "Z" : c)
        .join("");
      const res = await h.app.request("/api/health-check", { headers: { traceparent: value } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
  } finally {
    await h.close();
  }
});

Deno.test("an X-Amzn-Trace-Id without traceparent continues that trace in OpenTelemetry", async () => {
  const h = await buildApp();
  try {
    const epoch = Math.floor(Date.now() / 1000).toString(16);
    const root = `1-${epoch}-${"a1b2c3d4e5f6a7b8c9d0e1f2"}`;
    await (await h.app.request("/api/activities/home", {
      headers: { "x-amzn-trace-id": `Root=${root};Parent=${PARENT};Sampled=1` },
    })).arrayBuffer();
    const server = h.exporter.byName("GET /api/activities/home");
    assert.equal(server.spanContext().traceId, `${epoch}a1b2c3d4e5f6a7b8c9d0e1f2`);
    assert.equal(server.parentSpanContext?.spanId, PARENT);
  } finally {
    await h.close();
  }
});

Deno.test("a thrown error inside a service gives ERROR on both spans with an exception event", async () => {
  const h = await buildApp({}, {
    store: (seeded) => ({
      ...seeded,
      activities() {
        throw new TypeError("database unavailable");
      },
    }),
  });
  try {
    const res = await h.app.request("/api/activities/home");
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), ["internal_error"]);
    const server = h.exporter.byName("GET /api/activities/home");
    const child = h.exporter.byName("home-activities-mock-data");
    for (const span of [server, child]) {
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      const event = span.events.find((e) => e.name === "exception");
      assert.equal(event?.attributes?.["exception.type"], "TypeError");
      assert.equal(event?.attributes?.["exception.message"], "database unavailable");
    }
    assert.equal(server.attributes["http.response.status_code"], 500);
    assert.equal(server.attributes["error.type"], "TypeError");
    assert.ok(res.headers.get("traceresponse")?.includes(server.spanContext().traceId));
  } finally {
    await h.close();
  }
});

Deno.test("4xx answers leave the server span status unset", async () => {
  const h = await buildApp();
  try {
    await (await h.app.request("/api/activities/00000000-0000-0000-0000-000000000000"))
      .arrayBuffer();
    const server = h.exporter.byName("GET /api/activities/:uuid");
    assert.equal(server.attributes["http.response.status_code"], 404);
    assert.equal(server.status.code, SpanStatusCode.UNSET);
    assert.equal(server.events.length, 0);
  } finally {
    await h.close();
  }
});

/** The app with X-Ray on (every request sampled) and the daemon stand-in. */
async function xrayApp() {
  const daemon = await startUdpListener();
  const h = await buildApp(
    { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}` },
    { xray: { flushIntervalMs: 5, random: () => 0 } },
  );
  return {
    h,
    daemon,
    async segmentOf(res: Response) {
      await res.arrayBuffer();
      await h.telemetry.forceFlush(Date.now() + 2000);
      const docs = await daemon.waitFor(h.telemetry.stats().xray!.sent);
      assert.deepEqual(daemon.rejected, []);
      return docs.at(-1)!.doc;
    },
    async close() {
      await h.close();
      await daemon.close();
    },
  };
}

const EPOCH = () => Math.floor(Date.now() / 1000).toString(16).padStart(8, "0");

/** Every way a trace can arrive, and the X-Ray trace id and parent the segment must get. */
const PROPAGATION_CASES: Array<{
  label: string;
  headers: (epoch: string) => Record<string, string>;
  /** The segment's trace id, given the OTel trace id the SERVER span ended up with. */
  xrayTraceId: (otelTraceId: string, epoch: string) => string | "fresh";
  parentId: string | undefined;
  otelTraceId?: (epoch: string) => string;
}> = [
  {
    label: "no header",
    headers: () => ({}),
    xrayTraceId: (otel) => `1-${otel.slice(0, 8)}-${otel.slice(8)}`,
    parentId: undefined,
  },
  {
    label: "traceparent with an X-Ray-compatible id",
    headers: (e) => ({ traceparent: `00-${e}a1b2c3d4e5f6a7b8c9d0e1f2-${PARENT}-01` }),
    xrayTraceId: (_, e) => `1-${e}-a1b2c3d4e5f6a7b8c9d0e1f2`,
    parentId: PARENT,
    otelTraceId: (e) => `${e}a1b2c3d4e5f6a7b8c9d0e1f2`,
  },
  {
    label: "traceparent with a random (browser) id",
    headers: () => ({ traceparent: `00-${TRACE}-${PARENT}-03` }),
    xrayTraceId: () => "fresh",
    parentId: undefined,
    otelTraceId: () => TRACE,
  },
  {
    label: "X-Amzn-Trace-Id with Root and Parent",
    headers: (e) => ({
      "x-amzn-trace-id": `Root=1-${e}-a1b2c3d4e5f6a7b8c9d0e1f2;Parent=${PARENT};Sampled=1`,
    }),
    xrayTraceId: (_, e) => `1-${e}-a1b2c3d4e5f6a7b8c9d0e1f2`,
    parentId: PARENT,
    otelTraceId: (e) => `${e}a1b2c3d4e5f6a7b8c9d0e1f2`,
  },
  {
    label: "X-Amzn-Trace-Id with Root and Sampled=? but no Parent (a load balancer)",
    headers: (e) => ({ "x-amzn-trace-id": `Root=1-${e}-a1b2c3d4e5f6a7b8c9d0e1f2;Sampled=?` }),
    xrayTraceId: (_, e) => `1-${e}-a1b2c3d4e5f6a7b8c9d0e1f2`,
    parentId: undefined,
    otelTraceId: (e) => `${e}a1b2c3d4e5f6a7b8c9d0e1f2`,
  },
  {
    label: "traceparent and an X-Amzn-Trace-Id naming another trace",
    headers: (e) => ({
      traceparent: `00-${TRACE}-${PARENT}-01`,
      "x-amzn-trace-id": `Root=1-${e}-a1b2c3d4e5f6a7b8c9d0e1f2;Parent=1111111111111111;Sampled=1`,
    }),
    xrayTraceId: (_, e) => `1-${e}-a1b2c3d4e5f6a7b8c9d0e1f2`,
    parentId: "1111111111111111",
    otelTraceId: () => TRACE,
  },
];

for (const c of PROPAGATION_CASES) {
  Deno.test(`${c.label}: one X-Ray trace id in the segment, the logs and the response`, async () => {
    const x = await xrayApp();
    try {
      const epoch = EPOCH();
      const res = await x.h.app.request("/api/activities/home", { headers: c.headers(epoch) });
      const segment = await x.segmentOf(res);
      const server = x.h.exporter.byName("GET /api/activities/home");
      const otel = server.spanContext().traceId;
      if (c.otelTraceId) assert.equal(otel, c.otelTraceId(epoch));
      const expected = c.xrayTraceId(otel, epoch);
      if (expected === "fresh") {
        assert.match(segment.trace_id, /^1-[0-9a-f]{8}-[0-9a-f]{24}$/);
        assert.equal(segment.annotations?.otel_trace_id, otel);
      } else {
        assert.equal(segment.trace_id, expected);
      }
      assert.equal(segment.parent_id, c.parentId);
      assert.equal(segment.id, server.spanContext().spanId);
      // Every log event of the request names the segment's trace, never a trace that is not.
      const events = x.h.events().filter((e) => e.trace_id === otel);
      assert.ok(events.some((e) => e.event === "access"));
      for (const event of events) assert.equal(event.xray_trace_id, segment.trace_id);
      assert.match(
        res.headers.get("x-amzn-trace-id") ?? "",
        new RegExp(`^Root=${segment.trace_id}`),
      );
      assert.equal(parseTraceParent(res.headers.get("traceresponse"))?.traceId, otel);
    } finally {
      await x.close();
    }
  });
}

Deno.test("two requests of one browser trace share one X-Ray trace", async () => {
  const x = await xrayApp();
  try {
    const headers = { traceparent: `00-${TRACE}-${PARENT}-03` };
    const first = await x.segmentOf(await x.h.app.request("/api/activities/home", { headers }));
    const second = await x.segmentOf(await x.h.app.request("/api/activities/home", { headers }));
    assert.equal(second.trace_id, first.trace_id);
  } finally {
    await x.close();
  }
});
