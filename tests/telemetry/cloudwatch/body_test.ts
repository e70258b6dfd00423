import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PutLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import {
  BatchWriter,
  createEventQueue,
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

function prepare(events: QueuedEvent[]) {
  const queue = createEventQueue();
  for (const event of events) queue.push(event);
  return { queue, batch: new BatchWriter(TARGET).prepare(queue) };
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("BatchWriter writes the bytes the AWS SDK's serialiser writes for logger lines", async () => {
  const events = [
    { timestamp: 1_800_000_000_000, message: JSON.stringify({ level: "info", message: "a" }) },
    {
      timestamp: 1_800_000_000_001,
      message: JSON.stringify({ message: 'quote " backslash \\ newline \n tab \t nul \0' }),
    },
    { timestamp: 1_800_000_000_002, message: "plain text, no JSON" },
  ];
  const { batch } = prepare(events);
  assertEquals(batch.events, events);
  assertEquals(decode(batch.body), decode(await sdkBody(events)));
});

Deno.test("BatchWriter carries non-ASCII and control characters as the SDK does", async () => {
  const events = [
    { timestamp: 1, message: "é € 😀 \u2028 \u0001 \u007f" },
    { timestamp: 2, message: "ascii" },
  ];
  const { batch } = prepare(events);
  assertEquals(JSON.parse(decode(batch.body)), JSON.parse(decode(await sdkBody(events))));
  assertEquals(JSON.parse(decode(batch.body)).logEvents, events);
});

Deno.test("BatchWriter cuts a non-ASCII batch by its UTF-8 size, the rest back to the queue", () => {
  // 300,000 UTF-16 units each, 600,000 UTF-8 bytes: the queue's count says both fit, AWS's not.
  const wide = "é".repeat(300_000);
  const events = [{ timestamp: 1, message: wide }, { timestamp: 2, message: wide }];
  const { queue, batch } = prepare(events);
  assertEquals(batch.events.length, 1);
  assert(utf8Length(wide) + 26 <= MAX_BATCH_BYTES);
  assertEquals(JSON.parse(decode(batch.body)).logEvents, [events[0]]);
  assertEquals(queue.length, 1);
  assertEquals(queue.peek(), events[1]);
  const next = new BatchWriter(TARGET).prepare(queue);
  assertEquals(next.events, [events[1]]);
  assertEquals(queue.length, 0);
});

Deno.test("BatchWriter counts a lone surrogate as the 3-byte U+FFFD it becomes", () => {
  // All ASCII once JSON.stringify has escaped it, but 3 UTF-8 bytes to AWS: the exact path.
  const lone = "\uD800".repeat(175_000); // 525,000 bytes as AWS counts it, 175,000 as UTF-16
  const events = [{ timestamp: 1, message: lone }, { timestamp: 2, message: lone }];
  const { queue, batch } = prepare(events);
  assertEquals(batch.events.length, 1);
  assertEquals(queue.length, 1);
});

Deno.test("BatchWriter reuses its buffer: a body stays valid until the next prepare", () => {
  const queue = createEventQueue();
  const writer = new BatchWriter(TARGET);
  queue.push({ timestamp: 1, message: "first" });
  const first = decode(writer.prepare(queue).body);
  queue.push({ timestamp: 2, message: "second, longer than the first" });
  const second = decode(writer.prepare(queue).body);
  assertEquals(JSON.parse(first).logEvents[0].message, "first");
  assertEquals(JSON.parse(second).logEvents[0].message, "second, longer than the first");
});
