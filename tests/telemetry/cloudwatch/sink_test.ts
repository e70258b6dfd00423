import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  type CloudWatchSink,
  type CloudWatchSinkOptions,
  createCloudWatchLogsClient,
  createCloudWatchSink,
} from "../../../telemetry/cloudwatch/sink.ts";
import {
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_EVENT_BYTES,
  TRUNCATION_MARKER,
} from "../../../telemetry/cloudwatch/batch.ts";
import {
  type CloudWatchStandIn,
  startCloudWatchStandIn,
} from "../../support/cloudwatch_standin.ts";
import { startHostileEndpoint } from "../../support/hostile_http.ts";
import { until } from "../../support/faults.ts";
import { PendingSink } from "../../../telemetry/pending.ts";

const GROUP = "cruddur";
const STREAM = "backend-flask/test-host/2026-01-01T00-00-00Z/1";
const CREDENTIALS = { accessKeyId: "AKIDSTANDIN", secretAccessKey: "standin-secret" };

interface Harness {
  standin: CloudWatchStandIn;
  sink: CloudWatchSink;
  diagnostics: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

function harness(overrides: Partial<CloudWatchSinkOptions> = {}): Harness {
  const standin = startCloudWatchStandIn();
  const diagnostics: string[] = [];
  const sink = createCloudWatchSink({
    logGroup: GROUP,
    logStream: STREAM,
    region: "us-east-1",
    credentials: CREDENTIALS,
    endpoint: standin.endpoint,
    flushIntervalMs: 10,
    retry: { baseMs: 1, maxMs: 5 },
    requestTimeoutMs: 2000,
    diagnostic: (message) => diagnostics.push(message),
    ...overrides,
  });
  return {
    standin,
    sink,
    diagnostics,
    async [Symbol.asyncDispose]() {
      await sink.shutdown(Date.now() + 2000);
      await standin.close();
    },
  };
}

function assertLessOrEqual(actual: number, limit: number): void {
  assert(actual <= limit, `${actual} > ${limit}`);
}

function line(i: number, timestamp = Date.now()): { timestamp: number; message: string } {
  return { timestamp, message: JSON.stringify({ level: "info", msg: "event", i }) };
}

function byNumber(a: number, b: number): number {
  return a - b;
}

function assertAccounting(sink: CloudWatchSink): void {
  const s = sink.stats();
  assertEquals(s.queued, s.sent + s.dropped + s.rejected + s.failed + sink.pending());
}

/** Every PutLogEvents the stand-in saw passed its limit checks (it answers 400 otherwise). */
function assertEveryBatchValid(standin: CloudWatchStandIn): void {
  for (const call of standin.callsOf("PutLogEvents")) {
    assert(call.errorType !== "InvalidParameterException", JSON.stringify(call));
    assertLessOrEqual(call.eventCount ?? 0, MAX_BATCH_EVENTS);
    assertLessOrEqual(call.batchBytes ?? 0, MAX_BATCH_BYTES);
  }
}

function indexes(standin: CloudWatchStandIn): number[] {
  return standin.events(GROUP, STREAM).map((e) => JSON.parse(e.message).i);
}

Deno.test("createCloudWatchSink() creates the group and stream, then delivers each line once, in order", async () => {
  await using h = harness();
  for (let i = 0; i < 50; i++) h.sink.push(line(i));
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(h.standin.groups(), [GROUP]);
  assertEquals(h.standin.streams(GROUP), [STREAM]);
  assertEquals(indexes(h.standin), [...Array(50).keys()]);
  assertEquals(h.sink.stats(), {
    queued: 50,
    sent: 50,
    retried: 0,
    dropped: 0,
    rejected: 0,
    failed: 0,
  });
  const operations = h.standin.calls.map((c) => c.operation);
  assertEquals(operations.slice(0, 3), ["DescribeLogGroups", "CreateLogGroup", "CreateLogStream"]);
  assert(h.standin.calls.every((c) => c.signed && c.host?.startsWith("127.0.0.1:")));
  assertEveryBatchValid(h.standin);
  assertAccounting(h.sink);
  assertEquals(h.diagnostics, []);
});

Deno.test("createCloudWatchSink() sends nothing and opens no timer before the first line", async () => {
  await using h = harness();
  await new Promise((resolve) => setTimeout(resolve, 30));
  assertEquals(h.standin.calls, []);
  assertEquals(h.sink.pending(), 0);
});

Deno.test("createCloudWatchLogsClient() resolves only to the given 127.0.0.1 endpoint", async () => {
  await using standin = {
    close: startCloudWatchStandIn(),
    [Symbol.asyncDispose]() {
      return this.close.close();
    },
  };
  const client = createCloudWatchLogsClient({
    region: "us-east-1",
    credentials: CREDENTIALS,
    endpoint: standin.close.endpoint,
  });
  try {
    const endpoint = await client.config.endpoint?.();
    assertEquals(endpoint?.hostname, "127.0.0.1");
    assertEquals(await client.config.maxAttempts(), 1);
    const credentials = await client.config.credentials();
    assertEquals(credentials.accessKeyId, CREDENTIALS.accessKeyId);
  } finally {
    client.destroy();
  }
});

Deno.test("createCloudWatchSink() recreates a stream the service forgot, losing nothing", async () => {
  await using h = harness();
  for (let i = 0; i < 5; i++) h.sink.push(line(i));
  await h.sink.forceFlush(Date.now() + 5000);
  h.standin.deleteStream(GROUP, STREAM);
  for (let i = 5; i < 10; i++) h.sink.push(line(i));
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(indexes(h.standin), [...Array(10).keys()]);
  assertEquals(h.standin.callsOf("CreateLogStream").length, 2);
  assertEquals(
    h.standin.callsOf("PutLogEvents").map((c) => c.errorType),
    [undefined, "ResourceNotFoundException", undefined],
  );
  const s = h.sink.stats();
  assertEquals([s.sent, s.retried, s.failed, s.dropped], [10, 1, 0, 0]);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() with createLogGroup false counts a missing stream as failed", async () => {
  await using h = harness({ createLogGroup: false });
  h.sink.push(line(0));
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(h.standin.groups(), []);
  assertEquals(h.standin.calls.map((c) => c.operation), ["PutLogEvents"]);
  assertEquals(h.sink.stats().failed, 1);
  assertEquals(h.diagnostics.length, 1);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() backs off through throttling and loses nothing", async () => {
  const delays: number[] = [];
  await using h = harness({ random: () => 1, retry: { baseMs: 4, maxMs: 10, maxAttempts: 5 } });
  h.standin.throttleNext(3);
  for (let i = 0; i < 20; i++) h.sink.push(line(i));
  const started = performance.now();
  await h.sink.forceFlush(Date.now() + 5000);
  delays.push(performance.now() - started);
  assertEquals(indexes(h.standin), [...Array(20).keys()]);
  const puts = h.standin.callsOf("PutLogEvents").map((c) => c.errorType ?? "ok");
  assertEquals(puts, ["ThrottlingException", "ThrottlingException", "ThrottlingException", "ok"]);
  assertEquals(h.sink.stats().retried, 3);
  assertEquals(h.sink.stats().sent, 20);
  // random() = 1 makes the sleeps exactly 4 + 8 + 10 ms: backoff really sleeps
  assert(delays[0]! >= 20, `took ${delays[0]} ms`);
  // one diagnostic per kind of failure, not one per retry
  assertEquals(h.diagnostics.filter((d) => d.includes("ThrottlingException")).length, 1);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() retries 503 ServiceUnavailable and 500, then delivers", async () => {
  await using h = harness();
  h.standin.failNext(2, 503);
  h.standin.failNext(1, 500);
  for (let i = 0; i < 3; i++) h.sink.push(line(i));
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(indexes(h.standin), [0, 1, 2]);
  assertEquals(h.sink.stats().retried, 3);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() drops a batch after maxAttempts and does not spin in an outage", async () => {
  await using h = harness({ retry: { baseMs: 1, maxMs: 2, maxAttempts: 3, budget: 4 } });
  h.standin.failNext(1000, 503);
  for (let i = 0; i < 5; i++) h.sink.push(line(i));
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(h.sink.stats().dropped, 5);
  assertEquals(h.standin.callsOf("PutLogEvents").length, 3);
  for (let i = 5; i < 10; i++) h.sink.push(line(i));
  await h.sink.forceFlush(Date.now() + 5000);
  // the budget (4) allowed only 2 more retries, so this batch got 3 attempts, not more
  const s = h.sink.stats();
  assertEquals([s.dropped, s.retried, s.sent], [10, 4, 0]);
  assertEquals(h.standin.callsOf("PutLogEvents").length, 6);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() counts an InvalidParameterException batch as failed, then carries on", async () => {
  await using h = harness();
  h.standin.invalidNext(1);
  for (let i = 0; i < 4; i++) h.sink.push(line(i));
  await h.sink.forceFlush(Date.now() + 5000);
  for (let i = 4; i < 6; i++) h.sink.push(line(i));
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(indexes(h.standin), [4, 5]);
  const s = h.sink.stats();
  assertEquals([s.failed, s.sent, s.retried], [4, 2, 0]);
  assert(h.diagnostics.some((d) => d.includes("InvalidParameterException")));
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() counts too-old and too-new events as rejected and the rest as sent", async () => {
  await using h = harness();
  const now = Date.now();
  h.sink.push(line(0, now - 15 * 24 * 3600_000)); // older than 14 days
  h.sink.push(line(1, now));
  h.sink.push(line(2, now + 1));
  h.sink.push(line(3, now + 3 * 3600_000)); // more than 2 h ahead
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(indexes(h.standin), [1, 2]);
  const s = h.sink.stats();
  assertEquals([s.sent, s.rejected, s.failed], [2, 2, 0]);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() with a full queue drops the newest lines by default and counts them", async () => {
  await using h = harness({ maxQueueEvents: 10, flushIntervalMs: 60_000 });
  for (let i = 0; i < 15; i++) h.sink.push(line(i));
  assertEquals(h.sink.stats().dropped, 5);
  assertEquals(h.sink.pending(), 10);
  assertAccounting(h.sink);
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(indexes(h.standin), [...Array(10).keys()]);
  assertEquals(h.diagnostics.filter((d) => d.includes("queue full")).length, 1);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() with dropPolicy oldest keeps the latest lines", async () => {
  await using h = harness({ maxQueueEvents: 10, flushIntervalMs: 60_000, dropPolicy: "oldest" });
  for (let i = 0; i < 15; i++) h.sink.push(line(i));
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(indexes(h.standin), [...Array(10).keys()].map((i) => i + 5));
  assertEquals(h.sink.stats().dropped, 5);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() bounds the queue by bytes too", async () => {
  await using h = harness({ maxQueueBytes: 1000, flushIntervalMs: 60_000 });
  for (let i = 0; i < 10; i++) h.sink.push({ timestamp: Date.now(), message: "x".repeat(274) });
  // 300 bytes each counting the 26-byte overhead: three fit in 1000
  assertEquals(h.sink.pending(), 3);
  assertEquals(h.sink.stats().dropped, 7);
  assertAccounting(h.sink);
});

Deno.test("intakeRoom() answers for the next line's size, so a late install hands 100 KiB lines over without a drop", async () => {
  await using h = harness({ maxQueueBytes: MAX_BATCH_BYTES, flushIntervalMs: 20 });
  const big = (i: number) => ({ timestamp: Date.now(), message: `${i}:`.padEnd(100 * 1024, "x") });
  assertEquals(h.sink.intakeRoom(big(0)), 1, "an empty queue takes any line");
  // A backlog of 3 MB held while the sink installs, handed over into half the 1 MiB queue.
  const pending = new PendingSink("cloudwatch", ["logDestination"], 100);
  for (let i = 0; i < 30; i++) pending.logDestination!.push(big(i));
  await pending.install(() =>
    Promise.resolve({ startup: "CloudWatch: up", sink: h.sink, logDestination: h.sink })
  );
  assertEquals(h.sink.pending(), 5, "the first turn: what half the queue holds");
  assertEquals(h.sink.intakeRoom(big(5)), 0, "the sixth would take more");
  assertEquals(h.sink.intakeRoom({ timestamp: Date.now(), message: "{}" }), 1, "a small one would");
  await until(() => pending.backlog === 0, 10_000, "the backlog handed over as batches left");
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(h.sink.stats().dropped, 0);
  // Batches go out in parallel, so the stand-in may see them in any order; each line once.
  const delivered = h.standin.events(GROUP, STREAM).map((e) => parseInt(e.message));
  assertEquals(delivered.sort(byNumber), [...Array(30).keys()]);
  assertAccounting(h.sink);
  assertEveryBatchValid(h.standin);
});

Deno.test("createCloudWatchSink() skips empty messages and counts them as dropped", async () => {
  await using h = harness();
  h.sink.push({ timestamp: Date.now(), message: "" });
  h.sink.push(line(1));
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(indexes(h.standin), [1]);
  assertEquals(h.sink.stats().dropped, 1);
  assertAccounting(h.sink);
});

Deno.test("shutdown() flushes everything within the deadline, is harmless twice, and refuses later lines", async () => {
  await using h = harness({ flushIntervalMs: 60_000 });
  for (let i = 0; i < 100; i++) h.sink.push(line(i));
  const deadline = Date.now() + 3000;
  await h.sink.shutdown(deadline);
  assert(Date.now() <= deadline);
  assertEquals(indexes(h.standin).length, 100);
  await h.sink.shutdown(Date.now() + 1000);
  h.sink.push(line(100));
  const s = h.sink.stats();
  assertEquals([s.queued, s.sent, s.dropped], [101, 100, 1]);
  assertEquals(h.sink.pending(), 0);
  assertAccounting(h.sink);
});

Deno.test("shutdown() with a hanging service returns by the deadline and counts the loss", async () => {
  await using h = harness({ flushIntervalMs: 60_000, requestTimeoutMs: 10_000 });
  h.standin.hang(true);
  for (let i = 0; i < 30; i++) h.sink.push(line(i));
  const started = Date.now();
  const deadline = started + 300;
  await h.sink.shutdown(deadline);
  const finished = Date.now();
  // The hung call would last 10 s: a second of slack tells the two apart on a loaded machine.
  assertLessOrEqual(finished, deadline + 1000);
  assert(finished >= deadline - 5, `returned early at ${finished - started} ms`);
  const s = h.sink.stats();
  assertEquals([s.sent, s.dropped], [0, 30]);
  assertEquals(h.sink.pending(), 0);
  assert(h.diagnostics.some((d) => d.includes("30 lines abandoned")));
  assertAccounting(h.sink);
  h.standin.hang(false);
  await new Promise((resolve) => setTimeout(resolve, 20)); // let the aborted call settle
});

Deno.test("createCloudWatchSink() times out a hung call and retries it", async () => {
  await using h = harness({ requestTimeoutMs: 100 });
  h.sink.push(line(0));
  await h.sink.forceFlush(Date.now() + 5000); // sets the group and stream up
  h.standin.hang(true);
  h.sink.push(line(1));
  setTimeout(() => h.standin.hang(false), 150);
  await h.sink.forceFlush(Date.now() + 5000);
  assert(indexes(h.standin).includes(1));
  assert(h.sink.stats().retried >= 1);
  assert(h.diagnostics.some((d) => d.includes("TimeoutError")));
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() truncates an oversized event on a UTF-8 boundary with a marker", async () => {
  await using h = harness();
  const big = "é".repeat(600_000); // 1.2 MB in UTF-8, 2 bytes per character
  h.sink.push({ timestamp: Date.now(), message: big });
  await h.sink.forceFlush(Date.now() + 5000);
  const [stored] = h.standin.events(GROUP, STREAM);
  assert(stored !== undefined);
  assert(stored.message.endsWith(TRUNCATION_MARKER));
  const bytes = new TextEncoder().encode(stored.message).length;
  assertLessOrEqual(bytes, MAX_EVENT_BYTES);
  assert(bytes > MAX_EVENT_BYTES - 16);
  assert(!stored.message.includes("\uFFFD"));
  assertEquals(h.sink.stats().sent, 1);
  assertEquals(h.sink.stats().truncated, 1, "the shortened event is reported as truncated");
  assert(h.diagnostics.some((d) => d.includes("shortened")));
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() counts only events it shortens as truncated", async () => {
  await using h = harness();
  // Long enough to be measured (over a third of the limit) but within it: sent whole.
  h.sink.push({ timestamp: Date.now(), message: "x".repeat(MAX_EVENT_BYTES) });
  h.sink.push(line(1));
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(h.standin.events(GROUP, STREAM).length, 2);
  assertEquals(h.sink.stats().truncated, undefined, "absent until an event is shortened");
  h.sink.push({ timestamp: Date.now(), message: "x".repeat(MAX_EVENT_BYTES + 1) });
  h.sink.push({ timestamp: Date.now(), message: "y".repeat(MAX_EVENT_BYTES + 5) });
  await h.sink.forceFlush(Date.now() + 5000);
  const stored = h.standin.events(GROUP, STREAM);
  assertEquals(stored.length, 4);
  assert(stored.slice(2).every((e) => e.message.endsWith(TRUNCATION_MARKER)));
  assertEquals(h.sink.stats().truncated, 2);
  assertEquals(h.sink.stats().sent, 4);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() splits 25,000 small events into at least 3 valid batches", async () => {
  await using h = harness({ maxQueueEvents: 30_000 });
  const now = Date.now();
  for (let i = 0; i < 25_000; i++) h.sink.push(line(i, now));
  await h.sink.forceFlush(Date.now() + 10_000);
  const puts = h.standin.callsOf("PutLogEvents");
  assert(puts.length >= 3);
  // Batches go out in parallel: which arrives first is the network's choice.
  assertEquals(puts.map((c) => c.eventCount ?? 0).sort(byNumber), [5_000, 10_000, 10_000]);
  assertEquals(indexes(h.standin).sort(byNumber), [...Array(25_000).keys()]);
  assertEveryBatchValid(h.standin);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() splits by bytes before the 1,048,576-byte limit", async () => {
  // 2.5 MB pushed at once: a queue that holds it all, so only the batch cut is under test.
  await using h = harness({ flushIntervalMs: 60_000, maxQueueBytes: 8 * 1024 * 1024 });
  const filler = "x".repeat(10_000);
  for (let i = 0; i < 250; i++) {
    h.sink.push({ timestamp: Date.now(), message: JSON.stringify({ i, filler }) });
  }
  await h.sink.forceFlush(Date.now() + 10_000);
  const puts = h.standin.callsOf("PutLogEvents");
  assert(puts.length >= 3, `${puts.length} calls`);
  assertEquals(indexes(h.standin).sort(byNumber), [...Array(250).keys()]);
  assertEveryBatchValid(h.standin);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() splits a spread over 24 h into separate batches", async () => {
  await using h = harness({ flushIntervalMs: 60_000 });
  const now = Date.now();
  h.sink.push(line(0, now - 25 * 3600_000));
  h.sink.push(line(1, now - 24 * 3600_000 - 1));
  h.sink.push(line(2, now));
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(indexes(h.standin).sort(byNumber), [0, 1, 2]);
  assertEquals(h.standin.callsOf("PutLogEvents").map((c) => c.eventCount ?? 0).sort(byNumber), [
    1,
    2,
  ]);
  assertEveryBatchValid(h.standin);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() sorts out-of-order lines within a batch", async () => {
  await using h = harness({ flushIntervalMs: 60_000 });
  const now = Date.now();
  h.sink.push(line(2, now + 2));
  h.sink.push(line(0, now));
  h.sink.push(line(1, now + 1));
  h.sink.push(line(3, now + 1)); // same timestamp as 1: stable, keeps push order
  await h.sink.forceFlush(Date.now() + 5000);
  assertEquals(indexes(h.standin), [0, 1, 3, 2]);
  assertEveryBatchValid(h.standin);
});

Deno.test("createCloudWatchSink() flushes on its interval without forceFlush", async () => {
  await using h = harness({ flushIntervalMs: 20 });
  h.sink.push(line(0));
  h.sink.push(line(1));
  for (let i = 0; i < 1000 && indexes(h.standin).length < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assertEquals(indexes(h.standin), [0, 1]);
  assertEquals(h.standin.callsOf("PutLogEvents").length, 1);
});

Deno.test("createCloudWatchSink() push never throws, even when the diagnostic does", async () => {
  await using h = harness({
    maxQueueEvents: 1,
    flushIntervalMs: 60_000,
    diagnostic: () => {
      throw new Error("console gone");
    },
  });
  h.sink.push(line(0));
  h.sink.push(line(1));
  h.sink.push({ timestamp: Number.NaN, message: "x" });
  assertEquals(h.sink.stats().dropped, 2);
  assertAccounting(h.sink);
});

Deno.test("createCloudWatchSink() reads no ~/.aws file and connects nowhere but 127.0.0.1", async () => {
  const home = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${home}/.aws`);
    await Deno.writeTextFile(
      `${home}/.aws/config`,
      "[default]\nregion = eu-west-1\ndefaults_mode = auto\nendpoint_url = https://example.com\n",
    );
    const script = `${home}/probe.ts`;
    const sinkUrl = import.meta.resolve("../../../telemetry/cloudwatch/sink.ts");
    const standinUrl = import.meta.resolve("../../support/cloudwatch_standin.ts");
    await Deno.writeTextFile(
      script,
      `import { createCloudWatchSink } from "${sinkUrl}";
import { startCloudWatchStandIn } from "${standinUrl}";
const standin = startCloudWatchStandIn();
const sink = createCloudWatchSink({ logGroup: "cruddur", logStream: "probe", region: "us-east-1",
  credentials: { accessKeyId: "AKID", secretAccessKey: "s" }, endpoint: standin.endpoint, diagnostic: () => {} });
sink.push({ timestamp: Date.now(), message: "hello" });
await sink.shutdown(Date.now() + 5000);
await standin.close();
console.log(JSON.stringify({ stats: sink.stats(), stored: standin.events("cruddur", "probe").length }));
`,
    );
    const audit = `${home}/audit.jsonl`;
    const config = new URL("../../../deno.json", import.meta.url).pathname;
    const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
    const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", "--cached-only", "--config", config, script],
      // the real cache keeps npm offline; HOME points the SDK at our decoy ~/.aws
      env: { HOME: home, DENO_AUDIT_PERMISSIONS: audit, DENO_DIR: denoDir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
    assertEquals(JSON.parse(stdout), {
      stats: { queued: 1, sent: 1, retried: 0, dropped: 0, rejected: 0, failed: 0 },
      stored: 1,
    });
    const checks = (await Deno.readTextFile(audit)).trim().split("\n").map((l) => JSON.parse(l));
    const touched = checks.filter((c) =>
      (c.permission === "read" || c.permission === "write") && String(c.value).includes(".aws")
    );
    assertEquals(touched, []);
    // A net check names "host:port", or the URL when fetch asks.
    const hosts = checks.filter((c) => c.permission === "net").map((c) => {
      const value = String(c.value);
      return /^https?:/.test(value) ? new URL(value).host : value;
    });
    assert(hosts.length > 0);
    assertEquals(hosts.filter((v) => !v.startsWith("127.0.0.1:")), []);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("startCloudWatchStandIn() fails every PutLogEvents the real API would refuse", async () => {
  const standin = startCloudWatchStandIn();
  const client = createCloudWatchLogsClient({
    region: "us-east-1",
    credentials: CREDENTIALS,
    endpoint: standin.endpoint,
  });
  async function put(logEvents: { timestamp: number; message: string }[], stream = STREAM) {
    try {
      await client.send(
        new PutLogEventsCommand({ logGroupName: GROUP, logStreamName: stream, logEvents }),
      );
      return "ok";
    } catch (error) {
      return (error as Error).name;
    }
  }
  try {
    const now = Date.now();
    assertEquals(await put([{ timestamp: now, message: "x" }]), "ResourceNotFoundException");
    await client.send(new CreateLogGroupCommand({ logGroupName: GROUP }));
    assertEquals(await put([{ timestamp: now, message: "x" }]), "ResourceNotFoundException");
    await client.send(new CreateLogStreamCommand({ logGroupName: GROUP, logStreamName: STREAM }));
    const invalid = "InvalidParameterException";
    const one = (timestamp: number, message = "x") => ({ timestamp, message });
    assertEquals(await put([one(now + 1), one(now)]), invalid); // out of order
    assertEquals(await put(Array.from({ length: 10_001 }, () => one(now))), invalid);
    assertEquals(await put([one(now, "x".repeat(MAX_EVENT_BYTES + 1))]), invalid);
    const half = "x".repeat(MAX_BATCH_BYTES / 2 - 26);
    assertEquals(await put([one(now, half), one(now, half + "y")]), invalid); // 1 byte over
    assertEquals(await put([one(now - 24 * 3600_000 - 1), one(now)]), invalid); // span > 24 h
    assertEquals(await put([one(now, "")]), invalid);
    assertEquals(await put([]), invalid);
    assertEquals(standin.events(GROUP, STREAM), []);
    // exactly at the limits is accepted
    assertEquals(await put([one(now, half), one(now, half)]), "ok");
    assertEquals(await put(Array.from({ length: 10_000 }, () => one(now))), "ok");
    assertEquals(await put([one(now, "x".repeat(MAX_EVENT_BYTES))]), "ok");
    assertEquals(await put([one(now - 24 * 3600_000), one(now)]), "ok");
    assertEquals(standin.events(GROUP, STREAM).length, 10_005);
    // an unsigned request is refused before anything else
    const unsigned = await fetch(standin.endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "Logs_20140328.DescribeLogGroups",
      },
      body: "{}",
    });
    assertEquals(unsigned.status, 400);
    assertEquals((await unsigned.json()).__type, "MissingAuthenticationTokenException");
  } finally {
    client.destroy();
    await standin.close();
  }
});

Deno.test("createCloudWatchSink() reads at most 256 KiB of a 200 answer that never ends", async () => {
  const endpoint = startHostileEndpoint("flood", "application/x-amz-json-1.1");
  const diagnostics: string[] = [];
  const sink = createCloudWatchSink({
    logGroup: GROUP,
    logStream: STREAM,
    region: "us-east-1",
    credentials: CREDENTIALS,
    endpoint: endpoint.url,
    createLogGroup: false,
    flushIntervalMs: 60_000,
    retry: { baseMs: 1, maxMs: 5, maxAttempts: 5 },
    requestTimeoutMs: 5000,
    diagnostic: (message) => diagnostics.push(message),
  });
  try {
    const rssBefore = Deno.memoryUsage().rss;
    for (let i = 0; i < 3; i++) sink.push(line(i));
    await sink.forceFlush(Date.now() + 10_000);
    const s = sink.stats();
    // Each answer is cut at the cap: the batch is retried as a network error, then dropped.
    assertEquals([s.sent, s.dropped, s.retried], [0, 3, 4]);
    assertEquals(endpoint.requests, 5);
    await until(() => endpoint.cancelled === 5, 20_000);
    // What the endpoint wrote includes socket buffers; a reader that kept going would take GBs.
    assert(endpoint.bytesServed < 100 * 1024 * 1024, `${endpoint.bytesServed} bytes served`);
    const grown = Deno.memoryUsage().rss - rssBefore;
    assert(grown < 100 * 1024 * 1024, `RSS grew ${grown} bytes`);
    assert(diagnostics.some((d) => d.includes("ResponseTooLargeError")), diagnostics.join("\n"));
    assertAccounting(sink);
  } finally {
    await sink.shutdown(Date.now() + 2000);
    await endpoint.close();
  }
});

Deno.test("createCloudWatchSink() cuts a 200 answer that trickles forever at the call's timeout", async () => {
  const endpoint = startHostileEndpoint("trickle", "application/x-amz-json-1.1");
  const sink = createCloudWatchSink({
    logGroup: GROUP,
    logStream: STREAM,
    region: "us-east-1",
    credentials: CREDENTIALS,
    endpoint: endpoint.url,
    createLogGroup: false,
    flushIntervalMs: 60_000,
    retry: { baseMs: 1, maxMs: 5, maxAttempts: 2 },
    requestTimeoutMs: 150,
    diagnostic: () => {},
  });
  try {
    sink.push(line(0));
    await sink.forceFlush(Date.now() + 10_000);
    const s = sink.stats();
    assertEquals([s.sent, s.dropped, s.retried], [0, 1, 1]);
    await until(() => endpoint.cancelled === 2, 20_000);
    assertAccounting(sink);
  } finally {
    await sink.shutdown(Date.now() + 2000);
    await endpoint.close();
  }
});

for (const puts of [1, 2]) {
  Deno.test(`createCloudWatchSink() has at most ${puts} PutLogEvents out at once while the service is slow`, async () => {
    await using h = harness({
      flushIntervalMs: 60_000,
      maxQueueBytes: 8 * 1024 * 1024,
      maxConcurrentPuts: puts,
    });
    // The group and stream first, so the slow calls below are all PutLogEvents.
    h.sink.push(line(0));
    await h.sink.forceFlush(Date.now() + 5000);
    const calls = () => h.standin.callsOf("PutLogEvents").length;
    assertEquals(calls(), 1);
    h.standin.hang(true);
    // Five of these fill a 1 MiB batch: fifteen are three full batches, sent without a flush.
    const filler = "x".repeat(200_000);
    for (let i = 1; i <= 15; i++) {
      h.sink.push({ timestamp: Date.now(), message: JSON.stringify({ i, filler }) });
    }
    await until(() => calls() === 1 + puts, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assertEquals(calls(), 1 + puts, "the next batch waits for a call to answer");
    assertEquals(h.sink.pending(), 15);
    h.standin.hang(false);
    await h.sink.forceFlush(Date.now() + 5000);
    assertEquals(calls(), 1 + 3);
    assertEquals(indexes(h.standin).sort(byNumber), [...Array(16).keys()]);
    assertEquals(h.sink.stats().sent, 16);
    assertEveryBatchValid(h.standin);
    assertAccounting(h.sink);
  });
}
