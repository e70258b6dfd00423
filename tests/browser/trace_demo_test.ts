import assert from "node:assert/strict";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { ConsoleMessage, Page } from "playwright-core";
import { launchChromium } from "../support/chromium.ts";
import { buildApp, type Harness, serve } from "../support/harness.ts";

type Closer = () => Promise<unknown> | unknown;
type Defer = (closer: Closer) => void;

const NOTIFICATIONS = "GET /api/activities/notifications";
const PREFLIGHT = "OPTIONS /api/activities/notifications";
const CAPTURED_HEADERS =
  "origin,traceparent,access-control-request-method,access-control-request-headers";

/** Runs `fn`, then every deferred closer in reverse, even when `fn` or a closer fails. */
async function withResources(fn: (defer: Defer) => Promise<void>): Promise<void> {
  const closers: Closer[] = [];
  let failure: { error: unknown } | undefined;
  try {
    await fn((closer) => closers.push(closer));
  } catch (error) {
    failure = { error };
  }
  const errors: unknown[] = [];
  for (const closer of closers.reverse()) {
    try {
      await closer();
    } catch (error) {
      errors.push(error);
    }
  }
  if (failure) throw failure.error;
  if (errors.length > 0) throw new AggregateError(errors, "Could not close every test resource");
}

/** An OTLP/HTTP JSON receiver that answers a browser's CORS preflight, as a collector would. */
function corsOtlpReceiver(allowOrigin: string) {
  const bodies: Array<Record<string, unknown>> = [];
  const preflights: Headers[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const cors = {
      "access-control-allow-origin": allowOrigin,
      "access-control-allow-methods": "POST",
      "access-control-allow-headers": "content-type",
    };
    const path = new URL(req.url).pathname;
    if (req.method === "OPTIONS") {
      preflights.push(req.headers);
      return new Response(null, { status: 204, headers: cors });
    }
    if (req.method !== "POST" || path !== "/v1/traces") {
      return new Response(null, { status: 404, headers: cors });
    }
    bodies.push(await req.json());
    return Response.json({}, { headers: cors });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    bodies,
    preflights,
    close: () => server.shutdown(),
  };
}

interface Stack {
  pageApp: Harness;
  pageUrl: string;
  api: Harness;
  apiUrl: string;
}

/** The page's origin (app A, TRACE_DEMO=true) and the API's origin (app B), both real servers. */
async function startStack(defer: Defer, apiEnv: (pageUrl: string) => Record<string, string>) {
  const pageApp = await buildApp({ TRACE_DEMO: "true" });
  defer(() => pageApp.close());
  const pageServer = serve(pageApp.app);
  defer(() => pageServer.close());
  const api = await buildApp({
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST: CAPTURED_HEADERS,
    ...apiEnv(pageServer.url),
  });
  defer(() => api.close());
  const apiServer = serve(api.app);
  defer(() => apiServer.close());
  return { pageApp, pageUrl: pageServer.url, api, apiUrl: apiServer.url } satisfies Stack;
}

/** The page's result fields, by element id. */
const FIELDS = [
  "status",
  "api",
  "trace-id",
  "span-id",
  "traceparent",
  "traceresponse",
  "server-timing",
  "same-trace",
  "first-handle",
  "export",
] as const;
type Shown = Record<typeof FIELDS[number] | "state", string>;

/** Opens the page, clicks the button and waits until the call and the export are done. */
async function runDemo(tab: Page, url: string): Promise<Shown> {
  await tab.goto(url);
  await tab.click("#call");
  await tab.waitForSelector('body[data-state="done"], body[data-state="error"]');
  await tab.waitForSelector("#export:not(:empty)");
  const shown = { state: (await tab.getAttribute("body", "data-state")) ?? "" } as Shown;
  for (const id of FIELDS) shown[id] = (await tab.textContent(`#${id}`)) ?? "";
  return shown;
}

function spanNames(spans: ReadableSpan[]): string[] {
  return spans.map((s) => s.name).sort();
}

