/**
 * GET /trace-demo: a static page and script that start a trace in the browser and carry it to
 * this backend in a `traceparent` header. Registered only when TRACE_DEMO=true; the files are
 * read on first use, so building the app does no I/O and a disabled demo reads nothing.
 */
import type { Hono } from "hono";
import type { Config } from "../config.ts";

/** The demo's files, relative to this module. */
const FILES = {
  page: new URL("../demo/index.html", import.meta.url),
  script: new URL("../demo/trace_demo.js", import.meta.url),
} as const;

/**
 * The page fetches whatever origin `?api=` and `?otlp=` name, so `connect-src` stays open to
 * http(s); everything else is locked to this origin and nothing may frame the page.
 */
const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'unsafe-inline'",
  "img-src data:",
  "connect-src http: https:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Registers the demo's page and script when `config.traceDemo` is on; otherwise nothing. */
export function traceDemoRoutes(app: Hono, config: Pick<Config, "traceDemo">): void {
  if (!config.traceDemo) return;
  const cache = new Map<URL, Promise<string>>();
  function read(file: URL): Promise<string> {
    let text = cache.get(file);
    if (!text) {
      text = Deno.readTextFile(file);
      // A failed read is retried on the next request rather than cached.
      text.catch(() => cache.delete(file));
      cache.set(file, text);
    }
    return text;
  }

  app.get("/trace-demo", async (c) => {
    const html = await read(FILES.page);
    c.header("content-security-policy", PAGE_CSP);
    c.header("cache-control", "no-store");
    return c.html(html);
  });
  app.get("/trace-demo/trace_demo.js", async (c) => {
    const script = await read(FILES.script);
    c.header("content-type", "text/javascript; charset=utf-8");
    c.header("cache-control", "no-store");
    return c.body(script);
  });
}
