/**
 * Builds the real app for a test: config from an env map (nothing read from the process
 * environment), telemetry with a synchronous in-memory exporter and captured log lines, and
 * the in-memory store on an injected clock.
 */
import type { Hono } from "hono";
import { createApp } from "../../app.ts";
import { type Config, loadConfig } from "../../config.ts";
import { createMemoryStore, type Store } from "../../services/store.ts";
import { createTelemetry, type Telemetry, type TelemetryOverrides } from "../../telemetry/mod.ts";
import { SyncMemoryExporter } from "./memory_exporter.ts";

/** A test clock: starts at a fixed instant, moved by hand. */
export interface TestClock {
  (): number;
  advance(ms: number): void;
}

/** Creates a clock starting at `start` (epoch ms; default: the real now). */
export function testClock(start = Date.now()): TestClock {
  let now = start;
  const clock = (() => now) as TestClock;
  clock.advance = (ms) => {
    now += ms;
  };
  return clock;
}

/** A built app with its telemetry and what it recorded. */
export interface Harness {
  app: Hono;
  config: Config;
  telemetry: Telemetry;
  exporter: SyncMemoryExporter;
  /** Console log lines, as written. */
  lines: string[];
  /** Console log lines parsed as JSON (LOG_FORMAT=json is the harness default). */
  events(): Array<Record<string, unknown>>;
  diagnostics: string[];
  clock: TestClock;
  /** Shuts telemetry down (flushes every sink). */
  close(): Promise<void>;
}

/** Builds the app for a test. */
export async function buildApp(
  env: Record<string, string> = {},
  overrides: TelemetryOverrides & { clock?: TestClock; store?: (seeded: Store) => Store } = {},
): Promise<Harness> {
  const config = loadConfig({ LOG_FORMAT: "json", LOG_LEVEL: "debug", ...env });
  const exporter = new SyncMemoryExporter();
  const lines: string[] = [];
  const diagnostics: string[] = [];
  const { clock: givenClock, store: wrapStore, ...telemetryOverrides } = overrides;
  const telemetry = await createTelemetry(config, {
    spanExporter: exporter,
    writeLine: (line) => lines.push(line),
    diagnostic: (message) => diagnostics.push(message),
    ...telemetryOverrides,
  });
  const clock = givenClock ?? testClock();
  const seeded = createMemoryStore({ seededAt: clock(), currentUser: "andrewbrown" });
  const app = createApp({
    config,
    telemetry,
    store: wrapStore ? wrapStore(seeded) : seeded,
    clock,
  });
  return {
    app,
    config,
    telemetry,
    exporter,
    lines,
    events: () => lines.map((line) => JSON.parse(line)),
    diagnostics,
    clock,
    close: () => telemetry.shutdown(Date.now() + 5000),
  };
}

/** Serves a harness's app on 127.0.0.1:0 through a real Deno.serve. */
export function serve(app: Hono): { url: string; close(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

/** Runs `fn` with a fresh app and always closes its telemetry. */
export async function withApp(
  fn: (h: Harness) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const h = await buildApp(env);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/** POSTs `body` as JSON. */
export function postJson(h: Harness, path: string, body: unknown): Promise<Response> {
  return Promise.resolve(h.app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  }));
}

/** GETs `path` and parses the JSON answer. */
export async function getJson<T>(h: Harness, path: string): Promise<{ status: number; body: T }> {
  const res = await h.app.request(path);
  return { status: res.status, body: await res.json() as T };
}
