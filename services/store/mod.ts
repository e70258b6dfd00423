/**
 * The store behind the services, chosen by DATABASE_URL: PGlite under DATA_DIR (unset), a
 * PostgreSQL server (`postgres://…`), or memory (`memory:`). The PostgreSQL drivers are
 * loaded only when used, so the memory store carries neither.
 */
import type { Traced } from "../types.ts";
import { latestMigration, migrate } from "./migrate.ts";
import type { SqlClient } from "./sql_client.ts";
import { classify } from "./sql_client.ts";
import { databaseAttributes } from "./traced_query.ts";
import type { DatabaseConfig, Store } from "./types.ts";
import { createMemoryStore } from "./memory.ts";
import { redactDatabaseUrl } from "./redact.ts";

export * from "./types.ts";
export { createMemoryStore, type MemoryStoreOptions } from "./memory.ts";
export { redactDatabaseUrl } from "./redact.ts";

/** Options of `openStore`. */
export interface OpenStoreOptions {
  database: DatabaseConfig;
  /** The seed's reference instant, used once on an empty database. */
  seededAt: number;
  currentUser: string;
  /** Makes the queries' CLIENT spans. */
  traced?: Traced;
}

/** Where a store's data lives, for the startup banner (never a password). */
export function describeDatabase(database: DatabaseConfig): string {
  switch (database.kind) {
    case "memory":
      return "Data: in memory (DATABASE_URL=memory:; lost on restart)";
    case "pglite":
      return `Data: embedded PostgreSQL (PGlite) under ${database.dataDir}`;
    case "postgres":
      return `Data: PostgreSQL server ${redactDatabaseUrl(database.url)}`;
  }
}

/**
 * Opens the store: connects, applies migrations, seeds an empty database. A database that
 * cannot be reached rejects with DatabaseUnavailableError (main.ts retries until its deadline).
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const { database } = options;
  if (database.kind === "memory") {
    return createMemoryStore({ seededAt: options.seededAt, currentUser: options.currentUser });
  }
  let client: SqlClient;
  if (database.kind === "pglite") {
    const { openPglite } = await import("./pglite.ts");
    client = await openPglite(database.dataDir);
  } else {
    const { openPostgres } = await import("./postgres.ts");
    client = openPostgres(database);
  }
  try {
    // First: the version is in every statement's span, the migrations' too.
    const [row] = await client.query<{ server_version: string }>("SHOW server_version", []);
    const version = row?.server_version;
    await migrate(client, {
      seededAt: options.seededAt,
      currentUser: options.currentUser,
      ...(options.traced
        ? {
          tracing: {
            traced: options.traced,
            attributes: databaseAttributes(client.info, version),
          },
        }
        : {}),
    });
    const { createPgStore } = await import("./pg_store.ts");
    const store = createPgStore({
      kind: database.kind,
      client,
      currentUser: options.currentUser,
      ...(options.traced ? { traced: options.traced } : {}),
      ...(version !== undefined ? { databaseVersion: version } : {}),
    });
    if (database.kind !== "pglite" || database.dataDir === "memory://") return store;
    // One process owns DATA_DIR: its clean stop leaves the snapshot the next start reads from.
    const { snapshotOnClose } = await import("./pglite_store.ts");
    return snapshotOnClose(store, client, {
      dataDir: database.dataDir,
      schemaVersion: await latestMigration(),
    });
  } catch (error) {
    await client.close().catch(() => {});
    throw classify(error);
  }
}
