/**
 * The composition root: read the config, build the telemetry, the store and the app, serve,
 * install the sinks whose clients are slow to load, and shut down gracefully on SIGTERM/SIGINT
 * (stop accepting, finish in-flight requests, flush every sink within one deadline, exit 0).
 */
import process from "node:process";
import { corsOrigins, createApp } from "./app.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import {
  DatabaseUnavailableError,
  describeDatabase,
  openStore,
  type Store,
} from "./services/store/mod.ts";
import { createWarmStore, takeWarmRows } from "./services/store/warm_start.ts";
import { startTelemetry } from "./telemetry/mod.ts";

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

function firstLine(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] ?? error.name : String(error);
}

/** Telemetry that cannot start (a sink's setup failed) is a startup failure, in one line. */
async function telemetryOrFail() {
  try {
    return await startTelemetry(config);
  } catch (error) {
    fail(firstLine(error));
  }
}
// The sinks the request path needs are installed now; the heavy ones once the server listens.
const { telemetry, installDeferred, startupLine } = await telemetryOrFail();
const { logger } = telemetry;
const clock = Date.now;
const CURRENT_USER = "andrewbrown";

/** The password of DATABASE_URL, so no startup line can carry it even inside a driver message. */
function withoutPassword(message: string): string {
  if (config.database.kind !== "postgres") return message;
  const password = decodeURIComponent(new URL(config.database.url).password);
  return password ? message.replaceAll(password, "[REDACTED]") : message;
}

/** The database's startup deadline (DATABASE_STARTUP_TIMEOUT_MS from now). */
const storeDeadline = Date.now() + config.databaseStartupTimeoutMs;
/** The seeding instant of a new database: one for every attempt and for the warm start's rows. */
const seededAt = clock();

/**
 * Opens the store, retrying an unreachable database with exponential backoff (250 ms to 5 s)
 * until DATABASE_STARTUP_TIMEOUT_MS, then exit 1: the replica starts when its database does.
 */
async function openStoreWithRetry(): Promise<Store> {
  const deadline = storeDeadline;
  const where = describeDatabase(config.database);
  let delay = 250;
  for (let attempt = 1;; attempt++) {
    try {
      return await openStore({
        database: config.database,
        seededAt,
        currentUser: CURRENT_USER,
        traced: telemetry.traced,
      });
    } catch (error) {
      const message = withoutPassword(error instanceof Error ? error.message : String(error));
      if (!(error instanceof DatabaseUnavailableError)) {
        await telemetry.shutdown(Date.now() + 2000);
        fail(`${where}: ${message}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        await telemetry.shutdown(Date.now() + 2000);
        fail(
          `${where}: ${message}; gave up after ${attempt} attempts (DATABASE_STARTUP_TIMEOUT_MS=${config.databaseStartupTimeoutMs})`,
        );
      }
      const wait = Math.min(delay, left);
      logger.warn(`${where}: ${message}; retrying in ${wait} ms`, { attempt });
      await new Promise((resolve) => setTimeout(resolve, wait));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/**
 * The store. PGlite with a snapshot of its last clean stop (or a new DATA_DIR and the seed)
 * answers reads from memory at once while PGlite boots behind it (warm_start.ts); otherwise
 * the server listens once the store is open.
 */
async function startStore(): Promise<Store> {
  const { database } = config;
  const warm = database.kind === "pglite"
    ? await takeWarmRows(database.dataDir, {
      seededAt,
      currentUser: CURRENT_USER,
      warn: (message) => logger.warn(message),
    })
    : undefined;
  if (!warm) return await openStoreWithRetry();
  const opening = openStoreWithRetry();
  const store = createWarmStore({
    warm,
    currentUser: CURRENT_USER,
    database: opening,
    deadline: storeDeadline,
  });
  logger.info(
    `Data: answering reads from ${
      warm.source === "snapshot" ? "the snapshot of the last clean stop" : "the seed"
    } while PGlite starts`,
    { source: warm.source },
  );
  void opening.then(() => {
    const startup = store.startup?.();
    logger.info("Data: PGlite ready; every request goes to it", {
      // performance.now() counts from the process's start.
      since_start_ms: Math.round(performance.now()),
      reads_from_memory: startup?.reads ?? 0,
    });
  });
  return store;
}

const store = await startStore();
const app = createApp({ config, telemetry, store, clock, currentUser: CURRENT_USER });

// Expired posts are deleted once a minute, so the store does not grow with dead rows.
const PRUNE_INTERVAL_MS = 60_000;
const pruner = setInterval(() => {
  store.prune(clock()).then(
    (removed) => {
      if (removed > 0) logger.info("Pruned expired activities", { removed });
    },
    (error) => logger.warn(`Pruning expired activities failed: ${withoutPassword(String(error))}`),
  );
}, PRUNE_INTERVAL_MS);
Deno.unrefTimer(pruner);

// Requests are counted so shutdown can wait for them before closing the server: Deno 2.9's
// server.shutdown() makes a request body still arriving unreadable (denoland/deno#36809).
let inFlight = 0;
/** performance.now() of the last request's start: what "the server is quiet" is read from. */
let lastRequestAt = 0;
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
  if (outage) listenerRecovered();
  inFlight++;
  lastRequestAt = performance.now();
  try {
    return await app.fetch(request, info);
  } finally {
    if (--inFlight === 0) onIdle?.();
  }
}

function idle(): Promise<void> {
  return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => onIdle = resolve);
}

/** The startup banner's CORS line: who may call from a browser, or how to allow someone. */
function corsLine(): string {
  const origins = corsOrigins(config);
  return origins.length > 0
    ? `CORS: browsers may call from ${origins.join(", ")}`
    : "CORS: no cross-origin browser calls are allowed (set FRONTEND_URL to the frontend's origin)";
}

let banner = true;
function listen(port: number): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    port,
    hostname: config.hostname,
    onListen({ hostname, port }) {
      if (!banner) return;
      banner = false;
      logger.info(`Cruddur backend listening on http://${hostname}:${port}`, {
        mode: telemetry.mode,
      });
      logger.info(describeDatabase(config.database));
    },
  }, handle);
}

