/**
 * The composition root: read the config, build the telemetry, the store and the app, serve,
 * and shut down gracefully on SIGTERM/SIGINT (stop accepting, finish in-flight requests,
 * flush every sink within one deadline, exit 0).
 */
import process from "node:process";
import { createApp } from "./app.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { createMemoryStore } from "./services/store.ts";
import { createTelemetry } from "./telemetry/mod.ts";

function fail(message: string): never {
  Deno.stderr.writeSync(new TextEncoder().encode(`startup failed: ${message}\n`));
  Deno.exit(1);
}

function readConfig(): Config {
  try {
    return loadConfig(Deno.env.toObject());
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}
const config = readConfig();

const telemetry = await createTelemetry(config);
const { logger } = telemetry;
const clock = Date.now;
const app = createApp({
  config,
  telemetry,
  store: createMemoryStore({ seededAt: clock(), currentUser: "andrewbrown" }),
  clock,
});

// Requests are counted so shutdown can wait for them before closing the server: Deno 2.9's
// server.shutdown() makes a request body still arriving unreadable (denoland/deno#36809).
let inFlight = 0;
let draining = false;
let onIdle: (() => void) | undefined;
const SHUTTING_DOWN = JSON.stringify(["shutting_down"]);

async function handle(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
  if (draining) {
    return new Response(SHUTTING_DOWN, {
      status: 503,
      headers: { "content-type": "application/json", connection: "close", "retry-after": "1" },
    });
  }
  inFlight++;
  try {
    return await app.fetch(request, info);
  } finally {
    if (--inFlight === 0) onIdle?.();
  }
}

function idle(): Promise<void> {
  return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => onIdle = resolve);
}

const server = Deno.serve({
  port: config.port,
  hostname: config.hostname,
  onListen({ hostname, port }) {
    logger.info(`Cruddur backend listening on http://${hostname}:${port}`, {
      mode: telemetry.mode,
    });
    for (const line of telemetry.describe()) logger.info(line);
  },
}, handle);

let stopping: Promise<void> | undefined;
function shutdown(signal: string, exitCode = 0): Promise<void> {
  stopping ??= (async () => {
    const deadline = Date.now() + config.shutdownTimeoutMs;
    logger.info(`${signal} received: draining requests and flushing telemetry`, {
      deadline_ms: config.shutdownTimeoutMs,
    });
    // Half the budget for in-flight requests, the rest (at least) for the sinks.
    const drainBy = Date.now() + config.shutdownTimeoutMs / 2;
    draining = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = new Promise((resolve) => {
      timer = setTimeout(resolve, Math.max(0, drainBy - Date.now()));
    });
    await Promise.race([idle().then(() => server.shutdown()), drained]);
    clearTimeout(timer);
    await telemetry.forceFlush(deadline);
    await telemetry.shutdown(deadline);
    // After the sinks stopped, so the counters are final (this line reaches the console only).
    logger.info("Shutdown complete", { telemetry: telemetry.stats() });
    // Console writes are asynchronous: wait for this last line, unless stdout is stalled.
    await logger.flush(Math.max(deadline, Date.now() + 50));
    Deno.exit(exitCode);
  })();
  return stopping;
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => void shutdown(signal));
}

// Errors outside any request: report them (Rollbar at level "error"), then an uncaught
// exception stops the process gracefully with exit code 1, as Node would without a handler.
process.on("uncaughtException", (error) => {
  telemetry.reportError(error);
  void shutdown("uncaughtException", 1);
});
process.on("unhandledRejection", (reason) => telemetry.reportError(reason));
