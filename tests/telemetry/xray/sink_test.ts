import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import dgram from "node:dgram";
import {
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Tracer,
} from "@opentelemetry/api";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { AWSXRayIdGenerator } from "@opentelemetry/id-generator-aws-xray";
import {
  createXRay,
  otelToXRayTraceId,
  parseAmznTraceId,
  type SamplingRuleDocument,
  type XRay,
  type XRayOptions,
  xrayToOtelTraceId,
} from "../../../telemetry/xray/mod.ts";
import { startUdpListener, type UdpListener } from "../../support/udp_listener.ts";
import { availableTransport, type DatagramTransport } from "../../../telemetry/xray/socket.ts";

/** Both socket implementations: Deno.DatagramConn (deno.json enables it) and node:dgram. */
const TRANSPORTS: DatagramTransport[] = ["deno", "node"];

/** Generous: a flush ends as soon as every datagram is handed over, this only bounds a hang. */
const FLUSH_DEADLINE_MS = 10_000;

const SHIPPED_RULE: SamplingRuleDocument = {
  SamplingRule: {
    RuleName: "Cruddur",
    ResourceARN: "*",
    Priority: 9000,
    FixedRate: 0.1,
    ReservoirSize: 5,
    ServiceName: "backend-deno",
    ServiceType: "*",
    Host: "*",
    HTTPMethod: "*",
    URLPath: "*",
    Version: 1,
  },
};

function rule(fixedRate: number, reservoirSize: number): SamplingRuleDocument {
  return {
    SamplingRule: {
      ...SHIPPED_RULE.SamplingRule,
      FixedRate: fixedRate,
      ReservoirSize: reservoirSize,
    },
  };
}

interface Harness {
  listener: UdpListener;
  xray: XRay;
  tracer: Tracer;
  diagnostics: string[];
  close(): Promise<void>;
}

async function harness(overrides: Partial<XRayOptions> = {}): Promise<Harness> {
  const listener = await startUdpListener();
  const diagnostics: string[] = [];
  const xray = createXRay({
    daemonAddress: { host: "127.0.0.1", port: listener.port },
    serviceName: "backend-deno",
    samplingRule: SHIPPED_RULE,
    // Always under FixedRate, so every request is sampled unless a test says otherwise.
    random: () => 0,
    flushIntervalMs: 5,
    diagnostic: (message) => diagnostics.push(message),
    ...overrides,
  });
  const provider = new BasicTracerProvider({
    idGenerator: new AWSXRayIdGenerator(),
    spanProcessors: [xray.processor],
  });
  const tracer = provider.getTracer("xray-test");
  return {
    listener,
    xray,
    tracer,
    diagnostics,
    async close() {
      await provider.shutdown();
      await xray.shutdown(Date.now() + FLUSH_DEADLINE_MS);
      await listener.close();
    },
  };
}

interface RequestOptions {
  amznTraceId?: string | null;
  /** A W3C parent, as the middleware would extract it from traceparent. */
  w3cParent?: { traceId: string; spanId: string };
  host?: string;
  path?: string;
  method?: string;
  status?: number;
  attributes?: Record<string, string | number | boolean>;
  work?: (tracer: Tracer, context: Context, server: Span) => void;
  end?: boolean;
}

