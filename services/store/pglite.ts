/**
 * Embedded PostgreSQL through PGlite (WASM): the default store, persisted under DATA_DIR so a
 * plain `deno task start` keeps its posts across restarts. One connection by nature, so
 * PGlite serialises queries itself; transactions hold it exclusively.
 */
import { PGlite, type Transaction } from "@electric-sql/pglite";
import { DEFAULT_TEMPLATE, fillFromTemplate } from "./pglite_template.ts";
import { discardSnapshot } from "./snapshot.ts";
import type { SqlClient, SqlSession } from "./sql_client.ts";

function session(db: PGlite | Transaction): SqlSession {
  return {
    async query<T>(text: string, params: readonly unknown[]) {
      return (await db.query<T>(text, [...params])).rows;
    },
    async exec(text: string) {
      await db.exec(text);
    },
  };
}

/**
 * Server settings on top of PGlite's own start parameters. initdb writes shared_buffers =
 * 128MB, and the single-user backend clears all of it at every start: about half of PGlite's
 * startup CPU (~460 → ~210 ms on the 2-vCPU VM). Cruddur's data is a few MB, so 16MB of
 * buffers holds it with room to spare (and the process's resident memory is smaller).
 */
const START_SETTINGS = ["shared_buffers=16MB"];

/** Options of `openPglite`. */
export interface OpenPgliteOptions {
  /**
   * The initdb'd cluster an empty `dataDir` is copied from (pglite_template.ts); default the
   * one `deno task pglite-template` makes; null: always PGlite's own initdb.
   */
  template?: string | null;
}

/**
 * Opens (creating on first use) the database under `dataDir`; `memory://` keeps it in memory.
 * An empty directory starts as a copy of the template when there is one, else PGlite initdb's.
 */
export async function openPglite(
  dataDir: string,
  options: OpenPgliteOptions = {},
): Promise<SqlClient> {
  if (dataDir !== "memory://") {
    await Deno.mkdir(dataDir, { recursive: true });
    // A snapshot describes the cluster as it was closed; once it is opened it may change.
    // (A start that serves from the snapshot took it already: warm_start.ts.)
    await discardSnapshot(dataDir);
    const template = options.template === undefined ? DEFAULT_TEMPLATE : options.template;
    if (template !== null) await fillFromTemplate(dataDir, template);
  }
  const db = await PGlite.create(dataDir, {
    startParams: [...PGlite.defaultStartParams, ...START_SETTINGS.flatMap((s) => ["-c", s])],
  });
  return {
    ...session(db),
    info: { url: `pglite:${dataDir}`, database: "postgres", user: "postgres" },
    transaction: (fn) => db.transaction((tx) => fn(session(tx))),
    close: () => db.close(),
  };
}
