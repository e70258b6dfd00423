/**
 * The pure batching rules of CloudWatch Logs PutLogEvents: sizes counted the way AWS counts
 * them, a bounded FIFO that cuts valid batches, and the request body of a batch.
 *
 * Cost model: the request path only appends `{timestamp, message}` (no UTF-8 scan, no copy of
 * the text); the queue counts a line's UTF-16 length, which equals its UTF-8 length for ASCII
 * (the logger's JSON lines, as a rule). The sink's own turn cuts a batch by that count, writes
 * the body with one `JSON.stringify` and one UTF-8 encode into a reused buffer (the SDK's own
 * serialiser writes JSON a character at a time in JavaScript), and learns from the encoded
 * length that the count was exact; only a batch with non-ASCII text pays a per-event UTF-8
 * count, and is trimmed by it.
 */

import { utf8Length } from "../util/text.ts";

export { truncateUtf8, TRUNCATION_MARKER, utf8Length } from "../util/text.ts";

/** Bytes AWS adds to every event when it sizes a batch. */
export const EVENT_OVERHEAD_BYTES = 26;
/** Largest PutLogEvents request body AWS accepts, counting overhead. */
export const MAX_BATCH_BYTES = 1_048_576;
/** Most events one PutLogEvents call may carry. */
export const MAX_BATCH_EVENTS = 10_000;
/** Largest message one event may carry (1 MiB minus the per-event overhead). */
export const MAX_EVENT_BYTES = MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES;
/** Widest time span one batch may cover. */
export const MAX_BATCH_SPAN_MS = 24 * 60 * 60 * 1000;

/** One queued event, exactly the fields (and order) of a PutLogEvents `InputLogEvent`. */
export interface QueuedEvent {
  /** Epoch milliseconds, an integer. */
  timestamp: number;
  /** Non-empty, at most {@linkcode MAX_EVENT_BYTES} in UTF-8. */
  message: string;
}

/** What the queue counts for an event: UTF-16 length + 26, AWS's size for ASCII text. */
export function countedSize(event: QueuedEvent): number {
  return event.message.length + EVENT_OVERHEAD_BYTES;
}

/** AWS's size of an event: UTF-8 bytes + 26. */
export function awsSize(event: QueuedEvent): number {
  return utf8Length(event.message) + EVENT_OVERHEAD_BYTES;
}

/**
 * A FIFO with O(1) push/shift/drop at both ends that tracks its events' counted size
 * ({@linkcode countedSize}: what the byte cap and full-batch check use).
 */
export interface EventQueue {
  readonly length: number;
  /** Σ {@linkcode countedSize}: UTF-16 units + 26 per event (= AWS bytes for ASCII). */
  readonly bytes: number;
  push(event: QueuedEvent): void;
  peek(): QueuedEvent | undefined;
  shift(): QueuedEvent | undefined;
  pop(): QueuedEvent | undefined;
  /** Puts events back at the front, in the given order (used for a batch's cut-off tail). */
  unshiftAll(events: readonly QueuedEvent[]): void;
  /** Removes and returns everything. */
  drain(): QueuedEvent[];
}

/** Creates an empty {@linkcode EventQueue}. */
export function createEventQueue(): EventQueue {
  let items: QueuedEvent[] = [];
  let head = 0;
  let bytes = 0;
  function compact(): void {
    // Slide the live part down once the dead prefix dominates, so memory stays bounded.
    if (head > 1024 && head * 2 > items.length) {
      items = items.slice(head);
      head = 0;
    }
  }
  return {
    get length() {
      return items.length - head;
    },
    get bytes() {
      return bytes;
    },
    push(event) {
      items.push(event);
      bytes += event.message.length + EVENT_OVERHEAD_BYTES;
    },
    peek() {
      return items[head];
    },
    shift() {
      const event = items[head];
      if (event === undefined) return undefined;
      items[head] = undefined as unknown as QueuedEvent;
      head++;
      bytes -= event.message.length + EVENT_OVERHEAD_BYTES;
      if (head === items.length) {
        items = [];
        head = 0;
      } else compact();
      return event;
    },
    pop() {
      if (items.length === head) return undefined;
      const event = items.pop();
      if (event !== undefined) bytes -= event.message.length + EVENT_OVERHEAD_BYTES;
      return event;
    },
    unshiftAll(events) {
      if (events.length === 0) return;
      if (head >= events.length) {
        head -= events.length;
        for (let i = 0; i < events.length; i++) items[head + i] = events[i]!;
      } else {
        items = [...events, ...items.slice(head)];
        head = 0;
      }
      for (const event of events) bytes += event.message.length + EVENT_OVERHEAD_BYTES;
    },
    drain() {
      const all = items.slice(head);
      items = [];
      head = 0;
      bytes = 0;
      return all;
    },
  };
}

/** True when the queue already holds a full PutLogEvents batch, so waiting buys nothing. */
export function hasFullBatch(queue: EventQueue): boolean {
  return queue.length >= MAX_BATCH_EVENTS || queue.bytes >= MAX_BATCH_BYTES;
}

/** Where a batch goes: the two names PutLogEvents needs beside the events. */
export interface LogTarget {
  logGroupName: string;
  logStreamName: string;
}

