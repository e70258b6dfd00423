import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { defaultStreamName } from "../../../telemetry/cloudwatch/mod.ts";
import {
  countRejected,
  EventQueue,
  MAX_BATCH_BYTES,
  MAX_BATCH_SPAN_MS,
  type QueuedEvent,
  truncateUtf8,
  TRUNCATION_MARKER,
  utf8Length,
} from "../../../telemetry/cloudwatch/batch.ts";

function event(timestamp: number, message = "m"): QueuedEvent {
  return { timestamp, message };
}

function createEventQueue(): EventQueue {
  return new EventQueue({ logGroupName: "cruddur", logStreamName: "test" });
}

/** The next batch a flush sends, read back from its body. */
function takeBatch(queue: EventQueue): QueuedEvent[] {
  const batch = queue.next(true);
  if (batch === undefined) return [];
  const events = JSON.parse(new TextDecoder().decode(batch.body)).logEvents as QueuedEvent[];
  assertEquals(events.length, batch.count);
  queue.recycle(batch);
  return events;
}

Deno.test("utf8Length() counts like TextEncoder, including surrogate pairs and lone surrogates", () => {
  for (const text of ["", "abc", "é", "€", "😀", "a😀é€", "\uD800", "x\uDC00y", "\uD83D"]) {
    assertEquals(utf8Length(text), new TextEncoder().encode(text).length, JSON.stringify(text));
  }
});

Deno.test("truncateUtf8() never splits a surrogate pair and stays within the byte cap", () => {
  const text = "😀".repeat(10); // 40 bytes
  const markerBytes = utf8Length(TRUNCATION_MARKER);
  for (let max = markerBytes; max < 45; max++) {
    const result = truncateUtf8(text, max);
    assert(result.bytes <= Math.max(max, 40), `max ${max}`);
    assertEquals(result.bytes, new TextEncoder().encode(result.message).length);
    assert(!new TextDecoder().decode(new TextEncoder().encode(result.message)).includes("\uFFFD"));
    if (max < 40) assert(result.truncated && result.message.endsWith(TRUNCATION_MARKER));
  }
  assertEquals(truncateUtf8("short", 100), { message: "short", bytes: 5, truncated: false });
});

Deno.test("EventQueue.next() sorts stably and cuts at 24 h, returning the rest to the queue front", () => {
  const queue = createEventQueue();
  const t = 1_700_000_000_000;
  for (
    const e of [
      event(t + 5, "b"),
      event(t, "a"),
      event(t + MAX_BATCH_SPAN_MS, "c"),
      event(t + 5, "d"),
    ]
  ) {
    queue.push(e);
  }
  const first = takeBatch(queue);
  assertEquals(first.map((e) => e.message), ["a", "b", "d"]);
  assertEquals(queue.length, 1);
  assertEquals(takeBatch(queue).map((e) => e.message), ["c"]);
  assertEquals([queue.length, queue.bytes], [0, 0]);
});

Deno.test("EventQueue.next() fills a batch to exactly 1,048,576 bytes and not a byte more", () => {
  const queue = createEventQueue();
  const half = "x".repeat(MAX_BATCH_BYTES / 2 - 26);
  queue.push(event(1, half));
  queue.push(event(2, half));
  queue.push(event(3, "y"));
  assertEquals(takeBatch(queue).length, 2);
  assertEquals(takeBatch(queue).length, 1);
});

Deno.test("EventQueue keeps FIFO order and its byte count through dropOldest, encoded or not", () => {
  const queue = createEventQueue();
  for (let i = 0; i < 3000; i++) queue.push(event(i));
  queue.encode(); // the first 3000 are written into a batch's body
  for (let i = 3000; i < 3010; i++) queue.push(event(i)); // these wait, not yet written
  for (let i = 0; i < 2500; i++) assert(queue.dropOldest());
  assertEquals(queue.length, 510);
  assertEquals(queue.bytes, 510 * 27);
  const rest = takeBatch(queue);
  assertEquals(rest.map((e) => e.timestamp), [...Array(510).keys()].map((i) => i + 2500));
  assertEquals([queue.length, queue.bytes], [0, 0]);
  assert(!queue.dropOldest());
});

Deno.test("EventQueue seals a full batch as events arrive and drops oldest from sealed batches", () => {
  const queue = createEventQueue();
  for (let i = 0; i < 10_005; i++) queue.push(event(i));
  assert(queue.hasFullBatch());
  queue.encode();
  assert(queue.dropOldest());
  assertEquals(queue.length, 10_004);
  const full = takeBatch(queue);
  assertEquals([full.length, full[0]?.timestamp, full.at(-1)?.timestamp], [9_999, 1, 9_999]);
  assert(!queue.hasFullBatch());
  assertEquals(queue.next(false), undefined, "a batch that is not full waits for a flush");
  assertEquals(takeBatch(queue).map((e) => e.timestamp), [10_000, 10_001, 10_002, 10_003, 10_004]);
});

Deno.test("EventQueue keeps the order of messages that look like event boundaries", () => {
  const queue = createEventQueue();
  const tricky = ['{"timestamp":1,"message":"x"}', '},{"timestamp":2', '\\",{"', "{", "a"];
  for (let i = 0; i < tricky.length; i++) queue.push(event(i, tricky[i]));
  queue.encode();
  assert(queue.dropOldest());
  assert(queue.dropOldest());
  assertEquals(queue.bytes, tricky.slice(2).reduce((n, m) => n + m.length + 26, 0));
  assertEquals(takeBatch(queue).map((e) => e.message), tricky.slice(2));
});

Deno.test("countRejected() counts the union of too-old, expired and too-new indexes", () => {
  assertEquals(countRejected(undefined, 10), 0);
  assertEquals(countRejected({ tooOldLogEventEndIndex: 1 }, 10), 2);
  assertEquals(countRejected({ tooNewLogEventStartIndex: 7 }, 10), 3);
  assertEquals(countRejected({ tooOldLogEventEndIndex: 1, expiredLogEventEndIndex: 3 }, 10), 4);
  assertEquals(countRejected({ tooOldLogEventEndIndex: 5, tooNewLogEventStartIndex: 3 }, 10), 10);
  assertEquals(countRejected({ tooOldLogEventEndIndex: 50 }, 10), 10);
});

Deno.test("defaultStreamName() has no ':' or '*' and names the service, host and pid", () => {
  const name = defaultStreamName({
    host: "ip-10-0-0-1:*",
    service: "backend-flask",
    startMs: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
    pid: 42,
  });
  assertEquals(name, "backend-flask/ip-10-0-0-1--/2026-01-02T03-04-05Z/42");
  assert(!/[:*]/.test(name));
});
