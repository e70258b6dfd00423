/**
 * The embedded store's clean stop: the SQL store over PGlite, which on `close()` waits for the
 * calls in flight, refuses new ones (503 `database_unavailable`), dumps every row, closes
 * PGlite, and only when that succeeded writes the snapshot the next start answers its first
 * reads from (snapshot.ts, warm_start.ts). A failed dump or close leaves no snapshot.
 */
import type { SqlClient } from "./sql_client.ts";
import { dumpRows, writeSnapshot } from "./snapshot.ts";
import { DatabaseUnavailableError, type Store } from "./types.ts";

/** Options of `snapshotOnClose`. */
export interface SnapshotOnCloseOptions {
  /** The PGlite data directory the snapshot is written to. */
  dataDir: string;
  /** The latest migration, which the database has (migrate.ts ran). */
  schemaVersion: number;
}

/** Wraps the PGlite store so that a clean close leaves a snapshot of its rows. */
export function snapshotOnClose(
  store: Store,
  client: SqlClient,
  options: SnapshotOnCloseOptions,
): Store {
  let inFlight = 0;
  let onIdle: (() => void) | undefined;
  let closing: Promise<void> | undefined;
  const settled = () => {
    if (--inFlight === 0) onIdle?.();
  };
  // Every call is counted, so the dump comes after the last write in flight has committed.
  function guard<A extends unknown[], R>(call: (...args: A) => Promise<R>) {
    return (...args: A): Promise<R> => {
      if (closing) return Promise.reject(new DatabaseUnavailableError("the store is closing"));
      inFlight++;
      const result = call(...args);
      result.then(settled, settled);
      return result;
    };
  }
  async function close(): Promise<void> {
    if (inFlight > 0) await new Promise<void>((resolve) => onIdle = resolve);
    let rows;
    try {
      rows = await client.transaction((tx) => dumpRows(tx));
    } finally {
      await store.close();
    }
    await writeSnapshot(options.dataDir, rows, options.schemaVersion);
  }
  return {
    kind: store.kind,
    activities: guard(store.activities),
    activitiesBy: guard(store.activitiesBy),
    search: guard(store.search),
    activity: guard(store.activity),
    notifications: guard(store.notifications),
    addActivity: guard(store.addActivity),
    addReply: guard(store.addReply),
    messageGroups: guard(store.messageGroups),
    messages: guard(store.messages),
    addMessage: guard(store.addMessage),
    prune: guard(store.prune),
    ready: () => closing ? Promise.resolve(false) : store.ready(),
    close: () => closing ??= close(),
  };
}