/** A batch ready to send: its events and the PutLogEvents request body that carries them. */
export interface PreparedBatch {
  events: QueuedEvent[];
  /**
   * The JSON body, UTF-8: what the AWS SDK's serialiser would write for these events. A view
   * into the writer's buffer, valid until its next `prepare` (the sink sends one batch at a
   * time; fetch copies the body when the call starts).
   */
  body: Uint8Array;
}

const encoder = new TextEncoder();

/**
 * Cuts batches from a queue and writes their request bodies into one buffer it reuses, so a
 * steady stream does not allocate (and page in) a fresh megabyte per call.
 */
export class BatchWriter {
  #buffer = new Uint8Array(0);

  constructor(private readonly target: LogTarget) {}

  /**
   * Takes the next valid batch from the front of the queue and writes its body: at most
   * 10,000 events and 1,048,576 AWS-counted bytes, stably sorted by timestamp, spanning less
   * than 24 h. Events cut off go back to the front of the queue, in order, for the next batch.
   */
  prepare(queue: EventQueue): PreparedBatch {
    const events = takeBatch(queue);
    const text = bodyText(this.target, events);
    const ascii = this.#encodeAscii(text);
    // UTF-16 length = UTF-8 length for ASCII; JSON.stringify writes a lone surrogate as an
    // ASCII escape, which isWellFormed (free for one-byte strings) catches beforehand.
    if (ascii !== undefined && events.every(wellFormed)) return { events, body: ascii };
    fitExactly(queue, events);
    return { events, body: encoder.encode(bodyText(this.target, events)) };
  }

  /** `text` in the reused buffer when it is all ASCII, else undefined. */
  #encodeAscii(text: string): Uint8Array | undefined {
    if (this.#buffer.length < text.length) {
      // Some headroom, so a slowly growing batch does not reallocate every time.
      this.#buffer = new Uint8Array(Math.ceil(text.length * 1.25));
    }
    const { read, written } = encoder.encodeInto(text, this.#buffer);
    return read === text.length && written === text.length
      ? this.#buffer.subarray(0, written)
      : undefined;
  }
}

function wellFormed(event: QueuedEvent): boolean {
  return event.message.isWellFormed();
}

/**
 * Trims `events` to the AWS byte limit by exact UTF-8 sizes, the tail back to the queue's
 * front (in timestamp order, as the 24 h cut does). A first event always stays: push
 * truncated every message to {@linkcode MAX_EVENT_BYTES}.
 */
function fitExactly(queue: EventQueue, events: QueuedEvent[]): void {
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    bytes += awsSize(events[i]!);
    if (bytes > MAX_BATCH_BYTES && i > 0) {
      queue.unshiftAll(events.splice(i));
      return;
    }
  }
}

function bodyText(target: LogTarget, events: QueuedEvent[]): string {
  // Fields in the SDK's order; every event object is a plain {timestamp, message} of our own.
  return JSON.stringify({
    logGroupName: target.logGroupName,
    logStreamName: target.logStreamName,
    logEvents: events,
  });
}

/**
 * Takes the next batch by the queue's count ({@linkcode countedSize}): at most 10,000 events
 * and 1,048,576 counted bytes, stably sorted by timestamp, spanning less than 24 h. Events cut
 * off by the span rule go back to the front of the queue, in order, for the next batch.
 */
export function takeBatch(queue: EventQueue): QueuedEvent[] {
  const batch: QueuedEvent[] = [];
  let bytes = 0;
  let sorted = true;
  let last = -Infinity;
  while (batch.length < MAX_BATCH_EVENTS) {
    const next = queue.peek();
    if (next === undefined) break;
    const size = countedSize(next);
    if (bytes + size > MAX_BATCH_BYTES) break;
    queue.shift();
    batch.push(next);
    bytes += size;
    if (next.timestamp < last) sorted = false;
    last = next.timestamp;
  }
  // Lines arrive in time order as a rule; Array.prototype.sort is stable for the rest.
  if (!sorted) batch.sort(byTimestamp);
  const first = batch[0];
  if (first === undefined) return batch;
  if (batch[batch.length - 1]!.timestamp - first.timestamp < MAX_BATCH_SPAN_MS) return batch;
  const cut = batch.findIndex((event) => event.timestamp - first.timestamp >= MAX_BATCH_SPAN_MS);
  if (cut > 0) queue.unshiftAll(batch.splice(cut));
  return batch;
}

function byTimestamp(a: QueuedEvent, b: QueuedEvent): number {
  return a.timestamp - b.timestamp;
}

/** The parts of PutLogEvents' `rejectedLogEventsInfo` this sink reads. */
export interface RejectedInfo {
  tooNewLogEventStartIndex?: number | undefined;
  tooOldLogEventEndIndex?: number | undefined;
  expiredLogEventEndIndex?: number | undefined;
}

/** Counts the events of an `n`-event batch that `rejectedLogEventsInfo` says were refused. */
export function countRejected(info: RejectedInfo | undefined, n: number): number {
  if (info === undefined) return 0;
  const oldEnd = Math.max(
    -1,
    info.tooOldLogEventEndIndex ?? -1,
    info.expiredLogEventEndIndex ?? -1,
  );
  const low = Math.min(n, oldEnd + 1); // indexes 0..oldEnd were too old or expired
  const newStart = Math.max(low, Math.min(n, info.tooNewLogEventStartIndex ?? n));
  return low + (n - newStart);
}
