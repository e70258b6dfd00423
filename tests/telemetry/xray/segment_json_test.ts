import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  buildIndependentSubsegment,
  buildSegment,
  emptyDocumentCounters,
  frameIfFits,
  type SegmentInfo,
  type SpanNode,
} from "../../../telemetry/xray/document.ts";
import {
  encodeSpanTree,
  segmentJson,
  subsegmentJson,
} from "../../../telemetry/xray/segment_json.ts";

/** Spans of one request: a SERVER span and whatever `work` starts under it. */
function request(
  work: (tracer: Tracer, ctx: ReturnType<typeof trace.setSpan>) => void,
  server: Record<string, string | number | boolean> = {},
): { root: ReadableSpan; spans: ReadableSpan[] } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.version": "1.2.3" }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer("segment-json-test");
  const span = tracer.startSpan("GET /api/x", {
    kind: SpanKind.SERVER,
    attributes: {
      "http.request.method": "GET",
      "url.scheme": "http",
      "server.address": "localhost",
      "server.port": 4567,
      "url.path": "/api/x?term=secret",
      "user_agent.original": "ü".repeat(300),
      "client.address": "127.0.0.1",
      ...server,
    },
  });
  work(tracer, trace.setSpan(ROOT_CONTEXT, span));
  span.end();
  const spans = exporter.getFinishedSpans();
  return { root: spans.find((s) => s.kind === SpanKind.SERVER)!, spans };
}

function tree(spans: ReadableSpan[], root: ReadableSpan): SpanNode {
  const id = root.spanContext().spanId;
  return {
    span: root,
    children: spans.filter((s) => s.parentSpanContext?.spanId === id).map((c) => tree(spans, c)),
  };
}

/** Exception ids are random: blank them so two renderings compare as text. */
function comparable(json: string): string {
  return json.replace(
    /"exceptions":\[.*?\]\}/g,
    (m) => m.replace(/"id":"[0-9a-f]{16}"/g, '"id":"x"'),
  );
}

const INFO: SegmentInfo[] = [
  {
    traceId: "1-5759e988-bd862e3fe1be46a994272793",
    parentId: undefined,
    name: "backend",
    otelTraceId: undefined,
  },
  {
    traceId: "1-5759e988-bd862e3fe1be46a994272793",
    parentId: "53995c3f42cd8ad8",
    name: "back end!",
    otelTraceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  },
];

const CASES: Record<string, Parameters<typeof request>> = {
  "a service span with annotations, metadata and an event": [(tracer, ctx) => {
    const service = tracer.startSpan("home_activities", {
      attributes: { "app.now": "2026", "app.n": 3 },
    }, ctx);
    const data = tracer.startSpan("mock", {
      attributes: {
        "aws.xray.name": "mock-data",
        "app.list": ["a", "b"],
        "app.user-id": "u",
        "app.user_id": "v",
        "app.7": 7,
        "app.0": true,
      },
    }, trace.setSpan(ctx, service));
    data.addEvent("cache miss", { "app.key": "home", name: "shadowed" });
    data.end();
    service.end();
  }],
  "a client call, a query and children out of start order": [(tracer, ctx) => {
    const late = tracer.startSpan("second", { startTime: [2_000_000_000, 5] }, ctx);
    const early = tracer.startSpan("first", { startTime: [2_000_000_000, 1] }, ctx);
    tracer.startSpan("GET", {
      kind: SpanKind.CLIENT,
      attributes: {
        "http.request.method": "_OTHER",
        "http.request.method_original": "PURGE",
        "url.full": "http://callee:1/p?q=1",
        "server.address": "callee",
        "http.response.status_code": 503,
      },
    }, trace.setSpan(ctx, early)).end();
    tracer.startSpan("SELECT activities", {
      kind: SpanKind.CLIENT,
      attributes: {
        "db.system.name": "postgresql",
        "db.query.text": "SELECT $1",
        "aws.xray.sql.url": "postgres://db/x",
        "aws.xray.sql.user": "app",
        "aws.xray.sql.database_version": "17",
      },
    }, trace.setSpan(ctx, late)).end();
    early.end();
    late.end();
  }, { "http.response.status_code": 429, "http.response.body.size": 12 }],
  "a failure with an exception and too many annotations": [(tracer, ctx) => {
    const attributes: Record<string, number | string> = {};
    for (let i = 0; i < 60; i++) attributes[`app.a${i}`] = i;
    attributes["app.nan"] = Number.NaN;
    const span = tracer.startSpan("annotated", { attributes }, ctx);
    span.recordException(new TypeError("boom"));
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }, { "http.response.status_code": 500, "app.root": "r" }],
  "no method, no host": [() => {}, { "http.request.method": "", "server.address": "" }],
};