/** Does what the request middleware does around one request. */
function serve(h: Harness, options: RequestOptions = {}): { server: Span; header: string } {
  let parent = ROOT_CONTEXT;
  const amzn = parseAmznTraceId(options.amznTraceId);
  if (amzn?.root !== undefined) {
    parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: xrayToOtelTraceId(amzn.root)!,
      spanId: amzn.parent ?? "1111111111111111",
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
  } else if (options.w3cParent !== undefined) {
    parent = trace.setSpanContext(ROOT_CONTEXT, {
      ...options.w3cParent,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
  }
  const method = options.method ?? "GET";
  const path = options.path ?? "/api/activities/home";
  const host = options.host ?? "api.example.com";
  const server = h.tracer.startSpan(`${method} ${path}`, {
    kind: SpanKind.SERVER,
    attributes: {
      "http.request.method": method,
      "url.scheme": "https",
      "server.address": host,
      "server.port": 443,
      "url.path": path,
      "user_agent.original": "test-agent/1.0",
      "client.address": "203.0.113.7",
      "aws.xray.x_forwarded_for": true,
      "http.route": path,
      ...options.attributes,
    },
  }, parent);
  const header = h.xray.begin(server, {
    method,
    host,
    path,
    amznTraceId: options.amznTraceId ?? null,
  });
  options.work?.(h.tracer, trace.setSpan(ROOT_CONTEXT, server), server);
  server.setAttribute("http.response.status_code", options.status ?? 200);
  server.setAttribute("http.response.body.size", 321);
  if (options.end !== false) server.end();
  return { server, header };
}

for (const transport of TRANSPORTS) {
  Deno.test(`createXRay() sends one segment with the http block and nested subsegments (${transport})`, async () => {
    const h = await harness({ transport });
    try {
      let childId = "";
      let grandchildId = "";
      const { server, header } = serve(h, {
        work(tracer, ctx) {
          const child = tracer.startSpan("activities_home", {}, ctx);
          childId = child.spanContext().spanId;
          const grand = tracer.startSpan(
            "mock data span",
            {
              attributes: {
                "aws.xray.name": "mock-data",
                "app.now": "2026-01-01T00:00:00Z",
                "app.result_length": 3,
              },
            },
            trace.setSpan(ctx, child),
          );
          grandchildId = grand.spanContext().spanId;
          grand.addEvent("cache miss", { "app.key": "home" });
          grand.end();
          child.end();
        },
      });
      await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
      const [received] = await h.listener.waitFor(h.xray.stats().sent);
      assertEquals(h.listener.rejected, []);
      assertEquals(h.listener.documents.length, 1);
      const doc = received!.doc;
      const otelTraceId = server.spanContext().traceId;
      assertEquals(doc.trace_id, otelToXRayTraceId(otelTraceId));
      assertEquals(header, `Root=${doc.trace_id}`);
      assertEquals(doc.name, "backend-deno");
      assertEquals(doc.id, server.spanContext().spanId);
      assertEquals(doc.parent_id, undefined);
      assertEquals(doc.http, {
        request: {
          method: "GET",
          url: "https://api.example.com/api/activities/home",
          user_agent: "test-agent/1.0",
          client_ip: "203.0.113.7",
          x_forwarded_for: true,
        },
        response: { status: 200, content_length: 321 },
      });
      assertEquals([doc.error, doc.fault, doc.throttle], [undefined, undefined, undefined]);
      assertEquals(doc.annotations, undefined);
      assert(doc.end_time >= doc.start_time && doc.start_time > 1.7e9);
      const child = doc.subsegments[0];
      assertEquals(doc.subsegments.length, 1);
      assertEquals([child.name, child.id], ["activities_home", childId]);
      const grand = child.subsegments[0];
      assertEquals([grand.name, grand.id], ["mock-data", grandchildId]);
      assertEquals(grand.annotations, {
        app_now: "2026-01-01T00:00:00Z",
        app_result_length: 3,
      });
      assertEquals(grand.metadata.app, { now: "2026-01-01T00:00:00Z", result_length: 3 });
      assertEquals(grand.metadata.otel.events[0].name, "cache miss");
      assertEquals(grand.metadata.otel.events[0]["app.key"], "home");
      assertEquals(h.xray.stats(), {
        queued: 1,
        sent: 1,
        retried: 0,
        dropped: 0,
        rejected: 0,
        failed: 0,
      });
    } finally {
      await h.close();
    }
  });
}

Deno.test("createXRay() never puts a query string in the segment url", async () => {
  const h = await harness();
  try {
    serve(h, { path: "/api/activities/search?term=CANARY&access_token=CANARY" });
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    const [received] = await h.listener.waitFor(1);
    assertEquals(received!.doc.http.request.url, "https://api.example.com/api/activities/search");
    assert(!JSON.stringify(received!.doc.http).includes("CANARY"));
  } finally {
    await h.close();
  }
});

Deno.test("begin() continues an inbound X-Amzn-Trace-Id with its Root and Parent", async () => {
  const h = await harness();
  try {
    const root = `1-${Math.floor(Date.now() / 1000).toString(16)}-bd862e3fe1be46a994272793`;
    const { server, header } = serve(h, {
      amznTraceId: `Root=${root};Parent=53995c3f42cd8ad8;Sampled=1`,
    });
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    const [received] = await h.listener.waitFor(1);
    assertEquals(server.spanContext().traceId, xrayToOtelTraceId(root));
    assertEquals(received!.doc.trace_id, root);
    assertEquals(received!.doc.parent_id, "53995c3f42cd8ad8");
    assertEquals(received!.doc.annotations, undefined);
    assertEquals(header, `Root=${root}`);
  } finally {
    await h.close();
  }
});

Deno.test("begin() honours Sampled=0: nothing is sent and children are discarded", async () => {
  const h = await harness();
  try {
    const root = `1-${Math.floor(Date.now() / 1000).toString(16)}-bd862e3fe1be46a994272793`;
    const { header } = serve(h, {
      amznTraceId: `Root=${root};Parent=53995c3f42cd8ad8;Sampled=0`,
      work(tracer, ctx) {
        tracer.startSpan("activities_home", {}, ctx).end();
      },
    });
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    await h.listener.waitFor(h.xray.stats().sent);
    assertEquals(h.listener.documents.length, 0);
    assertEquals(header, `Root=${root}`);
    assertEquals(h.xray.stats().queued, 0);
    assertEquals(h.xray.details().unsampled_requests, 1);
    assertEquals(h.xray.details().unsampled_spans_discarded, 1);
  } finally {
    await h.close();
  }
});

Deno.test("begin() answers Sampled=? with the local decision in the returned header", async () => {
  const yes = await harness();
  const no = await harness({ samplingRule: rule(0, 0) });
  try {
    const root = `1-${Math.floor(Date.now() / 1000).toString(16)}-bd862e3fe1be46a994272793`;
    const sampled = serve(yes, { amznTraceId: `Root=${root};Sampled=?` });
    assertEquals(sampled.header, `Root=${root};Sampled=1`);
    const unsampled = serve(no, { amznTraceId: `Root=${root};Sampled=?` });
    assertEquals(unsampled.header, `Root=${root};Sampled=0`);
    await yes.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    await no.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    await yes.listener.waitFor(1);
    await no.listener.waitFor(no.xray.stats().sent);
    assertEquals(no.listener.documents.length, 0);
  } finally {
    await yes.close();
    await no.close();
  }
});

Deno.test("createXRay() with a rate-0 rule lets only the reservoir through per clock second", async () => {
  let now = Date.now();
  const h = await harness({ samplingRule: rule(0, 2), random: () => 0.99, now: () => now });
  const none = await harness({ samplingRule: rule(0, 0), random: () => 0.99 });
  try {
    const headers: string[] = [];
    for (let i = 0; i < 4; i++) headers.push(serve(h, { amznTraceId: "Sampled=?" }).header);
    now += 1000;
    for (let i = 0; i < 4; i++) headers.push(serve(h, { amznTraceId: "Sampled=?" }).header);
    for (let i = 0; i < 5; i++) serve(none);
    assertEquals(
      headers.map((header) => header.endsWith("Sampled=1")),
      [true, true, false, false, true, true, false, false],
    );
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    await none.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    await h.listener.waitFor(h.xray.stats().sent);
    assertEquals(h.listener.documents.length, 4);
    assertEquals(h.xray.details().unsampled_requests, 4);
    assertEquals(none.listener.documents.length, 0);
    assertEquals(none.xray.details().unsampled_requests, 5);
  } finally {
    await h.close();
    await none.close();
  }
});

Deno.test("createXRay() gives a random W3C trace a fresh X-Ray id and an otel_trace_id annotation", async () => {
  const h = await harness();
  try {
    const w3c = "4bf92f3577b34da6a3ce929d0e0e4736";
    const before = Math.floor(Date.now() / 1000);
    const { server, header } = serve(h, {
      w3cParent: { traceId: w3c, spanId: "00f067aa0ba902b7" },
    });
    assertEquals(server.spanContext().traceId, w3c);
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    const [received] = await h.listener.waitFor(1);
    const doc = received!.doc;
    assert(doc.trace_id !== otelToXRayTraceId(w3c));
    const seconds = parseInt(doc.trace_id.slice(2, 10), 16);
    assert(seconds >= before && seconds <= before + 2, `stamp ${seconds} vs ${before}`);
    assertEquals(doc.annotations, { otel_trace_id: w3c });
    assertEquals(doc.parent_id, undefined);
    assertEquals(header, `Root=${doc.trace_id}`);
  } finally {
    await h.close();
  }
});

Deno.test("createXRay() flags 4xx as error, 429 as throttle and 5xx with exceptions as fault", async () => {
  const h = await harness();
  try {
    serve(h, { status: 404, path: "/a" });
    serve(h, { status: 429, path: "/b" });
    serve(h, {
      status: 500,
      path: "/c",
      work(_tracer, _ctx, server) {
        const error = new TypeError("Cannot read properties of undefined");
        server.recordException(error);
        server.setStatus({ code: SpanStatusCode.ERROR });
      },
    });
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    const docs = await h.listener.waitFor(3);
    const byPath = (path: string) => docs.find((d) => d.doc.http.request.url.endsWith(path))!.doc;
    const notFound = byPath("/a");
    assertEquals([notFound.error, notFound.throttle, notFound.fault], [true, undefined, undefined]);
    const throttled = byPath("/b");
    assertEquals([throttled.error, throttled.throttle, throttled.fault], [true, true, undefined]);
    const failed = byPath("/c");
    assertEquals([failed.error, failed.fault], [undefined, true]);
    const exception = failed.cause.exceptions[0];
    assertEquals([exception.type, exception.message], [
      "TypeError",
      "Cannot read properties of undefined",
    ]);
    assert(/^[0-9a-f]{16}$/.test(exception.id));
    assert(exception.stack.length > 0);
    assert(exception.stack[0].path.includes("xray/sink_test.ts"), exception.stack[0].path);
    assert(typeof exception.stack[0].line === "number");
  } finally {
    await h.close();
  }
});

Deno.test("createXRay() sends a child that ends after its segment as an independent subsegment", async () => {
  const h = await harness();
  try {
    let late: Span | undefined;
    const { server } = serve(h, {
      work(tracer, ctx) {
        late = tracer.startSpan("background", {}, ctx);
      },
    });
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    await h.listener.waitFor(1);
    late!.end();
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    const docs = await h.listener.waitFor(2);
    const sub = docs[1]!.doc;
    assertEquals(docs[0]!.doc.subsegments, undefined);
    assertEquals(sub.type, "subsegment");
    assertEquals(sub.parent_id, server.spanContext().spanId);
    assertEquals(sub.trace_id, docs[0]!.doc.trace_id);
    assertEquals([sub.name, sub.id], ["background", late!.spanContext().spanId]);
  } finally {
    await h.close();
  }
});

Deno.test("createXRay() trims huge metadata below 64 kB and counts it", async () => {
  const h = await harness();
  try {
    serve(h, {
      work(tracer, ctx) {
        tracer.startSpan("big", { attributes: { "app.blob": "x".repeat(100_000) } }, ctx).end();
      },
    });
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    const [received] = await h.listener.waitFor(1);
    assert(received!.bytes <= 64_000);
    const sub = received!.doc.subsegments[0];
    assertEquals(sub.metadata, undefined);
    assertEquals(sub.annotations.app_blob.length, 1000);
    assertEquals(h.xray.details().documents_trimmed, 1);
    assertEquals(h.xray.details().metadata_trimmed, 1);
    assertEquals(h.listener.rejected, []);
  } finally {
    await h.close();
  }
});

for (const transport of TRANSPORTS) {
  Deno.test(`createXRay() splits a segment with many subsegments into datagrams under 64 kB (${transport})`, async () => {
    const h = await harness({ transport });
    try {
      const ids = new Set<string>();
      serve(h, {
        work(tracer, ctx) {
          for (let i = 0; i < 400; i++) {
            const span = tracer.startSpan(`step ${i} ${"n".repeat(180)}`, {
              attributes: { "app.detail": "d".repeat(500) },
            }, ctx);
            ids.add(span.spanContext().spanId);
            span.end();
          }
        },
      });
      await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
      // Every datagram the sender handed over, however many the split made.
      await h.listener.waitFor(h.xray.stats().sent);
      const docs = h.listener.documents;
      assertEquals(h.listener.rejected, []);
      assert(docs.length >= 2);
      assert(docs.every((d) => d.bytes <= 64_000), docs.map((d) => d.bytes).join(","));
      const received = new Set<string>();
      for (const { doc } of docs) {
        if (doc.type === "subsegment") received.add(doc.id);
        for (const sub of doc.subsegments ?? []) received.add(sub.id);
      }
      assertEquals(received, ids);
      const details = h.xray.details();
      assertEquals([details.documents_trimmed, details.documents_split], [1, 1]);
      const stats = h.xray.stats();
      assertEquals(stats.queued, docs.length);
      assertEquals(stats.sent, docs.length);
    } finally {
      await h.close();
    }
  });
}

Deno.test("createXRay() keeps 50 annotations and sanitises bad keys, counting both", async () => {
  const h = await harness();
  try {
    const attributes: Record<string, string | number> = {
      "app.user-id": "u1",
      "app.naïve key": "v",
    };
    for (let i = 0; i < 58; i++) attributes[`app.a${i}`] = i;
    serve(h, {
      work(tracer, ctx) {
        tracer.startSpan("annotated", { attributes }, ctx).end();
      },
    });
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    const [received] = await h.listener.waitFor(1);
    assertEquals(h.listener.rejected, []);
    const annotations = received!.doc.subsegments[0].annotations;
    assertEquals(Object.keys(annotations).length, 50);
    assertEquals(annotations.app_user_id, "u1");
    assertEquals(annotations.app_na_ve_key, "v");
    assert(Object.keys(annotations).every((key) => /^[A-Za-z0-9_]+$/.test(key)));
    // Metadata keeps every attribute under its original key.
    assertEquals(Object.keys(received!.doc.subsegments[0].metadata.app).length, 60);
    assertEquals(h.xray.details().annotations_renamed, 2);
    assertEquals(h.xray.details().annotations_dropped, 10);
  } finally {
    await h.close();
  }
});

Deno.test("createXRay() names the segment from the tracing name or a matching host", async () => {
  const dynamic = await harness({ dynamicNamingPattern: "*.gitpod.io" });
  const fixed = await harness({ tracingName: "Cruddur", dynamicNamingPattern: "*" });
  try {
    serve(dynamic, { host: "4567-abc.ws.gitpod.io", path: "/x" });
    serve(dynamic, { host: "localhost:4567", path: "/y" });
    serve(fixed, { host: "4567-abc.ws.gitpod.io" });
    await dynamic.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    await fixed.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    const docs = await dynamic.listener.waitFor(2);
    const names = docs.map((d) => d.doc.name).sort();
    assertEquals(names, ["4567-abc.ws.gitpod.io", "backend-deno"]);
    const [named] = await fixed.listener.waitFor(1);
    assertEquals(named!.doc.name, "Cruddur");
  } finally {
    await dynamic.close();
    await fixed.close();
  }
});

Deno.test("createXRay() with no daemon on the port never throws nor sends on the request path", async () => {
  // A port that was just free: UDP is fire-and-forget, so loopback sends still "succeed".
  const probe = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => probe.bind(0, "127.0.0.1", () => resolve()));
  const port = probe.address().port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const h = await harness({ daemonAddress: { host: "127.0.0.1", port } });
  try {
    for (let i = 0; i < 20; i++) serve(h);
    // The requests are done and nothing was handed to a socket yet: sending is the sink's turn.
    assertEquals([h.xray.stats().queued, h.xray.stats().sent, h.xray.stats().failed], [20, 0, 0]);
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    const stats = h.xray.stats();
    assertEquals(stats.queued, 20);
    // What is true on Linux loopback: the datagrams are handed to the kernel (sent); an ICMP
    // port-unreachable only surfaces on connected sockets, which we do not use.
    assertEquals(stats.sent + stats.failed, 20);
    assertEquals(stats.dropped, 0);
  } finally {
    await h.close();
  }
});

Deno.test("shutdown() flushes pending documents, drops later ones and is harmless twice", async () => {
  const h = await harness({ flushIntervalMs: 60_000 });
  try {
    serve(h);
    assertEquals([h.xray.stats().queued, h.xray.stats().sent], [1, 0]);
    await h.xray.shutdown(Date.now() + FLUSH_DEADLINE_MS);
    await h.listener.waitFor(1);
    await h.xray.shutdown(Date.now() + FLUSH_DEADLINE_MS);
    serve(h);
    assertEquals(h.xray.stats().sent, 1);
    assertEquals(h.xray.stats().dropped, 1);
  } finally {
    await h.close();
  }
});

Deno.test("createXRay() bounds the queue, buffered children and unfinished segments", async () => {
  const h = await harness({ maxQueue: 2, flushIntervalMs: 60_000 });
  try {
    for (let i = 0; i < 3; i++) serve(h);
    // Every offered segment counts as queued, the one the full queue refused as dropped too.
    assertEquals(h.xray.stats().queued, 3);
    assertEquals(h.xray.stats().dropped, 1);
    // A segment that stays open while three children finish: two buffered, one dropped.
    serve(h, {
      end: false,
      work(tracer, ctx) {
        for (let i = 0; i < 3; i++) tracer.startSpan(`child ${i}`, {}, ctx).end();
      },
    });
    assertEquals(h.xray.details().buffered_spans_dropped, 1);
    // Segments that never finish are evicted oldest first (8 tracked spans at maxQueue 2).
    for (let i = 0; i < 10; i++) serve(h, { end: false });
    assert((h.xray.details().segments_evicted ?? 0) >= 3);
    await h.xray.forceFlush(Date.now() + FLUSH_DEADLINE_MS);
    await h.listener.waitFor(2);
  } finally {
    await h.close();
  }
});

Deno.test("main.ts run as `deno task start` runs it sends X-Ray through Deno.DatagramConn", async () => {
  // deno.json's "unstable": ["net"] reaches every deno run in the project (the Dockerfile's CMD
  // too): the cheaper socket is the one production gets, and the startup line says which.
  assertEquals(availableTransport(), "deno");
  const { startBackend } = await import("../../support/backend.ts");
  const daemon = await startUdpListener();
  const backend = await startBackend({ AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}` });
  try {
    await backend.waitFor(/^X-Ray: UDP to daemon at 127\.0\.0\.1:\d+ \(Deno\.DatagramConn\)$/);
  } finally {
    backend.child.kill("SIGTERM");
    await Promise.all([backend.child.status, backend.done, backend.stderr]);
    await daemon.close();
  }
});
