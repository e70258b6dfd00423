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

/** Logs `events` twice: as it comes, and with a request secret that appears nowhere (which
 * takes the general path: scrub each string, then serialise the object). */
function bothPaths(events: Array<[string, Record<string, unknown> | undefined]>) {
  const run = (secrets: ReadonlySet<string> | undefined) => {
    const lines: string[] = [];
    const pushed: string[] = [];
    const records: unknown[] = [];
    let tick = Date.UTC(2026, 11, 1, 12, 0, 0, 7);
    const logger = createLogger({
      service: 'svc "quoted"',
      level: "debug",
      format: "json",
      write: (line) => lines.push(line),
      sink: { push: (line) => pushed.push(line.message) },
      records: { emit: (_level, event) => records.push(structuredClone(event)) },
      traceContext: () => undefined,
      secrets: () => secrets,
      now: () => tick += 1.5,
    });
    events.forEach(([message, fields], i) => {
      const trace = i % 3 === 0 ? undefined : {
        traceId: "a".repeat(32),
        spanId: "b".repeat(16),
        ...(i % 3 === 2 ? { xrayTraceId: "1-5759e988-bd862e3fe1be46a994272793" } : {}),
      };
      logger.logWith(i % 2 ? "info" : "warn", trace, message, fields);
    });
    return { lines, pushed, records };
  };
  return { plain: run(undefined), general: run(new Set(["absent-secret-value-123"])) };
}

Deno.test("a plain event's line is the one the general path serialises, and anything else takes it", () => {
  const strings = [
    "GET /api/activities/home 200",
    "",
    'a "quote"',
    "back\\slash",
    "line\nbreak\tand\u0001control",
    "emoji 🎉 and a lone \ud800 surrogate",
    "Authorization: Bearer abc.def.ghi",
    "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    "key AKIAIOSFODNN7EXAMPLE here",
    "basic stuff",
    "x".repeat(2049),
    "ünïcödé text",
    "U+2028 \u2028 and DEL \u007f",
  ];
  const values: unknown[] = [
    ...strings,
    0,
    -0,
    12.345,
    1e21,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    true,
    false,
    null,
    undefined,
    { nested: "object", n: 1 },
    [1, "two"],
    10n,
    new Error("boom Bearer secret-token"),
  ];
  const events: Array<[string, Record<string, unknown> | undefined]> = [
    ["HomeActivities", { result_length: 2 }],
    ["no fields", undefined],
    ["reserved", { timestamp: "x", level: "y", trace_id: "z" }],
    ["long key", { ["k".repeat(65)]: 1 }],
    ['key "quoted"', { 'a"b': 1, "c\nd": "e" }],
    ["x".repeat(4097), { a: 1 }],
  ];
  for (const message of strings) {
    for (const value of values) events.push([message, { event: "access", value, after: "tail" }]);
  }
  const many: Record<string, unknown> = {};
  for (let i = 0; i < 40; i++) many[`field_${i}`] = i;
  events.push(["many fields", many]);

  const { plain, general } = bothPaths(events);
  assert.deepEqual(plain.lines, general.lines);
  assert.deepEqual(plain.pushed, plain.lines);
  assert.deepEqual(plain.records, general.records);
  for (const line of plain.lines) JSON.parse(line);
  // The shapes are scrubbed on both paths.
  assert.ok(!plain.lines.some((line) => line.includes("abc.def.ghi")));
  assert.ok(!plain.lines.some((line) => line.includes("AKIAIOSFODNN7EXAMPLE")));
  assert.ok(!plain.lines.some((line) => line.includes("secret-token")));
});
