/**
 * One statement as a CLIENT span per the database semantic conventions (and so an X-Ray
 * subsegment with the `sql` block): the store's queries and the startup migrations share it.
 * The text goes in `db.query.text` with its `$n` placeholders; parameter values never do.
 */
import type { Attributes } from "@opentelemetry/api";
import { SpanKind } from "../../telemetry/otel_api.ts";
import type { Traced } from "../types.ts";
import { classify, type DatabaseInfo, errorCode, type Query } from "./sql_client.ts";

/** The span attributes every statement on this database carries. */
export function databaseAttributes(info: DatabaseInfo, version: string | undefined): Attributes {
  return {
    "db.system.name": "postgresql",
    "db.namespace": info.database,
    ...(info.address !== undefined ? { "server.address": info.address } : {}),
    ...(info.port !== undefined ? { "server.port": info.port } : {}),
    // X-Ray's sql block wants these; OpenTelemetry has no attribute for them any more.
    "aws.xray.name": `${info.database}@${info.address ?? "pglite"}`,
    "aws.xray.sql.url": info.url,
    "aws.xray.sql.user": info.user,
    ...(version !== undefined ? { "aws.xray.sql.database_version": version } : {}),
  };
}

/** Where statements are traced: `traced` and the database's attributes; absent: untraced. */
export interface StatementTracing {
  traced: Traced;
  attributes: Attributes;
}

/**
 * Runs `execute` (the statement `query`) inside its CLIENT span, or bare without tracing.
 * Connection-level failures become DatabaseUnavailableError; a failure's SQLSTATE is
 * `db.response.status_code` and `error.type`.
 */
export async function tracedQuery<T>(
  tracing: StatementTracing | undefined,
  query: Query,
  execute: () => Promise<T>,
): Promise<T> {
  const run = async () => {
    try {
      return await execute();
    } catch (error) {
      throw classify(error);
    }
  };
  if (!tracing) return run();
  const name = query.collection ? `${query.operation} ${query.collection}` : query.operation;
  return await tracing.traced(name, async (span) => {
    try {
      return await run();
    } catch (error) {
      const code = errorCode((error as Error).cause ?? error);
      if (code !== undefined) span.setAttribute("db.response.status_code", code);
      span.setAttribute("error.type", code ?? (error as Error).name ?? "Error");
      throw error;
    }
  }, {
    kind: SpanKind.CLIENT,
    attributes: {
      ...tracing.attributes,
      "db.operation.name": query.operation,
      ...(query.collection ? { "db.collection.name": query.collection } : {}),
      "db.query.text": query.text,
    },
  });
}

/** `INSERT INTO x`, `UPDATE x`, `DELETE FROM x`, `CREATE TABLE [IF NOT EXISTS] x`, `… FROM x`. */
const TARGET =
  /^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|CREATE\s+TABLE(?:\s+IF\s+NOT\s+EXISTS)?)\s+(\w+)|\bFROM\s+(\w+)/i;

/**
 * What the trace says about a statement known only by its text (the migrations'): its
 * operation and table; a script of several statements is a BATCH with no single table.
 */
export function describeStatement(text: string): Query {
  const body = text.replace(/--[^\n]*/g, "").trim();
  if (/;\s*\S/.test(body)) return { text, operation: "BATCH", collection: "" };
  const word = /^\w+/.exec(body)?.[0]?.toUpperCase() ?? "";
  const operation: Query["operation"] = word === "CREATE"
    ? "CREATE TABLE"
    : (["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"] as const).find((op) => op === word) ??
      "BATCH";
  const match = TARGET.exec(body);
  return { text, operation, collection: match?.[1] ?? match?.[2] ?? "" };
}