/**
 * Installs the sinks whose clients load late, then prints the rest of the banner once, a line
 * per sink. A sink that fails to install says so in its line, once, as a warning rather than a
 * startup failure (the server is serving already, and module reads fail for a while when the
 * process is out of file descriptors); it is retried with backoff, its share held in its
 * bounded buffer, and its own line comes when it is up. Shutdown makes a last attempt and
 * counts what never got in.
 */
async function installLateSinks(): Promise<void> {
  let failed = (await installDeferred()).map((f) => f.sink);
  const warnings = new Set(failed.map((sink) => startupLine(sink)));
  for (const line of telemetry.describe()) {
    if (warnings.has(line)) logger.warn(line);
    else logger.info(line);
  }
  logger.info(corsLine());
  for (let delay = 250; failed.length > 0; delay = Math.min(delay * 2, 30_000)) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (stopping) return;
    const still = (await installDeferred()).map((f) => f.sink);
    for (const sink of failed) if (!still.includes(sink)) logger.info(startupLine(sink) ?? sink);
    failed = still;
  }
}

/** A bind failure (port in use, an address this host lacks) is one startup line, exit 1. */
function firstListen(): Deno.HttpServer<Deno.NetAddr> {
  try {
    return listen(config.port);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      fail(
        `PORT ${config.port} is already in use on HOST ${config.hostname}: set PORT to a free port`,
      );
    }
    const why = error instanceof Error ? error.message : String(error);
    fail(
      `cannot listen on HOST ${config.hostname} PORT ${config.port} (${why}): check HOST and PORT`,
    );
  }
}

let server = firstListen();
const boundPort = server.addr.port;
watchListener(server);

// Loading the heavy sink clients takes the event loop for ~0.2 s in a few synchronous chunks;
// a request arriving meanwhile waits for them. So they load once the first request (a health
// check, typically) has been answered and nothing else came for QUIET_MS, or LATEST_INSTALL_MS
// after listening, whichever is first. Until then, what the requests give them waits in
// bounded, counted buffers; a shutdown before that installs them itself, within its deadline.
const QUIET_MS = 10;
const LATEST_INSTALL_MS = 250;

