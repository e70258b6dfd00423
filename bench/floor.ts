/**
 * The floors of the bare and full rows: what the features those configurations must keep cost on
 * Deno 2.9 with nothing else around them. A plain `Deno.serve` handler (no Hono, no middleware)
 * answering GET /api/activities/home from the same store and service as bench/baseline.ts,
 * that also does, each with the cheapest code we know:
 *
 * - reads every request header (the secrets rule needs the names; `Headers.forEach`),
 * - answers with the security headers and `Vary: Origin` (one kept `Headers`, as the app),
 * - writes two JSON log lines per request (the access line and the service's), built by one
 *   template literal each, through the app's asynchronous console writer.
 *
 * No scrubbing, no routing, no checks: an app cannot be cheaper and keep these, so the floor's
 * ratio to the baseline bounds what the bare row can reach. `FLOOR_FEATURES` (comma-separated:
 * headers, answer, logs; default all) picks the features, to price each one. For the full row:
 *
 * - `udp`: one 1 KiB datagram a request to AWS_XRAY_DAEMON_ADDRESS (a segment's bytes made
 *   once, sent per request);
 * - `otlp`: two spans and the two log lines as OTLP/HTTP JSON to FLOOR_OTLP_URL (512 a body);
 * - `cloudwatch`: the two lines as PutLogEvents bodies to FLOOR_CLOUDWATCH_URL, up to 1 MB or a
 *   second, each with its SHA-256 (the SigV4 payload hash).
 *
 * With all three (the bench's `floor-full` row) it prices what the full row must pay at least.
 * `proxy` prices the alternative X-Ray transport: the same documents batched, FLOOR_PROXY_BATCH
 * a call (default 50, the daemon's own batch) or every 10 ms, into one PutTraceSegments-shaped
 * POST to FLOOR_PROXY_URL (the daemon's signing proxy).
 *
 *   FLOOR_FEATURES=headers,answer,logs HOST=127.0.0.1 PORT=4569 \
 *     deno run --allow-net --allow-env --allow-read bench/floor.ts > /dev/null
 */
import { createHash } from "node:crypto";
import { API_SECURITY_HEADERS } from "../routes/response.ts";
import { keptHeaderSet } from "../routes/kept_headers.ts";
import { homeActivities } from "../services/home_activities.ts";
import type { ServiceDeps } from "../services/types.ts";
import { createConsoleWriter } from "../telemetry/console_writer.ts";
import { INVALID_SPAN_CONTEXT, trace } from "../telemetry/otel_api.ts";
import { parseDaemonAddress } from "../telemetry/xray/address.ts";
import { openStoreFromEnv } from "./baseline.ts";

const features = new Set(
  (Deno.env.get("FLOOR_FEATURES") ?? "headers,answer,logs").split(",").map((f) => f.trim()),
);
const NOOP_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
const writer = createConsoleWriter(Deno.stdout);
const otlpUrl = features.has("otlp") ? Deno.env.get("FLOOR_OTLP_URL") : undefined;
const cloudwatchUrl = features.has("cloudwatch") ? Deno.env.get("FLOOR_CLOUDWATCH_URL") : undefined;

/** Items posted as one body when `max` are held, or a second after the first. */
function batcher(url: string | undefined, max: number, body: (items: string[]) => BodyInit) {
  let items: string[] = [];
  let bytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const post = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const held = items;
    items = [];
    bytes = 0;
    fetch(url!, {
      method: "POST",
      body: body(held),
      headers: { "content-type": "application/json" },
    })
      .then((response) => response.arrayBuffer(), () => {}).catch(() => {});
  };
  return url === undefined ? undefined : (item: string) => {
    items.push(item);
    bytes += item.length;
    if (items.length >= max || bytes >= 900_000) post();
    else timer ??= setTimeout(post, 1000);
  };
}
const RESOURCE = `{"attributes":[{"key":"service.name","value":{"stringValue":"backend-flask"}}]}`;
/** An OTLP/HTTP JSON export body of one resource and one scope around `items`. */
function otlpBody(signal: "Spans" | "Logs", field: "spans" | "logRecords") {
  return (items: string[]) =>
    `{"resource${signal}":[{"resource":${RESOURCE},"scope${signal}":[{"scope":{"name":"floor"},` +
    `"${field}":[${items.join(",")}]}]}]}`;
}
const spans = batcher(otlpUrl && `${otlpUrl}/v1/traces`, 512, otlpBody("Spans", "spans"));
const records = batcher(otlpUrl && `${otlpUrl}/v1/logs`, 512, otlpBody("Logs", "logRecords"));
const events = batcher(cloudwatchUrl, 10_000, (items) => {
  const body = `{"logGroupName":"cruddur","logStreamName":"floor","logEvents":[${
    items.join(",")
  }]}`;
  // SigV4 hashes the whole payload; the rest of the signature is a few small HMACs.
  createHash("sha256").update(body).digest("hex");
  return body;
});
let idCounter = 0;
function hexId(digits: number): string {
  return (++idCounter).toString(16).padStart(digits, "0");
}
function span(name: string, traceId: string, startMs: number): string {
  return `{"traceId":"${traceId}","spanId":"${hexId(16)}","name":"${name}","kind":2,` +
    `"startTimeUnixNano":"${startMs}000000","endTimeUnixNano":"${startMs}250000",` +
    `"attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}},` +
    `{"key":"url.path","value":{"stringValue":"/api/activities/home"}},` +
    `{"key":"http.response.status_code","value":{"intValue":"200"}}],"status":{}}`;
}
const log = (line: string) => {
  if (features.has("logs")) writer.write(line);
  const now = Date.now();
  records?.(
    `{"timeUnixNano":"${now}000000","severityNumber":9,"severityText":"INFO",` +
      `"body":{"stringValue":${JSON.stringify(line)}}}`,
  );
  events?.(`{"timestamp":${now},"message":${JSON.stringify(line)}}`);
};

