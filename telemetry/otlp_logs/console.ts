/**
 * `OTEL_LOGS_EXPORTER=console`: each record printed in the shape the SDK's
 * ConsoleLogRecordExporter prints (resource, scope, time in µs, ids, severity, body,
 * attributes), from the buffered events, in the sink's turn rather than the request's.
 */
import type { LogLevel, LogTraceContext } from "../logger.ts";
import type { LogEvent } from "./buffer.ts";
import { isAttribute, SEVERITY_NUMBER } from "./encode.ts";

/** Prints records; `print` is `console.dir` unless a test captures it. */
export class ConsoleLogRecords {
  readonly #resource: Readonly<Record<string, unknown>>;
  readonly #scope: { name: string; version?: string };
  readonly #print: (record: Record<string, unknown>) => void;

  constructor(options: {
    resource: Readonly<Record<string, unknown>>;
    scope: { name: string; version?: string };
    print?: (record: Record<string, unknown>) => void;
  }) {
    this.#resource = options.resource;
    this.#scope = options.scope;
    // deno-lint-ignore no-console -- printing records is what this exporter is for
    this.#print = options.print ?? ((record) => console.dir(record, { depth: 3 }));
  }

  /** Prints one record. */
  add(level: LogLevel, event: LogEvent, timeMs: number, trace: LogTraceContext | undefined): void {
    const attributes: Record<string, unknown> = {};
    for (const key in event) if (isAttribute(event, key)) attributes[key] = event[key];
    this.#print({
      resource: { attributes: this.#resource },
      instrumentationScope: this.#scope,
      timestamp: timeMs * 1000,
      traceId: trace?.traceId,
      spanId: trace?.spanId,
      traceFlags: trace ? trace.traceFlags ?? 0 : undefined,
      severityText: level.toUpperCase(),
      severityNumber: SEVERITY_NUMBER[level],
      body: event.message,
      attributes,
    });
  }
}
