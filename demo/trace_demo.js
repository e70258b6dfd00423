// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The trace demo's browser side, with no bundler and no OpenTelemetry web SDK (it is not
 * available here as a pre-bundled browser file): the minimum W3C Trace Context a page needs
 * to start a trace, one CLIENT span around the notifications request, and that span exported
 * as OTLP/HTTP JSON (or printed to the console).
 */

const SERVICE_NAME = "frontend-react-js";
const PATH = "/api/activities/notifications";
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;
const INVALID_SPAN_ID = "0000000000000000";

const params = new URLSearchParams(location.search);
const api = trimSlashes(params.get("api") ?? location.origin);
const otlp = params.get("otlp") ? trimSlashes(params.get("otlp") ?? "") : undefined;

/** @param {string} url */
function trimSlashes(url) {
  return url.replace(/\/+$/, "");
}

/** @param {number} bytes */
function randomHex(bytes) {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** 16 bytes, the first 4 the epoch seconds, so X-Ray accepts the same id as its trace id. */
function newTraceId() {
  const seconds = Math.floor(Date.now() / 1000).toString(16).padStart(8, "0");
  return seconds + randomHex(12);
}

/** 8 random bytes, never the all-zero id the specification calls invalid. */
function newSpanId() {
  let id = randomHex(8);
  while (id === INVALID_SPAN_ID) id = randomHex(8);
  return id;
}

/** Wall-clock nanoseconds as OTLP/JSON wants them: a decimal string. */
function nowUnixNano() {
  const micros = Math.round((performance.timeOrigin + performance.now()) * 1000);
  return (BigInt(micros) * 1000n).toString();
}

/**
 * @param {string} key
 * @param {string | number | string[]} value
 */
function attribute(key, value) {
  if (Array.isArray(value)) {
    return { key, value: { arrayValue: { values: value.map((v) => ({ stringValue: v })) } } };
  }
  if (typeof value === "number") return { key, value: { intValue: String(value) } };
  return { key, value: { stringValue: value } };
}

/**
 * The backend's `Server-Timing: trace;desc=…` metric as the browser exposes it to the page
 * (PerformanceServerTiming, allowed cross-origin by Timing-Allow-Origin). The resource entry
 * is queued after the body is read, so it is awaited rather than looked up once.
 * @param {string} url
 * @returns {Promise<string | undefined>}
 */
function serverTimingTrace(url) {
  return new Promise((resolve) => {
    /** @param {PerformanceEntryList} entries */
    const pick = (entries) => {
      for (const entry of entries) {
        if (entry.name !== url || !("serverTiming" in entry)) continue;
        const timing = /** @type {PerformanceResourceTiming} */ (entry).serverTiming;
        return timing.find((metric) => metric.name === "trace")?.description ?? "";
      }
      return undefined;
    };
    const found = pick(performance.getEntriesByName(url));
    if (found !== undefined) return resolve(found || undefined);
    const timer = setTimeout(() => {
      observer.disconnect();
      resolve(undefined);
    }, 5000);
    const observer = new PerformanceObserver((list) => {
      const value = pick(list.getEntries());
      if (value === undefined) return;
      clearTimeout(timer);
      observer.disconnect();
      resolve(value || undefined);
    });
    observer.observe({ type: "resource", buffered: true });
  });
}

/** @param {string} id @param {string} text */
function show(id, text) {
  const element = document.getElementById(id);
  // textContent, never innerHTML: the server's data must not become markup.
  if (element) element.textContent = text;
}

/** @param {"idle" | "running" | "done" | "error"} state @param {string} text */
function setState(state, text) {
  document.body.dataset.state = state;
  show("status", text);
}

/** @param {Record<string, unknown>} span */
async function exportSpan(span) {
  const body = {
    resourceSpans: [{
      resource: { attributes: [attribute("service.name", SERVICE_NAME)] },
      scopeSpans: [{ scope: { name: "cruddur-trace-demo", version: "1.0.0" }, spans: [span] }],
    }],
  };
  if (!otlp) {
    // Without an OTLP endpoint the page prints its span, as the seed's ConsoleSpanExporter.
    // deno-lint-ignore no-console
    console.info("trace-demo span (no otlp endpoint given)", JSON.stringify(body));
    show("export", "printed to the console (add ?otlp=<collector base URL> to export)");
    return;
  }
  try {
    const response = await fetch(`${otlp}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      keepalive: true,
    });
    show("export", `POST ${otlp}/v1/traces: ${response.status}`);
  } catch (error) {
    show("export", `POST ${otlp}/v1/traces failed: ${String(error)}`);
  }
}

async function callNotifications() {
  const traceId = newTraceId();
  const spanId = newSpanId();
  const traceparent = `00-${traceId}-${spanId}-01`;
  const url = new URL(PATH, api);
  show("trace-id", traceId);
  show("span-id", spanId);
  show("traceparent", traceparent);
  for (const id of ["traceresponse", "server-timing", "same-trace", "first-handle", "export"]) {
    show(id, "");
  }
  setState("running", "calling…");

  const start = nowUnixNano();
  /** @type {Array<ReturnType<typeof attribute>>} */
  const attributes = [
    attribute("http.request.method", "GET"),
    attribute("url.full", url.href),
    attribute("server.address", url.hostname),
    attribute("server.port", Number(url.port || (url.protocol === "https:" ? 443 : 80))),
  ];
  /** @type {{ code?: number; message?: string }} */
  let status = {};
  try {
    // A real header: the seed passed traceparent as a fetch option, which fetch ignores.
    const response = await fetch(url, { headers: { traceparent } });
    attributes.push(attribute("http.response.status_code", response.status));
    const traceresponse = response.headers.get("traceresponse");
    if (traceresponse) {
      attributes.push(attribute("http.response.header.traceresponse", [traceresponse]));
    }
    show("traceresponse", traceresponse ?? "(not exposed to this origin)");
    show("same-trace", traceresponse?.split("-")[1] === traceId ? "yes" : "no");
    const data = await response.json();
    const timing = await serverTimingTrace(url.href);
    show("server-timing", timing ?? "(no trace metric for this origin)");
    if (!response.ok) throw new Error(`the backend answered ${response.status}`);
    show("first-handle", Array.isArray(data) && data[0] ? String(data[0].handle) : "(empty)");
    setState("done", `${response.status} ${response.statusText || "OK"}`);
  } catch (error) {
    // A CORS refusal surfaces here as a TypeError with no status: the preflight failed.
    status = { code: STATUS_ERROR, message: String(error) };
    attributes.push(attribute("error.type", error instanceof Error ? error.name : "Error"));
    setState("error", String(error));
  }
  await exportSpan({
    traceId,
    spanId,
    name: `GET ${PATH}`,
    kind: SPAN_KIND_CLIENT,
    startTimeUnixNano: start,
    endTimeUnixNano: nowUnixNano(),
    attributes,
    status,
  });
}

show("api", api);
document.getElementById("call")?.addEventListener("click", () => void callNotifications());
