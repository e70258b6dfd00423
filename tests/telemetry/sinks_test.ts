/**
 * SinkSet: sinks that cannot wait are installed before serving; deferrable ones behind
 * stand-ins, installed in rounds that a failure does not end, flushed and shut down within
 * the deadline whether or not they are up yet. Fake plugins, so every timing is the test's.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../config.ts";
import { SinkSet } from "../../telemetry/sinks.ts";
import {
  emptyStats,
  type LogLine,
  type Sink,
  type SinkContribution,
  type SinkPlugin,
  type SinkStats,
} from "../../telemetry/types.ts";

/** A log sink that delivers on flush, counted like the real ones. */
class FakeLogSink implements Sink {
  readonly name: string;
  readonly counts: SinkStats = emptyStats();
  readonly held: LogLine[] = [];
  readonly delivered: LogLine[] = [];
  /** The deadline its shutdown was given, once called. */
  shutdownDeadline: number | undefined;
  constructor(name: string) {
    this.name = name;
  }
  push(line: LogLine): void {
    this.counts.queued++;
    this.held.push(line);
  }
  forceFlush(): Promise<void> {
    this.counts.sent += this.held.length;
    this.delivered.push(...this.held.splice(0));
    return Promise.resolve();
  }
  async shutdown(deadlineMs: number): Promise<void> {
    this.shutdownDeadline = deadlineMs;
    await this.forceFlush();
  }
  stats(): SinkStats {
    return { ...this.counts };
  }
}

/** A deferrable plugin whose install waits for `gate` and fails `failures` times first. */
function latePlugin(sink: FakeLogSink, gate: Promise<void>, failures = 0): SinkPlugin {
  let attempts = 0;
  return {
    name: sink.name,
    deferrable: () => ["logDestination"],
    async install(): Promise<SinkContribution> {
      await gate;
      if (attempts++ < failures) throw new Error(`attempt ${attempts} failed\nsecond line`);
      return { startup: `${sink.name}: up`, sink, logDestination: sink };
    },
  };
}

/** A plugin installed before serving. */
function eagerPlugin(sink: FakeLogSink): SinkPlugin {
  return {
    name: sink.name,
    install: () => Promise.resolve({ startup: `${sink.name}: eager`, sink, logDestination: sink }),
  };
}

function start(plugins: SinkPlugin[]): Promise<SinkSet> {
  return SinkSet.start(
    { config: loadConfig({}), diagnostic: () => {}, resource: {}, stats: () => ({}) },
    {},
    plugins,
  );
}

function push(sinks: SinkSet, n: number): void {
  const destination = sinks.logDestination()!;
  for (let i = 0; i < n; i++) destination.push({ timestamp: i, message: `{"n":${i}}` });
}

Deno.test("SinkSet installs the eager sinks at start and the deferrable ones in installDeferred()", async () => {
  const eager = new FakeLogSink("eager");
  const late = new FakeLogSink("late");
  const gate = Promise.withResolvers<void>();
  const sinks = await start([eagerPlugin(eager), latePlugin(late, gate.promise)]);
  assert.deepEqual(sinks.startupLines(), ["eager: eager", "late: installing"]);
  push(sinks, 3);
  assert.equal(eager.counts.queued, 3, "the eager sink has its lines at once");
  assert.deepEqual(sinks.stats().late, { ...emptyStats(), queued: 3 }, "held, counted queued");
  const round = sinks.installDeferred();
  gate.resolve();
  assert.deepEqual(await round, []);
  assert.deepEqual(sinks.startupLines(), ["eager: eager", "late: up"]);
  push(sinks, 1);
  await sinks.forceFlush(Date.now() + 1000);
  assert.equal(late.delivered.length, 4, "held lines first, then the new one");
  assert.deepEqual(late.delivered.map((l) => l.timestamp), [0, 1, 2, 0]);
  assert.deepEqual(sinks.stats().late, { ...emptyStats(), queued: 4, sent: 4 }, "counted once");
  await sinks.shutdown(Date.now() + 1000);
});

Deno.test("SinkSet: a failed late install is reported, keeps its lines and succeeds on a later round", async () => {
  const late = new FakeLogSink("late");
  const sinks = await start([latePlugin(late, Promise.resolve(), 2)]);
  push(sinks, 2);
  const first = await sinks.installDeferred();
  assert.equal(first.length, 1);
  assert.equal(first[0]!.sink, "late");
  assert.match(String(first[0]!.error), /attempt 1 failed/);
  assert.equal(sinks.startupLine("late"), "late: not installed (attempt 1 failed), retrying");
  assert.equal((await sinks.installDeferred()).length, 1, "the second attempt fails too");
  assert.deepEqual(await sinks.installDeferred(), [], "the third succeeds");
  await sinks.forceFlush(Date.now() + 1000);
  assert.equal(late.delivered.length, 2, "nothing lost across the failed attempts");
  assert.deepEqual(await sinks.installDeferred(), [], "an installed sink is not installed again");
  await sinks.shutdown(Date.now() + 1000);
});

Deno.test("SinkSet.forceFlush() before any install round installs the late sinks and delivers", async () => {
  const late = new FakeLogSink("late");
  const sinks = await start([latePlugin(late, Promise.resolve())]);
  push(sinks, 5);
  await sinks.forceFlush(Date.now() + 1000);
  assert.equal(late.delivered.length, 5);
  await sinks.shutdown(Date.now() + 1000);
  assert.ok(late.shutdownDeadline !== undefined, "and shuts it down");
});

Deno.test("SinkSet.shutdown() waits for a late sink until the deadline, then counts what it held as dropped", async () => {
  const eager = new FakeLogSink("eager");
  const late = new FakeLogSink("late");
  const never = Promise.withResolvers<void>();
  const sinks = await start([eagerPlugin(eager), latePlugin(late, never.promise)]);
  push(sinks, 3);
  const round = sinks.installDeferred();
  // The install never finishes by itself: shutdown returning at all is its deadline kept.
  await sinks.shutdown(Date.now() + 50);
  assert.equal(eager.delivered.length, 3, "the eager sink delivered");
  assert.deepEqual(sinks.stats().late, { ...emptyStats(), queued: 3, dropped: 3 });
  assert.equal(sinks.startupLine("late"), "late: installing");
  // The install finishing afterwards gets nothing and is shut down at once.
  never.resolve();
  assert.deepEqual(await round, []);
  assert.equal(late.counts.queued, 0);
  assert.ok(late.shutdownDeadline! <= Date.now(), "shut down at once, its deadline past");
  assert.deepEqual(sinks.stats().late, { ...emptyStats(), queued: 3, dropped: 3 });
});

Deno.test("SinkSet: log lines after shutdown began reach no sink, held or installed", async () => {
  const late = new FakeLogSink("late");
  const sinks = await start([latePlugin(late, Promise.resolve())]);
  push(sinks, 1);
  await sinks.shutdown(Date.now() + 1000);
  push(sinks, 1);
  assert.equal(late.delivered.length, 1);
  assert.deepEqual(sinks.stats().late, { ...emptyStats(), queued: 1, sent: 1 });
});
