/**
 * PGlite's warm start: answer the first reads from memory while PGlite boots (about a second
 * of CPU: loading its WASM, the single-user backend, its first query), then hand everything
 * to PGlite. What is served meanwhile is exactly what PGlite holds:
 * - the snapshot its last clean stop wrote (snapshot.ts), consumed before anything is served;
 * - or, for a new (empty) DATA_DIR, the seed's rows (rows.ts), which PGlite's first start
 *   inserts with the same seeding instant.
 *
 * The rules (each tested in tests/services/warm_start_test.ts):
 * - the first write (any mutation) waits for PGlite, bounded by the startup deadline
 *   (DATABASE_STARTUP_TIMEOUT_MS: then 503 `database_unavailable`), and from that moment every
 *   request, reads included, goes to PGlite: a client reads its own writes;
 * - once PGlite is ready everything goes to it, and the memory copy is dropped;
 * - a read answered from memory says so (ReadVia: `cruddur.store.source` on the service span,
 *   `store_source` in the access log) and makes no database CLIENT span: none was queried.
 */
import { memoryStoreFrom } from "./memory.ts";
import { latestMigration } from "./migrate.ts";
import { seedRows, type StoreRows } from "./rows.ts";
import { takeSnapshot } from "./snapshot.ts";
import {
  DatabaseUnavailableError,
  type ReadSource,
  type ReadVia,
  type Store,
  type StoreStartup,
} from "./types.ts";

/** The rows a start can answer from before PGlite is ready. */
export interface WarmRows {
  source: ReadSource;
  rows: StoreRows;
}

/** Options of `takeWarmRows`. */
export interface TakeWarmRowsOptions {
  /** The seeding instant PGlite will seed a new database with (the same one). */
  seededAt: number;
  currentUser: string;
  /** Says once why a snapshot was not used (corrupt, another version, unremovable). */
  warn(message: string): void;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(dir)) return false;
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
}

/**
 * At start, before PGlite opens `dataDir`: the snapshot of its last clean stop (taken: it is
 * removed now, so it is used at most once), else the seed's rows when the directory is new or
 * empty, else undefined (an unclean stop, or a snapshot ignored): reads wait for PGlite.
 */
export async function takeWarmRows(
  dataDir: string,
  options: TakeWarmRowsOptions,
): Promise<WarmRows | undefined> {
  if (dataDir === "memory://") return undefined;
  const taken = await takeSnapshot(dataDir, await latestMigration());
  if (taken.kind === "rows") return { source: "snapshot", rows: taken.rows };
  if (taken.kind === "ignored") {
    options.warn(`PGlite snapshot ignored (${taken.reason}); reads wait for PGlite`);
    return undefined;
  }
  if (await isEmptyOrMissing(dataDir)) {
    return { source: "seed", rows: seedRows(options.seededAt, options.currentUser) };
  }
  return undefined;
}

/** Options of `createWarmStore`. */
export interface WarmStoreOptions {
  warm: WarmRows;
  currentUser: string;
  /** PGlite opening (migrated, seeded); it rejects when it never will. */
  database: Promise<Store>;
  /** Epoch ms after which a request waiting for PGlite is answered 503 instead. */
  deadline: number;
  /** Injected for tests. */
  now?: () => number;
}

/** The store a warm start serves through: memory first, PGlite once ready or written to. */
export function createWarmStore(options: WarmStoreOptions): Store {
  const { source } = options.warm;
  const now = options.now ?? Date.now;
  let memory: Store | undefined = memoryStoreFrom(options.warm.rows, options.currentUser);
  let database: Store | undefined;
  let failed = false;
  let written = false;
  let reads = 0;
  let readyAt: number | undefined;
  const opened = options.database.then((store) => {
    database = store;
    readyAt = Date.now();
    memory = undefined; // every request goes to PGlite from now on
    return store;
  }, (error) => {
    failed = true;
    memory = undefined;
    throw error;
  });
  // Waiters are told through `ready()`; the opener's own failure is main.ts's to report.
  opened.catch(() => {});

  /** PGlite, once open; a 503 at the deadline or when it will not open. */
  function whenOpen(): Promise<Store> {
    if (database) return Promise.resolve(database);
    const left = options.deadline - now();
    if (failed || left <= 0) return Promise.reject(unavailable());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      // setTimeout fires at once past 2^31-1 ms; no startup deadline is that far.
      timer = setTimeout(() => reject(unavailable()), Math.min(left, 2 ** 31 - 1));
    });
    return Promise.race([opened.catch(() => Promise.reject(unavailable())), late])
      .finally(() => clearTimeout(timer));
  }

  function read<T>(via: ReadVia | undefined, call: (store: Store) => Promise<T>): Promise<T> {
    if (database) return call(database);
    if (memory && !written) {
      reads++;
      if (via) via.source = source;
      return call(memory);
    }
    return whenOpen().then(call);
  }

  function write<T>(call: (store: Store) => Promise<T>): Promise<T> {
    if (database) return call(database);
    // From the first write on, nothing is answered from memory: it would not show the write.
    written = true;
    memory = undefined;
    return whenOpen().then(call);
  }

  return {
    kind: "pglite",
    activities: (at, page, via) => read(via, (s) => s.activities(at, page, via)),
    activitiesBy: (handle, at, page, via) =>
      read(via, (s) => s.activitiesBy(handle, at, page, via)),
    search: (term, at, page, via) => read(via, (s) => s.search(term, at, page, via)),
    activity: (uuid, at, via) => read(via, (s) => s.activity(uuid, at, via)),
    notifications: (at, page, via) => read(via, (s) => s.notifications(at, page, via)),
    messageGroups: (handle, via) => read(via, (s) => s.messageGroups(handle, via)),
    messages: (handle, other, via) => read(via, (s) => s.messages(handle, other, via)),
    addActivity: (activity) => write((s) => s.addActivity(activity)),
    addReply: (reply, at) => write((s) => s.addReply(reply, at)),
    addMessage: (message) => write((s) => s.addMessage(message)),
    // Expired rows are invisible in memory too; PGlite deletes them once it is there.
    prune: (at) => database ? database.prune(at) : Promise.resolve(0),
    ready: () => database ? database.ready() : Promise.resolve(!failed),
    async close() {
      // A stop during the boot lets PGlite finish opening, so its close writes the snapshot.
      const store = await opened.catch(() => undefined);
      await store?.close();
    },
    startup: (): StoreStartup => ({
      source,
      reads,
      serving: !database && !written && !failed,
      ...(readyAt !== undefined ? { databaseReadyAt: new Date(readyAt).toISOString() } : {}),
    }),
  };
}

function unavailable(): DatabaseUnavailableError {
  return new DatabaseUnavailableError("the embedded database is still starting");
}
