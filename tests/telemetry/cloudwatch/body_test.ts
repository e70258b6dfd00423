import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PutLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import {
  EventQueue,
  MAX_BATCH_BYTES,
  type QueuedEvent,
  utf8Length,
} from "../../../telemetry/cloudwatch/batch.ts";
import { createCloudWatchLogsClient } from "../../../telemetry/cloudwatch/client.ts";

const TARGET = { logGroupName: "cruddur", logStreamName: "backend-deno/host/2026/1" };

/** The body the AWS SDK itself writes for these events (its request never leaves the process). */
async function sdkBody(events: QueuedEvent[]): Promise<Uint8Array> {
  let body: Uint8Array | undefined;
  const client = createCloudWatchLogsClient({
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test" },
    endpoint: "http://127.0.0.1:9",
  });
  client.middlewareStack.add(
    () => (args) => {
      const request = args.request as { body: string | Uint8Array };
      body = typeof request.body === "string"
        ? new TextEncoder().encode(request.body)
        : request.body;
      throw new Error("captured");
    },
    { step: "finalizeRequest", priority: "low", name: "capture" },
  );
  await client.send(new PutLogEventsCommand({ ...TARGET, logEvents: events })).catch(() => {});
  client.destroy();
  assert(body !== undefined);
  return body;
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** The next batch of `queue` as a flush takes it: its events read back, and its body. */
function take(queue: EventQueue) {
  const sealed = queue.next(true);
  assert(sealed !== undefined);
  const events = JSON.parse(decode(sealed.body)).logEvents as QueuedEvent[];
  assertEquals(events.length, sealed.count);
  return { events, body: sealed.body };
}

/** Pushes `events`, writing them in turns of `turn` events (as the sink's turns do). */
function prepare(events: QueuedEvent[], turn = events.length) {
  const queue = new EventQueue(TARGET);
  events.forEach((event, i) => {
    queue.push(event);
    if ((i + 1) % turn === 0) queue.encode();
  });
  return { queue, batch: take(queue) };
}

Deno.test("EventQueue writes the bytes the AWS SDK's serialiser writes for logger lines", async () => {
  const events = [
    { timestamp: 1_800_000_000_000, message: JSON.stringify({ level: "info", message: "a" }) },
    {
      timestamp: 1_800_000_000_001,
      message: JSON.stringify({ message: 'quote " backslash \\ newline \n tab \t nul \0' }),
    },
    { timestamp: 1_800_000_000_002, message: "plain text, no JSON" },
  ];
  for (const turn of [1, 2, 3]) {
    const { batch } = prepare(events, turn);
    assertEquals(batch.events, events);
    assertEquals(decode(batch.body), decode(await sdkBody(events)), `turns of ${turn}`);
  }
});

Deno.test("EventQueue carries non-ASCII and control characters as the SDK does", async () => {
  const events = [
    { timestamp: 1, message: "é € 😀 \u2028 \u0001 \u007f" },
    { timestamp: 2, message: "ascii" },
    { timestamp: 3, message: "lone \uD800 and a literal \\ud800" },
    { timestamp: 4, message: "ascii again" },
  ];
  for (const turn of [1, 2, 4]) {
    const { batch } = prepare(events, turn);
    assertEquals(JSON.parse(decode(batch.body)), JSON.parse(decode(await sdkBody(events))));
    assertEquals(batch.events, events);
  }
});

Deno.test("EventQueue cuts a non-ASCII batch by its UTF-8 size, the rest for the next batch", () => {
  // 300,000 UTF-16 units each, 600,000 UTF-8 bytes: the queue's count says both fit, AWS's not.
  const wide = "é".repeat(300_000);
  const events = [{ timestamp: 1, message: wide }, { timestamp: 2, message: wide }];
  const { queue, batch } = prepare(events);
  assertEquals(batch.events.length, 1);
  assert(utf8Length(wide) + 26 <= MAX_BATCH_BYTES);
  assertEquals(JSON.parse(decode(batch.body)).logEvents, [events[0]]);
  assertEquals(queue.length, 1);
  const next = take(queue);
  assertEquals(next.events, [events[1]]);
  assertEquals(queue.length, 0);
});

Deno.test("EventQueue counts a lone surrogate as the 3-byte U+FFFD it becomes", () => {
  // All ASCII once JSON.stringify has escaped it, but 3 UTF-8 bytes to AWS: the exact path.
  const lone = "\uD800".repeat(175_000); // 525,000 bytes as AWS counts it, 175,000 as UTF-16
  const events = [{ timestamp: 1, message: lone }, { timestamp: 2, message: lone }];
  const { queue, batch } = prepare(events);
  assertEquals(batch.events.length, 1);
  assertEquals(queue.length, 1);
});

Deno.test("EventQueue reuses a recycled buffer: a body stays valid until it is recycled", () => {
  const queue = new EventQueue(TARGET);
  queue.push({ timestamp: 1, message: "first" });
  const first = queue.next(true)!;
  queue.push({ timestamp: 2, message: "second, longer than the first" });
  queue.encode(); // written into a new batch: the first body is untouched
  assertEquals(JSON.parse(decode(first.body)).logEvents[0].message, "first");
  const firstBuffer = first.body.buffer;
  queue.recycle(first);
  const second = queue.next(true)!;
  assertEquals(
    JSON.parse(decode(second.body)).logEvents[0].message,
    "second, longer than the first",
  );
  queue.recycle(second);
  queue.push({ timestamp: 3, message: "third" });
  const third = queue.next(true)!;
  assert(third.body.buffer === firstBuffer || third.body.buffer === second.body.buffer);
  assertEquals(JSON.parse(decode(third.body)).logEvents, [{ timestamp: 3, message: "third" }]);
});