for (const [label, args] of Object.entries(CASES)) {
  Deno.test(`segmentJson() writes what JSON.stringify(buildSegment()) writes: ${label}`, () => {
    const { root, spans } = request(...args);
    for (const info of INFO) {
      const node = tree(spans, root);
      const direct = emptyDocumentCounters();
      const viaTree = emptyDocumentCounters();
      const json = segmentJson(info, node, direct);
      assertEquals(comparable(json), comparable(JSON.stringify(buildSegment(info, node, viaTree))));
      // Key order too, not only the parsed values (identity fields first, children last).
      assertEquals(
        Object.keys(JSON.parse(json)),
        Object.keys(buildSegment(info, node, emptyDocumentCounters())),
      );
      assertEquals(direct, viaTree);
      for (const child of node.children) {
        const late = subsegmentJson(info, child, emptyDocumentCounters());
        assertEquals(
          comparable(late),
          comparable(
            JSON.stringify(buildIndependentSubsegment(info, child, emptyDocumentCounters())),
          ),
        );
      }
    }
  });
}

Deno.test("segmentJson() reuses the text of repeated values, never a stale one: requests alternating values", () => {
  const variants: Array<Record<string, string | number>> = [
    { "user_agent.original": "curl/8", "url.path": "/a", "client.address": "10.0.0.1" },
    { "user_agent.original": 'quote " and \\', "url.path": "/b", "client.address": "10.0.0.2" },
    { "http.request.method": "POST", "url.path": "/a", "server.port": 80 },
  ];
  for (let round = 0; round < 2; round++) {
    for (const server of variants) {
      const { root, spans } = request((tracer, ctx) => {
        tracer.startSpan("svc", { attributes: { "app.value": `${round}` } }, ctx).end();
      }, server);
      const node = tree(spans, root);
      assertEquals(
        segmentJson(INFO[0]!, node, emptyDocumentCounters()),
        JSON.stringify(buildSegment(INFO[0]!, node, emptyDocumentCounters())),
      );
    }
  }
});

Deno.test("encodeSpanTree() sends one datagram when the document fits, and splits (counted) when not", () => {
  const small = request((tracer, ctx) => tracer.startSpan("one", {}, ctx).end());
  const counters = emptyDocumentCounters();
  const [datagram, ...rest] = encodeSpanTree(
    "segment",
    INFO[0]!,
    tree(small.spans, small.root),
    counters,
  );
  assertEquals(rest, []);
  const text = new TextDecoder().decode(datagram);
  assertEquals(text.split("\n")[0], '{"format":"json","version":1}');
  assertEquals(JSON.parse(text.slice(text.indexOf("\n") + 1)).subsegments.length, 1);
  const big = request((tracer, ctx) => {
    for (let i = 0; i < 200; i++) {
      tracer.startSpan("s", { attributes: { "app.detail": "é".repeat(400) } }, ctx).end();
    }
  });
  const bigCounters = emptyDocumentCounters();
  const datagrams = encodeSpanTree("segment", INFO[0]!, tree(big.spans, big.root), bigCounters);
  // 200 × 800+ bytes of metadata: only under the limit once trimmed, and the counters say so.
  assertEquals(datagrams.every((d) => d.byteLength <= 64_000), true);
  assertEquals([bigCounters.documents_trimmed, bigCounters.metadata_trimmed], [1, 1]);
  // 200 annotations offered, 50 kept: counted once, by the path that sent it.
  assertEquals(bigCounters.annotations_dropped, 150);
});

Deno.test("frameIfFits() datagrams share a buffer yet stay intact while later ones are framed", () => {
  // Different sizes and non-ASCII text, far more than one 256 KiB slab holds: none of the
  // datagrams still held may change when the next ones are written.
  const texts = Array.from(
    { length: 3000 },
    (_, i) =>
      JSON.stringify({ id: i, pad: "x".repeat(i % 500), name: `é€😀 ${i}`.repeat(1 + (i % 7)) }),
  );
  texts.push(JSON.stringify({ big: "y".repeat(60_000) }));
  const datagrams = texts.map((text) => frameIfFits(text)!);
  const decoder = new TextDecoder();
  const header = '{"format":"json","version":1}\n';
  assertEquals(datagrams.map((d) => decoder.decode(d)), texts.map((t) => header + t));
  assertEquals(frameIfFits("z".repeat(64_000)), undefined);
});