function whenQuiet(since: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      const now = performance.now();
      const answered = lastRequestAt > 0 && inFlight === 0 && now - lastRequestAt >= QUIET_MS;
      if (answered || now - since >= LATEST_INSTALL_MS || stopping) resolve();
      else setTimeout(check, QUIET_MS);
    };
    setTimeout(check, QUIET_MS);
  });
}
whenQuiet(performance.now()).then(installLateSinks);

/**
 * Deno 2.9's Deno.serve ends its accept loop for good when accept() fails, with EMFILE among
 * others: `server.finished` rejects ("Too many open files (os error 24)"), the listening socket
 * is closed and every later connection is refused while the process lives on. So the listener
 * is watched: when it dies we listen again on the same port, with backoff, until a request is
 * served (descriptors were freed). An outage longer than LISTEN_RECOVERY_MS shuts down
 * gracefully with exit code 1, so a supervisor restarts us: never a process without listener.
 */
function watchListener(current: Deno.HttpServer<Deno.NetAddr>): void {
  current.finished.then(
    () => void lostListener(current, "the listener closed"),
    (error) => void lostListener(current, error instanceof Error ? error.message : String(error)),
  );
}

/** The listener outage in progress: since when, how many times we listened again. */
let outage: { since: number; relistens: number; delayMs: number } | undefined;

/** Called by the first request served after an outage: the listener is back for real. */
function listenerRecovered(): void {
  if (!outage) return;
  logger.warn(`Listener recovered: serving again on port ${boundPort}`, {
    outage_ms: Date.now() - outage.since,
    relistens: outage.relistens,
  });
  outage = undefined;
}

async function lostListener(lost: Deno.HttpServer<Deno.NetAddr>, why: string): Promise<void> {
  if (stopping || lost !== server) return;
  if (!outage) {
    outage = { since: Date.now(), relistens: 0, delayMs: 10 };
    logger.error(`Listener failed: ${why}; listening again on port ${boundPort}`, {
      recovery_ms: config.listenRecoveryMs,
    });
  }
  for (;;) {
    const current: { since: number; relistens: number; delayMs: number } = outage;
    if (Date.now() - current.since >= config.listenRecoveryMs) {
      logger.error(`Listener still failing after ${config.listenRecoveryMs} ms: ${why}`, {
        relistens: current.relistens,
      });
      void shutdown("Listener lost", 1);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, current.delayMs));
    current.delayMs = Math.min(current.delayMs * 2, 1000);
    if (stopping) return;
    try {
      server = listen(boundPort);
      current.relistens++;
      watchListener(server);
      return;
    } catch (error) {
      why = error instanceof Error ? error.message : String(error);
    }
  }
}

let stopping: Promise<void> | undefined;
function shutdown(reason: string, exitCode = 0): Promise<void> {
  stopping ??= (async () => {
    const deadline = Date.now() + config.shutdownTimeoutMs;
    logger.info(`${reason}: draining requests and flushing telemetry`, {
      deadline_ms: config.shutdownTimeoutMs,
    });
    // Half the budget for in-flight requests, the rest (at least) for the sinks.
    const drainBy = Date.now() + config.shutdownTimeoutMs / 2;
    draining = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = new Promise((resolve) => {
      timer = setTimeout(resolve, Math.max(0, drainBy - Date.now()));
    });
    await Promise.race([idle().then(() => server.shutdown().catch(() => {})), drained]);
    clearTimeout(timer);
    clearInterval(pruner);
    await store.close().catch((error) => {
      logger.warn(`Closing the store failed: ${withoutPassword(String(error))}`);
    });
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
  Deno.addSignalListener(signal, () => void shutdown(`${signal} received`));
}

// Errors outside any request: report them (Rollbar at level "error"), then an uncaught
// exception stops the process gracefully with exit code 1, as Node would without a handler.
process.on("uncaughtException", (error) => {
  telemetry.reportError(error);
  void shutdown("uncaughtException received", 1);
});
process.on("unhandledRejection", (reason) => telemetry.reportError(reason));