Deno.test("trace demo page carries one trace from Chromium across origins to the service spans", async () => {
  const started = performance.now();
  await withResources(async (defer) => {
    const stack = await startStack(defer, (pageUrl) => ({ FRONTEND_URL: pageUrl }));
    const receiver = corsOtlpReceiver(stack.pageUrl);
    defer(() => receiver.close());
    const browser = await launchChromium();
    defer(() => browser.close());
    const tab = await browser.context.newPage();
    tab.setDefaultTimeout(10_000);
    const consoleErrors: string[] = [];
    const pageErrors: string[] = [];
    tab.on("console", (m: ConsoleMessage) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    tab.on("pageerror", (e) => pageErrors.push(String(e)));

    const shown = await runDemo(
      tab,
      `${stack.pageUrl}/trace-demo?api=${encodeURIComponent(stack.apiUrl)}&otlp=${
        encodeURIComponent(receiver.url)
      }`,
    );
    const shot = Deno.env.get("TRACE_DEMO_SCREENSHOT") ??
      await Deno.makeTempFile({ prefix: "trace-demo-", suffix: ".png" });
    try {
      await tab.screenshot({ path: shot, fullPage: true });
      const png = await Deno.readFile(shot);
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
      assert.ok(png.length > 5_000, `screenshot is only ${png.length} bytes`);
    } finally {
      if (!Deno.env.get("TRACE_DEMO_SCREENSHOT")) await Deno.remove(shot);
    }

    // The page: a fresh W3C trace whose id carries the epoch seconds X-Ray expects.
    assert.equal(shown.state, "done", `page status: ${shown.status}`);
    assert.equal(shown.status, "200 OK");
    assert.equal(shown.api, stack.apiUrl);
    const traceId = shown["trace-id"];
    const browserSpanId = shown["span-id"];
    assert.match(traceId, /^[0-9a-f]{32}$/);
    assert.match(browserSpanId, /^[0-9a-f]{16}$/);
    assert.ok(Math.abs(parseInt(traceId.slice(0, 8), 16) - Date.now() / 1000) < 60);
    assert.equal(shown.traceparent, `00-${traceId}-${browserSpanId}-01`);
    assert.equal(shown["first-handle"], "coco");
    assert.notEqual(new URL(stack.pageUrl).origin, new URL(stack.apiUrl).origin);

    // The API: the preflight, then the request as a child of the browser span.
    assert.deepEqual(spanNames(stack.api.exporter.spans), [
      NOTIFICATIONS,
      PREFLIGHT,
      "notification-mock-span",
    ]);
    // The preflight is named by the route it asks about and marked, so it can be filtered.
    const preflight = stack.api.exporter.byName(PREFLIGHT);
    assert.equal(preflight.kind, SpanKind.SERVER);
    assert.equal(preflight.attributes["http.route"], "/api/activities/notifications");
    assert.equal(preflight.attributes["http.request.cors_preflight"], true);
    assert.equal(preflight.attributes["http.response.status_code"], 204);
    assert.deepEqual(preflight.attributes["http.request.header.origin"], [stack.pageUrl]);
    assert.deepEqual(preflight.attributes["http.request.header.access-control-request-method"], [
      "GET",
    ]);
    assert.deepEqual(
      preflight.attributes["http.request.header.access-control-request-headers"],
      ["traceparent"],
    );
    // Browsers never send custom headers on a preflight: it starts its own trace.
    assert.equal(preflight.attributes["http.request.header.traceparent"], undefined);
    assert.equal(preflight.parentSpanContext, undefined);
    assert.notEqual(preflight.spanContext().traceId, traceId);

    const server = stack.api.exporter.byName(NOTIFICATIONS);
    assert.equal(server.kind, SpanKind.SERVER);
    assert.equal(server.spanContext().traceId, traceId);
    assert.equal(server.parentSpanContext?.spanId, browserSpanId);
    assert.equal(server.parentSpanContext?.traceId, traceId);
    assert.equal(server.parentSpanContext?.isRemote, true);
    assert.deepEqual(server.attributes["http.request.header.traceparent"], [shown.traceparent]);
    assert.deepEqual(server.attributes["http.request.header.origin"], [stack.pageUrl]);
    assert.equal(server.attributes["http.response.status_code"], 200);
    const service = stack.api.exporter.byName("notification-mock-span");
    assert.equal(service.spanContext().traceId, traceId);
    assert.equal(service.parentSpanContext?.spanId, server.spanContext().spanId);
    assert.equal(
      shown.traceresponse,
      `00-${traceId}-${server.spanContext().spanId}-01`,
      "the page reads traceresponse because CORS exposes it",
    );
    assert.equal(shown["same-trace"], "yes");
    // Server-Timing reaches the page through PerformanceServerTiming (Timing-Allow-Origin).
    assert.equal(shown["server-timing"], shown.traceresponse);

    // The page's origin served only the page and its script: the call went cross-origin.
    assert.deepEqual(spanNames(stack.pageApp.exporter.spans), [
      "GET /trace-demo",
      "GET /trace-demo/trace_demo.js",
    ]);

    // The browser span, exported as OTLP/HTTP JSON after its own preflight.
    assert.equal(shown.export, `POST ${receiver.url}/v1/traces: 200`);
    assert.equal(receiver.preflights.length, 1);
    assert.equal(receiver.bodies.length, 1);
    const resourceSpans = receiver.bodies[0]!.resourceSpans as Array<{
      resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
      scopeSpans: Array<{ spans: Array<Record<string, unknown>> }>;
    }>;
    assert.deepEqual(resourceSpans[0]!.resource.attributes, [
      { key: "service.name", value: { stringValue: "frontend-react-js" } },
    ]);
    const spans = resourceSpans[0]!.scopeSpans[0]!.spans;
    assert.equal(spans.length, 1);
    const browserSpan = spans[0]!;
    assert.equal(browserSpan.traceId, traceId);
    assert.equal(browserSpan.spanId, browserSpanId);
    assert.equal(browserSpan.parentSpanId, undefined);
    assert.equal(browserSpan.name, NOTIFICATIONS);
    assert.equal(browserSpan.kind, 3); // SPAN_KIND_CLIENT
    assert.deepEqual(browserSpan.status, {});
    const start = BigInt(browserSpan.startTimeUnixNano as string);
    const end = BigInt(browserSpan.endTimeUnixNano as string);
    assert.ok(end >= start);
    // The client span encloses the server span (same host clock).
    const serverStart = BigInt(server.startTime[0]) * 1_000_000_000n + BigInt(server.startTime[1]);
    assert.ok(start <= serverStart + 5_000_000n, "the browser span starts before the server's");
    assert.deepEqual(browserSpan.attributes, [
      { key: "http.request.method", value: { stringValue: "GET" } },
      {
        key: "url.full",
        value: { stringValue: `${stack.apiUrl}/api/activities/notifications` },
      },
      { key: "server.address", value: { stringValue: "127.0.0.1" } },
      { key: "server.port", value: { intValue: new URL(stack.apiUrl).port } },
      { key: "http.response.status_code", value: { intValue: "200" } },
      {
        key: "http.response.header.traceresponse",
        value: { arrayValue: { values: [{ stringValue: shown.traceresponse }] } },
      },
    ]);

    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleErrors, []);
  });
  const seconds = (performance.now() - started) / 1000;
  assert.ok(seconds < 120, `the browser test took ${seconds.toFixed(1)} s`);
});

