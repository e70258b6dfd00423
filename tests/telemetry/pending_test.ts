/**
 * PendingSink: what a sink installed late is given while it loads is held in order, bounded,
 * and handed over once it is up; everything that never reaches it is counted.
 */
import assert from "node:assert/strict";
import { ROOT_CONTEXT, type SpanContext, TraceFlags } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { LogLevel, LogTraceContext } from "../../telemetry/logger.ts";
import type { RequestRecorder, RequestSample } from "../../telemetry/metrics/http_server.ts";
import { PendingSink } from "../../telemetry/pending.ts";
import { until } from "../support/faults.ts";
import {
  emptyStats,
  type ErrorContext,
  type LogLine,
  type MessageLevel,
  type Sink,
  type SinkContribution,
  type SinkStats,
} from "../../telemetry/types.ts";

/** A sink that counts what it accepts, like the real ones (queued = every item offered). */
class CountingSink implements Sink {
  readonly name = "fake";
  readonly counts: SinkStats = emptyStats();
  shutdowns = 0;
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    this.shutdowns++;
    return Promise.resolve();
  }
  stats(): SinkStats {
    return { ...this.counts };
  }
}

/** The smallest span object the stand-in and a processor read. */
function fakeSpan(name: string, sampled: boolean): Span & ReadableSpan {
  const context: SpanContext = {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
  };
  return { name, spanContext: () => context } as unknown as Span & ReadableSpan;
}

