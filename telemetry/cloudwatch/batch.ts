/**
 * The pure batching rules of CloudWatch Logs PutLogEvents: sizes counted the way AWS counts
 * them and a bounded FIFO that cuts valid batches.
 */

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
/** One queued event with its AWS size (UTF-8 bytes + 26) computed once at push time. */
export interface QueuedEvent {
  timestamp: number;
  message: string;
  size: number;
}

/** A FIFO with O(1) push/shift/drop at both ends that tracks its AWS-counted bytes. */
export interface EventQueue {
  readonly length: number;
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
      bytes += event.size;
    },
    peek() {
      return items[head];
    },
    shift() {
      const event = items[head];
      if (event === undefined) return undefined;
      items[head] = undefined as unknown as QueuedEvent;
      head++;
      bytes -= event.size;
      if (head === items.length) {
        items = [];
        head = 0;
      } else compact();
      return event;
    },
    pop() {
      if (items.length === head) return undefined;
      const event = items.pop();
      if (event !== undefined) bytes -= event.size;
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
      for (const event of events) bytes += event.size;
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

/**
 * Takes the next valid batch from the front of the queue: at most 10,000 events and
 * 1,048,576 bytes, stably sorted by timestamp, spanning less than 24 h. Events cut off by the
 * span rule go back to the front of the queue, in order, for the next batch.
 */
export function takeBatch(queue: EventQueue): QueuedEvent[] {
  const batch: QueuedEvent[] = [];
  let bytes = 0;
  while (batch.length < MAX_BATCH_EVENTS) {
    const next = queue.peek();
    if (next === undefined || bytes + next.size > MAX_BATCH_BYTES) break;
    batch.push(queue.shift()!);
    bytes += next.size;
  }
  batch.sort(byTimestamp); // Array.prototype.sort is stable, so equal timestamps keep push order
  const first = batch[0];
  if (first === undefined) return batch;
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