Deno.test("trace demo page without an otlp endpoint prints its span and posts nothing", async () => {
  await withResources(async (defer) => {
    const stack = await startStack(defer, (pageUrl) => ({ FRONTEND_URL: pageUrl }));
    const browser = await launchChromium();
    defer(() => browser.close());
    const tab = await browser.context.newPage();
    tab.setDefaultTimeout(10_000);
    const logged: string[] = [];
    const requests: string[] = [];
    tab.on("console", (m: ConsoleMessage) => logged.push(m.text()));
    tab.on("request", (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));

    const shown = await runDemo(
      tab,
      `${stack.pageUrl}/trace-demo?api=${encodeURIComponent(stack.apiUrl)}`,
    );
    assert.equal(shown.state, "done", `page status: ${shown.status}`);
    assert.match(shown.export, /^printed to the console/);
    const server = stack.api.exporter.byName(NOTIFICATIONS);
    assert.equal(server.parentSpanContext?.spanId, shown["span-id"]);

    const printed = logged.filter((line) => line.startsWith("trace-demo span"));
    assert.equal(printed.length, 1);
    const body = JSON.parse(printed[0]!.slice(printed[0]!.indexOf("{")));
    const span = body.resourceSpans[0].scopeSpans[0].spans[0];
    assert.equal(span.traceId, shown["trace-id"]);
    assert.equal(span.spanId, shown["span-id"]);
    // Nothing but the page, its script and the API call left the browser.
    assert.deepEqual(requests.sort(), [
      "GET /api/activities/notifications",
      "GET /trace-demo",
      "GET /trace-demo/trace_demo.js",
    ]);
  });
});

