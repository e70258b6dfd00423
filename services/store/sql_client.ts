/**
 * The few things the SQL store needs of a PostgreSQL driver, so one store and one SQL dialect
 * serve both PGlite (embedded) and a server (porsager/postgres). Every query is text with `$n`
 * placeholders and a separate parameter list: values never become SQL.
 */
import { DatabaseUnavailableError } from "./types.ts";

/** A statement and what the trace says about it (db.operation.name, db.collection.name). */
export interface Query {
  readonly text: string;
  readonly operation:
    | "SELECT"
    | "INSERT"
    | "UPDATE"
    | "DELETE"
    | "WITH"
    | "CREATE TABLE"
    // Several statements in one script (a migration), as the conventions name a batch.
    | "BATCH";
  readonly collection: string;
}

/** What a query runs on: the client itself or an open transaction. */
export interface SqlSession {
  /** Runs one parameterised statement and returns its rows. */
  query<T>(text: string, params: readonly unknown[]): Promise<T[]>;
  /** Runs a script of statements without parameters (migrations only). */
  exec(text: string): Promise<void>;
}

/** Where the data lives, for spans and X-Ray's `sql` block; never holds the password. */
export interface DatabaseInfo {
  /** `postgresql://user@host:port/db` or `pglite:<dir>`, without any password. */
  url: string;
  database: string;
  user: string;
  address?: string;
  port?: number;
}

/** A connected driver. */
export interface SqlClient extends SqlSession {
  readonly info: DatabaseInfo;
  /** Runs `fn` in one transaction on one connection; rolls back when it throws. */
  transaction<R>(fn: (tx: SqlSession) => Promise<R>): Promise<R>;
  close(): Promise<void>;
}

/** SQLSTATE classes and codes that mean "the database is not there", not "the query is wrong". */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300|57014|55P03)$/;
/** Socket and driver error codes of the same meaning (Node's net and porsager/postgres). */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);
const UNAVAILABLE_NAMES = new Set([
  "ConnectionRefused",
  "ConnectionReset",
  "ConnectionAborted",
  "TimedOut",
  "BrokenPipe",
]);

/** The SQLSTATE or driver code of an error, if it has one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** True when `error` means the database is unreachable or went away. */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  const code = errorCode(error);
  if (code !== undefined && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_CODES.has(code))) {
    return true;
  }
  return error instanceof Error && UNAVAILABLE_NAMES.has(error.name);
}

/** Rethrows connection-level failures as DatabaseUnavailableError, the rest unchanged. */
export function classify(error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError || !isUnavailable(error)) return error;
  const code = errorCode(error);
  const wrapped = new DatabaseUnavailableError(
    `database unavailable${code ? ` (${code})` : ""}`,
    { cause: error },
  );
  return wrapped;
}