/** Records every processor call as "start:name" / "end:name". */
class RecordingProcessor implements SpanProcessor {
  readonly calls: string[] = [];
  onStart(span: Span): void {
    this.calls.push(`start:${(span as unknown as ReadableSpan).name}`);
  }
  onEnd(span: ReadableSpan): void {
    this.calls.push(`end:${span.name}`);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function line(n: number): LogLine {
  return { timestamp: 1_700_000_000_000 + n, message: `{"n":${n}}` };
}

function sample(route: string): RequestSample {
  return {
    method: "GET",
    scheme: "http",
    route,
    status: 200,
    durationSeconds: 0.001,
    errorType: undefined,
    requestBytes: undefined,
    responseBytes: 10,
  };
}

Deno.test("PendingSink hands the held log lines over in order, then passes lines straight through", async () => {
  const pending = new PendingSink("fake", ["logDestination"], 10);
  const sink = new CountingSink();
  const received: number[] = [];
  for (let i = 0; i < 3; i++) pending.logDestination!.push(line(i));
  assert.deepEqual(pending.stats(), { ...emptyStats(), queued: 3 }, "held lines are queued");
  assert.equal(pending.startup(), "fake: installing");
  await pending.install(() =>
    Promise.resolve({
      startup: "Fake: up",
      sink,
      logDestination: {
        push(l) {
          sink.counts.queued++;
          sink.counts.sent++;
          received.push(l.timestamp - 1_700_000_000_000);
        },
      },
    })
  );
  pending.logDestination!.push(line(3));
  assert.deepEqual(received, [0, 1, 2, 3]);
  assert.deepEqual(pending.stats(), { ...emptyStats(), queued: 4, sent: 4 }, "counted once");
  assert.equal(pending.startup(), "Fake: up");
  assert.equal(pending.state, "up");
});

Deno.test("PendingSink hands its backlog over only as fast as the sink has room, later calls behind it, and a flush hands the rest", async () => {
  const pending = new PendingSink("fake", ["logDestination"], 100);
  const sink = new CountingSink();
  // A destination with room for 10 lines, emptied when the test "sends" them.
  const queue: number[] = [];
  const sent: number[] = [];
  const send = () => sent.push(...queue.splice(0));
  const destination = {
    intakeRoom: () => 10 - queue.length,
    push(l: LogLine) {
      sink.counts.queued++;
      queue.push(l.timestamp - 1_700_000_000_000);
    },
  };
  sink.forceFlush = () => {
    sink.counts.sent += queue.length;
    send();
    return Promise.resolve();
  };
  for (let i = 0; i < 35; i++) pending.logDestination!.push(line(i));
  await pending.install(() =>
    Promise.resolve({ startup: "Fake: up", sink, logDestination: destination })
  );
  assert.deepEqual(queue, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "one turn: what the sink has room for");
  assert.equal(pending.backlog, 25);
  pending.logDestination!.push(line(35));
  assert.equal(queue.length, 10, "a later line waits behind the backlog");
  assert.equal(pending.stats()!.queued, 36, "held lines stay counted queued, once");
  assert.deepEqual(pending.details(), { startup_backlog: 26 }, "the health check shows it");
  sink.forceFlush();
  // The next turns, in their own timers.
  await until(() => queue[0] === 10, 5000, "the next turn after room was made");
  assert.deepEqual(queue, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  await pending.flushBacklog(sink, Date.now() + 1000);
  sink.forceFlush();
  assert.deepEqual(sent, Array.from({ length: 36 }, (_, i) => i), "all, in order");
  assert.equal(pending.backlog, 0);
  pending.logDestination!.push(line(36));
  assert.deepEqual(queue, [36], "the backlog gone, lines go straight through");
  assert.equal(pending.details(), undefined);
});

Deno.test("PendingSink.flushBacklog() stops waiting for a sink that makes no room and hands the rest over for it to count", async () => {
  const pending = new PendingSink("fake", ["logDestination"], 100);
  const sink = new CountingSink();
  const received: number[] = [];
  const destination = {
    intakeRoom: () => (received.length < 5 ? 5 - received.length : 0),
    push: (l: LogLine) => received.push(l.timestamp - 1_700_000_000_000),
  };
  let flushes = 0;
  sink.forceFlush = () => {
    flushes++;
    return Promise.resolve();
  };
  for (let i = 0; i < 20; i++) pending.logDestination!.push(line(i));
  await pending.install(() =>
    Promise.resolve({ startup: "Fake: up", sink, logDestination: destination })
  );
  await pending.flushBacklog(sink, Date.now() + 60_000);
  assert.equal(flushes, 1, "one flush that freed nothing, then no more waiting");
  assert.equal(received.length, 20, "the rest handed over regardless");
  assert.equal(pending.backlog, 0);
});

Deno.test("PendingSink polls a sink that makes no room less and less often, and goes on once it does", async () => {
  const pending = new PendingSink("fake", ["logDestination"], 100);
  const sink = new CountingSink();
  let room = 0;
  let polls = 0;
  const received: number[] = [];
  const destination = {
    intakeRoom() {
      polls++;
      return room;
    },
    push: (l: LogLine) => received.push(l.timestamp - 1_700_000_000_000),
  };
  for (let i = 0; i < 10; i++) pending.logDestination!.push(line(i));
  await pending.install(() =>
    Promise.resolve({ startup: "Fake: up", sink, logDestination: destination })
  );
  await new Promise((resolve) => setTimeout(resolve, 400));
  // 2, 4, ... 64 ms apart: about a dozen turns in 400 ms, not the 200 of a 2 ms poll.
  assert.ok(polls <= 20, `${polls} polls`);
  assert.deepEqual(received, []);
  room = 100;
  await until(() => received.length === 10, 5000, "the turn after the sink made room");
  assert.equal(received.length, 10, "the next turn hands everything over");
  assert.equal(pending.backlog, 0);
});

Deno.test("PendingSink: a sink call that throws during the hand-over loses that call only, never the turn or the process", async () => {
  const pending = new PendingSink("fake", ["logDestination"], 100);
  const sink = new CountingSink();
  const received: number[] = [];
  let turns = 0;
  const destination = {
    intakeRoom() {
      turns++;
      return 2; // a few a turn: the rest go over in the timer's turns
    },
    push(l: LogLine) {
      const n = l.timestamp - 1_700_000_000_000;
      if (n === 3) throw new Error("a sink that breaks its contract");
      received.push(n);
    },
  };
  for (let i = 0; i < 8; i++) pending.logDestination!.push(line(i));
  await pending.install(() =>
    Promise.resolve({ startup: "Fake: up", sink, logDestination: destination })
  );
  await until(() => pending.backlog === 0, 5000, "every turn");
  assert.deepEqual(received, [0, 1, 2, 4, 5, 6, 7]);
  assert.ok(turns > 1, "handed over in turns");
  assert.equal(pending.backlog, 0);
});

Deno.test("PendingSink: a sink whose intakeRoom() throws is handed its backlog by the flush, which does not reject", async () => {
  const pending = new PendingSink("fake", ["logDestination"], 100);
  const sink = new CountingSink();
  const received: number[] = [];
  const destination = {
    intakeRoom(): number {
      throw new Error("a sink that breaks its contract");
    },
    push: (l: LogLine) => received.push(l.timestamp - 1_700_000_000_000),
  };
  for (let i = 0; i < 5; i++) pending.logDestination!.push(line(i));
  await pending.install(() =>
    Promise.resolve({ startup: "Fake: up", sink, logDestination: destination })
  );
  assert.deepEqual(received, [], "no turn could read its room");
  await pending.flushBacklog(sink, Date.now() + 1000);
  assert.deepEqual(received, [0, 1, 2, 3, 4], "the flush handed them over regardless");
});

Deno.test("PendingSink turns calls away past its bound and counts them queued and dropped", async () => {
  const pending = new PendingSink("fake", ["logDestination", "errorDestination"], 2);
  const sink = new CountingSink();
  const lines: number[] = [];
  const errors: string[] = [];
  for (let i = 0; i < 5; i++) pending.logDestination!.push(line(i));
  for (let i = 0; i < 3; i++) pending.errorDestination!.reportMessage(`m${i}`, "info");
  // 2 lines and 2 reports held, 3 + 1 turned away.
  assert.deepEqual(pending.stats(), { ...emptyStats(), queued: 8, dropped: 4 });
  await pending.install(() =>
    Promise.resolve({
      startup: "Fake: up",
      sink,
      logDestination: { push: (l) => lines.push(l.timestamp - 1_700_000_000_000) },
      errorDestination: {
        reportError: () => errors.push("error"),
        reportMessage: (message) => errors.push(message),
      },
    })
  );
  assert.deepEqual(lines, [0, 1], "the oldest are kept");
  assert.deepEqual(errors, ["m0", "m1"]);
  const stats = pending.stats()!;
  assert.equal(stats.dropped, 4, "what the buffer turned away stays counted");
  assert.equal(stats.queued, 4, "the sink's own account has no entries: only the lost ones");
});

Deno.test("PendingSink replays span starts and ends in order and counts only sampled spans", async () => {
  const pending = new PendingSink("traces", ["spanProcessors"], 2);
  const processor = new RecordingProcessor();
  const a = fakeSpan("a", true);
  const b = fakeSpan("b", false);
  const c = fakeSpan("c", true);
  const d = fakeSpan("d", true);
  const stand = pending.spanProcessor!;
  stand.onStart(a, ROOT_CONTEXT);
  stand.onStart(b, ROOT_CONTEXT);
  stand.onStart(c, ROOT_CONTEXT); // past the bound of 2 started spans: turned away
  stand.onEnd(b);
  stand.onEnd(a);
  stand.onEnd(c); // counted lost (sampled)
  assert.deepEqual(pending.stats(), { ...emptyStats(), queued: 2, dropped: 1 }, "a held + c lost");
  await pending.install(() =>
    Promise.resolve({ startup: "Traces: up", spanProcessors: [processor] })
  );
  assert.deepEqual(processor.calls, ["start:a", "start:b", "end:b", "end:a"]);
  stand.onStart(d, ROOT_CONTEXT);
  stand.onEnd(d);
  assert.deepEqual(processor.calls.slice(4), ["start:d", "end:d"]);
  assert.deepEqual(pending.stats(), { ...emptyStats(), queued: 1, dropped: 1 });
});

Deno.test("PendingSink: a span started while installing and ended after reaches the sink whole", async () => {
  const pending = new PendingSink("traces", ["spanProcessors"], 10);
  const processor = new RecordingProcessor();
  const open = fakeSpan("open", true);
  pending.spanProcessor!.onStart(open, ROOT_CONTEXT);
  await pending.install(() =>
    Promise.resolve({ startup: "Traces: up", spanProcessors: [processor] })
  );
  pending.spanProcessor!.onEnd(open);
  assert.deepEqual(processor.calls, ["start:open", "end:open"]);
});

Deno.test("PendingSink replays log records and request samples with their own times", async () => {
  const pending = new PendingSink("logs", ["logRecords", "requestRecorder"], 10);
  const records: Array<[LogLevel, unknown, number, LogTraceContext | undefined]> = [];
  const recorded: string[] = [];
  const trace = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331" };
  pending.logRecords!.emit("info", { message: "early" }, { timeMs: 42, trace });
  pending.requestRecorder!.begin("GET", "http");
  pending.requestRecorder!.end(sample("/a"));
  const recorder: RequestRecorder = {
    begin: (method) => recorded.push(`begin:${method}`),
    end: (s) => recorded.push(`end:${s.route}`),
  };
  await pending.install(() =>
    Promise.resolve({
      startup: "Log records: up",
      logRecords: { emit: (level, event, d) => records.push([level, event, d.timeMs, d.trace]) },
      requestRecorder: recorder,
    })
  );
  assert.deepEqual(records, [["info", { message: "early" }, 42, trace]]);
  assert.deepEqual(recorded, ["begin:GET", "end:/a"]);
});

Deno.test("PendingSink pairs a begin its full buffer turned away with the next end, counted", async () => {
  // bound 1: the recorder holds 4 calls (its bound is four times the others').
  const pending = new PendingSink("metrics", ["requestRecorder"], 1);
  const recorder = pending.requestRecorder!;
  for (let i = 0; i < 5; i++) recorder.begin("GET", "http");
  let active = 0;
  const ends: string[] = [];
  await pending.install(() =>
    Promise.resolve({
      startup: "Metrics: up",
      requestRecorder: {
        begin: () => active++,
        end: (s) => {
          active--;
          ends.push(String(s.route));
        },
      },
    })
  );
  for (let i = 0; i < 5; i++) recorder.end(sample(`/r${i}`));
  assert.equal(active, 0, "the active-requests count is exact");
  assert.deepEqual(ends, ["/r1", "/r2", "/r3", "/r4"]);
  assert.deepEqual(pending.details(), { startup_samples_dropped: 1 });
});

Deno.test("PendingSink keeps holding after a failed install, and the next attempt delivers", async () => {
  const pending = new PendingSink("cloudwatch", ["logDestination"], 10);
  pending.logDestination!.push(line(0));
  await assert.rejects(
    pending.install(() => Promise.reject(new Error("Too many open files\nstack"))),
    /Too many open files/,
  );
  assert.equal(pending.state, "waiting");
  assert.equal(pending.startup(), "cloudwatch: not installed (Too many open files), retrying");
  pending.logDestination!.push(line(1));
  const received: number[] = [];
  await pending.install(() =>
    Promise.resolve({
      startup: "Logs: up",
      logDestination: { push: (l) => received.push(l.timestamp - 1_700_000_000_000) },
    })
  );
  assert.deepEqual(received, [0, 1]);
  assert.equal(pending.attempts, 2);
});

Deno.test("PendingSink abandoned by shutdown counts what it held and every later call as dropped", async () => {
  const pending = new PendingSink("rollbar", ["errorDestination", "spanProcessors"], 10);
  const context: ErrorContext = {};
  pending.errorDestination!.reportError(new Error("early"), context);
  const span = fakeSpan("s", true);
  pending.spanProcessor!.onStart(span, ROOT_CONTEXT);
  pending.abandon();
  assert.equal(pending.state, "lost");
  pending.errorDestination!.reportMessage("late", "warning" as MessageLevel);
  pending.spanProcessor!.onEnd(span);
  assert.deepEqual(pending.stats(), { ...emptyStats(), queued: 3, dropped: 3 });
  // An install that completes afterwards is shut down at once and given nothing.
  const sink = new CountingSink();
  const reports: string[] = [];
  await pending.install(() =>
    Promise.resolve(
      {
        startup: "Errors: up",
        sink,
        errorDestination: {
          reportError: () => reports.push("error"),
          reportMessage: () => reports.push("message"),
        },
      } satisfies SinkContribution,
    )
  );
  assert.deepEqual(reports, []);
  assert.equal(sink.shutdowns, 0, "not attempted: the sink was given up on");
});

Deno.test("PendingSink refuses a contribution with parts that cannot arrive late or were not declared", async () => {
  const hook = new PendingSink("xray", ["spanProcessors"]);
  await assert.rejects(
    hook.install(() => Promise.resolve({ startup: "X-Ray", requestHook: { begin: () => "" } })),
    /cannot contribute requestHook/,
  );
  const undeclared = new PendingSink("fake", ["logDestination"]);
  await assert.rejects(
    undeclared.install(() =>
      Promise.resolve({
        startup: "Fake",
        errorDestination: { reportError() {}, reportMessage() {} },
      })
    ),
    /filled errorDestination, which deferrable\(\) did not declare/,
  );
});

Deno.test("PendingSink: an install still loading when shutdown gives up is shut down once it arrives", async () => {
  const pending = new PendingSink("cloudwatch", ["logDestination"]);
  pending.logDestination!.push(line(0));
  const loading = Promise.withResolvers<SinkContribution>();
  const installed = pending.install(() => loading.promise);
  pending.abandon();
  const sink = new CountingSink();
  const received: LogLine[] = [];
  loading.resolve({ startup: "Logs: up", sink, logDestination: { push: (l) => received.push(l) } });
  await installed;
  assert.equal(sink.shutdowns, 1, "released at once");
  assert.deepEqual(received, [], "it never gets the lines counted lost");
  assert.deepEqual(pending.stats(), { ...emptyStats(), queued: 1, dropped: 1 });
});