Deno.test("trace demo page from an origin CORS does not allow gets no response and no request span", async () => {
  await withResources(async (defer) => {
    // FRONTEND_URL names some other origin, so the page's origin is refused.
    const stack = await startStack(defer, () => ({ FRONTEND_URL: "http://127.0.0.1:9" }));
    const receiver = corsOtlpReceiver(stack.pageUrl);
    defer(() => receiver.close());
    const browser = await launchChromium();
    defer(() => browser.close());
    const tab = await browser.context.newPage();
    tab.setDefaultTimeout(10_000);

    const shown = await runDemo(
      tab,
      `${stack.pageUrl}/trace-demo?api=${encodeURIComponent(stack.apiUrl)}&otlp=${
        encodeURIComponent(receiver.url)
      }`,
    );
    assert.equal(shown.state, "error");
    assert.match(shown.status, /TypeError/);
    assert.equal(shown["first-handle"], "");
    assert.equal(shown.traceresponse, "");
    // The preflight was answered without Access-Control-Allow-Origin; the GET never left.
    assert.deepEqual(spanNames(stack.api.exporter.spans), [PREFLIGHT]);
    const preflight = stack.api.exporter.byName(PREFLIGHT);
    assert.equal(preflight.attributes["http.response.status_code"], 204);
    // The browser still reports its failed span, with ERROR status.
    const span = (receiver.bodies[0]!.resourceSpans as Array<
      { scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }
    >)[0]!.scopeSpans[0]!.spans[0]!;
    assert.equal(span.traceId, shown["trace-id"]);
    assert.equal((span.status as { code: number }).code, SpanStatusCode.ERROR);
  });
});

Deno.test("/trace-demo answers 404 unless TRACE_DEMO=true, and serves a locked-down page when on", async () => {
  const off = await buildApp();
  try {
    for (const path of ["/trace-demo", "/trace-demo/trace_demo.js"]) {
      const res = await off.app.request(path);
      assert.equal(res.status, 404, path);
      assert.deepEqual(await res.json(), ["route_not_found"]);
    }
  } finally {
    await off.close();
  }
  const on = await buildApp({ TRACE_DEMO: "true" });
  try {
    const page = await on.app.request("/trace-demo");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    const html = await page.text();
    assert.match(html, /<script type="module" src="\/trace-demo\/trace_demo.js">/);
    const script = await on.app.request("/trace-demo/trace_demo.js");
    assert.equal(script.status, 200);
    assert.match(script.headers.get("content-type") ?? "", /^text\/javascript/);
    const source = await script.text();
    assert.match(source, /headers: \{ traceparent \}/);
    assert.doesNotMatch(source, /\.innerHTML\s*=/);
  } finally {
    await on.close();
  }
});
