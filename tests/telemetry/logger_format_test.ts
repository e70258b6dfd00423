import assert from "node:assert/strict";
import { createLogger, type LoggerOptions } from "../../telemetry/logger.ts";
import type { LogLine } from "../../telemetry/types.ts";

function logWith(options: Partial<LoggerOptions>) {
  const lines: string[] = [];
  const pushed: LogLine[] = [];
  const logger = createLogger({
    service: "svc",
    level: "info",
    format: "auto",
    write: (line) => lines.push(line),
    traceContext: () => ({ traceId: "a".repeat(32), spanId: "b".repeat(16) }),
    now: () => Date.UTC(2026, 11, 1),
    ...options,
  });
  logger.info("hello\nworld", { status: 200, path: "/api" });
  return { lines, pushed };
}

Deno.test("LOG_FORMAT=auto: pretty for a terminal, one JSON object per line otherwise", () => {
  const terminal = logWith({ isTerminal: () => true }).lines;
  assert.equal(terminal.length, 1);
  assert.match(terminal[0]!, /^2026-12-01T00:00:00\.000Z INFO {2}hello\\nworld .*status=200/);

  const pipe = logWith({ isTerminal: () => false }).lines;
  assert.equal(pipe.length, 1);
  const event = JSON.parse(pipe[0]!);
  assert.equal(event.message, "hello\nworld");
  assert.equal(event.status, 200);
  assert.equal(event.trace_id, "a".repeat(32));
  assert.ok(!pipe[0]!.includes("\n"), "a newline in the message cannot start a second event");
});

Deno.test("the console line and the remote sink's message are the same JSON string", () => {
  const lines: string[] = [];
  const pushed: LogLine[] = [];
  const logger = createLogger({
    service: "svc",
    level: "info",
    format: "auto",
    isTerminal: () => false,
    write: (line) => lines.push(line),
    sink: { push: (line) => pushed.push(line) },
    traceContext: () => undefined,
  });
  logger.info("one", { n: 1 });
  assert.equal(pushed.length, 1);
  assert.equal(pushed[0]!.message, lines[0]);
});

Deno.test("an explicit LOG_FORMAT wins over the terminal check", () => {
  const lines = logWith({ format: "json", isTerminal: () => true }).lines;
  assert.equal(JSON.parse(lines[0]!).message, "hello\nworld");
});