const store = await openStoreFromEnv();
const services: ServiceDeps = {
  store,
  clock: Date.now,
  traced: (_name, fn) => Promise.resolve(fn(NOOP_SPAN)),
  log: {
    info(message, fields) {
      log(
        `{"timestamp":"${new Date().toISOString()}","level":"info","message":"${message}",` +
          `"service":"backend-flask","result_length":${fields?.result_length}}`,
      );
    },
    warn() {},
  },
};
const daemon = parseDaemonAddress(Deno.env.get("AWS_XRAY_DAEMON_ADDRESS"));
const udp = features.has("udp")
  ? Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
  : undefined;
const datagram = new TextEncoder().encode(
  `{"format": "json", "version": 1}\n{"name":"floor","padding":"${"x".repeat(960)}"}`,
);
const proxyUrl = features.has("proxy") ? Deno.env.get("FLOOR_PROXY_URL") : undefined;
const DOCUMENT = `{"name":"floor","padding":"${"x".repeat(960)}"}`;
const PROXY_BATCH = Number(Deno.env.get("FLOOR_PROXY_BATCH") ?? "50");
let documents: string[] = [];
let proxyTimer: ReturnType<typeof setTimeout> | undefined;
function postDocuments(): void {
  if (proxyTimer !== undefined) clearTimeout(proxyTimer);
  proxyTimer = undefined;
  const body = JSON.stringify({ TraceSegmentDocuments: documents });
  documents = [];
  fetch(proxyUrl!, { method: "POST", body, headers: { "content-type": "application/json" } })
    .then((response) => response.arrayBuffer(), () => {}).catch(() => {});
}
function queueDocument(): void {
  documents.push(DOCUMENT);
  if (documents.length >= PROXY_BATCH) postDocuments();
  else proxyTimer ??= setTimeout(postDocuments, 10);
}
const answerHeaders = features.has("answer")
  ? keptHeaderSet([
    ["content-type", "application/json"],
    ...API_SECURITY_HEADERS,
    ["vary", "Origin"],
  ])
  : { "content-type": "application/json" };

const server = Deno.serve({
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? "4569"),
  onListen() {},
}, async (request, info) => {
  const started = performance.now();
  // The path without a URL object: "http://host/path?query".
  const url = request.url;
  const query = url.indexOf("?");
  const path = url.slice(url.indexOf("/", url.indexOf("//") + 2), query < 0 ? undefined : query);
  if (path === "/api/health-check") return Response.json({ success: true, ver: 1 });
  let userAgent = "";
  if (features.has("headers")) {
    request.headers.forEach((value, name) => {
      if (name === "user-agent") userAgent = value;
    });
  }
  const result = await homeActivities(services);
  const response = new Response(JSON.stringify(result.ok ? result.data : []), {
    status: 200,
    headers: answerHeaders,
  });
  log(
    `{"timestamp":"${new Date().toISOString()}","level":"info","message":"GET ${path} 200",` +
      `"service":"backend-flask","event":"access","method":"GET","scheme":"http",` +
      `"path":"${path}","route":"/api/activities/home","status":200,` +
      `"duration_ms":${Math.round((performance.now() - started) * 1000) / 1000},` +
      `"client_address":"${info.remoteAddr.hostname}","user_agent":"${userAgent}"}`,
  );
  if (proxyUrl) queueDocument();
  if (spans) {
    const traceId = hexId(32);
    const startMs = Date.now();
    spans(span("GET /api/activities/home", traceId, startMs));
    spans(span("home-activities-mock-data", traceId, startMs));
  }
  udp?.send(datagram, { transport: "udp", hostname: daemon.host, port: daemon.port })
    .catch(() => {});
  return response;
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, async () => {
    await server.shutdown();
    await writer.flush(Date.now() + 1000);
    await store.close();
    Deno.exit(0);
  });
}
