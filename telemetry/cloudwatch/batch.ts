/**
 * The batching rules of CloudWatch Logs PutLogEvents (sizes counted the way AWS counts them,
 * valid batches cut in order) and a bounded queue that keeps its events as the request bodies
 * they will be sent in.
 *
 * Cost model: the request path only appends `{timestamp, message}` to a short list (no UTF-8
 * scan, no copy of the text). The sink's own turn, about a millisecond later, writes that list
 * into the open batch's body: one `JSON.stringify` of the list and one `encodeInto` straight
 * after the events already there (the SDK's own serialiser writes JSON a character at a time in
 * JavaScript). So a line's string dies young: a queue of strings held every line for a whole
 * batch (~1,600 requests), long enough for the garbage collector to copy and promote each one,
 * which cost more than writing the body (bench/cloudwatch_sink.ts with the server's V8 flags).
 * The queue counts a line's UTF-16 length, which equals its UTF-8 length for ASCII (the
 * logger's JSON lines, as a rule); a list that does not encode to plain ASCII is written event
 * by event with exact UTF-8 sizes instead. A batch holding events out of time order, or
 * spanning 24 h, is read back, sorted and cut when it is sealed (rare: lines arrive in order).
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

/** Where a batch goes: the two names PutLogEvents needs beside the events. */
export interface LogTarget {
  logGroupName: string;
  logStreamName: string;
}

/** A batch taken from the queue: how many events it carries and its PutLogEvents body. */
export interface SealedBatch {
  readonly count: number;
  /**
   * The JSON body, UTF-8: what the AWS SDK's serialiser would write for these events. A view
   * into the batch's buffer, valid until the batch is given back with `recycle`.
   */
  readonly body: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const COMMA = 0x2c;
const QUOTE = 0x22;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
/**
 * A new batch's first buffer; it doubles as events arrive, to 1.25 MiB after four doublings:
 * a full batch of JSON lines (1 MiB as AWS counts it, plus ~15 bytes of JSON per event and the
 * escaped quotes) fits without a fifth.
 */
const INITIAL_BUFFER_BYTES = 80 * 1024;
/** Buffers kept for the next batches, and the largest kept (escapes can make a body bigger). */
const SPARE_BUFFERS = 2;
const MAX_SPARE_BYTES = 2 * MAX_BATCH_BYTES;
/** The smallest event there is (a one-byte message): a batch with less room than this is full. */
const SMALLEST_EVENT = 1 + EVENT_OVERHEAD_BYTES;

/** One batch: its events written as the PutLogEvents body, in a buffer of its own. */
class Batch implements SealedBatch {
  /** Offset of the first event's `{`; the body's header and `[` go right before it. */
  start: number;
  /** Offset just past the last event's `}`. */
  end: number;
  count = 0;
  /** Σ exact AWS sizes (UTF-8 + 26): what the 1 MiB rule counts. */
  awsBytes = 0;
  /** Σ {@linkcode countedSize}: what the queue's cap counts. */
  counted = 0;
  min = Infinity;
  max = -Infinity;
  /** Every event so far came no earlier than the one before it. */
  sorted = true;

  constructor(public buffer: Uint8Array, private readonly header: Uint8Array) {
    this.start = this.end = header.length + 1;
  }

  get body(): Uint8Array {
    const from = this.start - 1 - this.header.length;
    this.buffer.set(this.header, from);
    this.buffer[this.start - 1] = OPEN_BRACKET;
    this.buffer[this.end] = CLOSE_BRACKET;
    this.buffer[this.end + 1] = CLOSE_BRACE;
    return this.buffer.subarray(from, this.end + 2);
  }

  /** True when `size` more AWS bytes (and one more event) stay within a batch's limits. */
  fits(size: number): boolean {
    return this.count === 0 ||
      (this.count < MAX_BATCH_EVENTS && this.awsBytes + size <= MAX_BATCH_BYTES);
  }

  /** No further event can be added. */
  get full(): boolean {
    return this.count >= MAX_BATCH_EVENTS || this.awsBytes + SMALLEST_EVENT > MAX_BATCH_BYTES;
  }

  /** Sorting or a 24 h cut is needed before it is sent. */
  get needsReorder(): boolean {
    return !this.sorted || this.max - this.min >= MAX_BATCH_SPAN_MS;
  }

  note(event: QueuedEvent, aws: number): void {
    const timestamp = event.timestamp;
    if (timestamp < this.max) this.sorted = false;
    if (timestamp < this.min) this.min = timestamp;
    if (timestamp > this.max) this.max = timestamp;
    this.count++;
    this.awsBytes += aws;
    this.counted += event.message.length + EVENT_OVERHEAD_BYTES;
  }

  /**
   * Writes `events` (a JSON array's text, `[...]`) after the events already here: its `[`
   * becomes the separating comma, its `]` is overwritten by the next write or the body's end.
   * False when the text is not plain ASCII (nothing is committed then).
   */
  write(text: string, asciiOnly: boolean): boolean {
    const at = this.count === 0 ? this.start - 1 : this.end;
    let result = encoder.encodeInto(text, this.buffer.subarray(at));
    if (result.read < text.length) {
      // At most 3 bytes per UTF-16 unit, and room for the closing `}` of the body.
      this.grow(at + text.length * 3 + 2);
      result = encoder.encodeInto(text, this.buffer.subarray(at));
    }
    if (asciiOnly && result.written !== text.length) return false;
    if (at + result.written + 1 > this.buffer.length) this.grow(at + result.written + 1);
    if (this.count > 0) this.buffer[at] = COMMA;
    this.end = at + result.written - 1;
    return true;
  }

  private grow(bytes: number): void {
    const next = new Uint8Array(Math.max(bytes, this.buffer.length * 2));
    next.set(this.buffer); // whole: a write not yet committed may be past `end`
    this.buffer = next;
  }

  /** Removes the first event and returns it (read back from the body). */
  removeFirst(): QueuedEvent {
    const next = this.count > 1 ? this.nextEventStart() : this.end + 1;
    const event = JSON.parse(decoder.decode(this.buffer.subarray(this.start, next - 1)));
    this.count--;
    this.awsBytes -= awsSize(event);
    this.counted -= countedSize(event);
    if (this.count === 0) this.reset();
    else this.start = next; // min stays a lower bound: at worst a needless reorder
    return event;
  }

  /**
   * Where the second event starts: the first `{` followed by `"` after a comma. Inside a
   * message every `"` is escaped (`{\"`), so only an event's own opening matches.
   */
  private nextEventStart(): number {
    let i = this.start + 1;
    while (true) {
      i = this.buffer.indexOf(OPEN_BRACE, i);
      if (i < 0 || i >= this.end) throw new Error("CloudWatch batch body is corrupt");
      if (this.buffer[i - 1] === COMMA && this.buffer[i + 1] === QUOTE) return i;
      i++;
    }
  }

  /** Every event, read back from the body, in order. */
  events(): QueuedEvent[] {
    if (this.count === 0) return [];
    this.buffer[this.start - 1] = OPEN_BRACKET;
    this.buffer[this.end] = CLOSE_BRACKET;
    return JSON.parse(decoder.decode(this.buffer.subarray(this.start - 1, this.end + 1)));
  }

  reset(): void {
    this.start = this.end = this.header.length + 1;
    this.count = this.awsBytes = this.counted = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.sorted = true;
  }
}

/**
 * A FIFO of log events with the caps' counts (events, {@linkcode countedSize} bytes), kept as
 * PutLogEvents bodies: events pushed wait in a short list until `encode()` writes them into the
 * open batch; batches are sealed as they fill. See the module comment.
 */
export class EventQueue {
  #pending: QueuedEvent[] = [];
  #open: Batch | null = null;
  readonly #sealed: Batch[] = [];
  readonly #spare: Uint8Array[] = [];
  readonly #header: Uint8Array;
  #length = 0;
  #bytes = 0;

  constructor(target: LogTarget) {
    // The body's fields in the SDK's order: the two names, then the events.
    const names = JSON.stringify({
      logGroupName: target.logGroupName,
      logStreamName: target.logStreamName,
    });
    this.#header = encoder.encode(`${names.slice(0, -1)},"logEvents":`);
  }

  /** Events queued, encoded or not (a batch taken by `next` no longer counts). */
  get length(): number {
    return this.#length;
  }

  /** Σ {@linkcode countedSize}: UTF-16 units + 26 per event (= AWS bytes for ASCII). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Events not yet written into a batch (the sink's turn writes them). */
  get unencoded(): number {
    return this.#pending.length;
  }

  push(event: QueuedEvent): void {
    this.#pending.push(event);
    this.#length++;
    this.#bytes += event.message.length + EVENT_OVERHEAD_BYTES;
  }

  /** True when a full PutLogEvents batch is waiting, so waiting longer buys nothing. */
  hasFullBatch(): boolean {
    return this.#length >= MAX_BATCH_EVENTS || this.#bytes >= MAX_BATCH_BYTES ||
      this.#sealed.length > 0;
  }

  /** Writes every pending event into batches (the sink's own turn). */
  encode(): void {
    while (this.#pending.length > 0) {
      const pending = this.#pending;
      this.#pending = [];
      this.#write(pending);
    }
  }

  #write(pending: QueuedEvent[]): void {
    let from = 0;
    while (from < pending.length) {
      const batch = this.#openBatch();
      if (!batch.fits(countedSize(pending[from]!))) {
        if (this.#seal(pending, from)) return;
        continue;
      }
      // The events that fit by the queue's count, which is AWS's for ASCII text.
      let to = from;
      let aws = batch.awsBytes;
      let count = batch.count;
      // JSON.stringify writes a lone surrogate as an ASCII escape, which AWS counts as the
      // 3-byte U+FFFD: such a list takes the exact path (isWellFormed is free for the one-byte
      // strings JSON lines are, and only those can encode to ASCII).
      let wellFormed = true;
      while (to < pending.length) {
        const message = pending[to]!.message;
        const size = message.length + EVENT_OVERHEAD_BYTES;
        if (count > 0 && (count >= MAX_BATCH_EVENTS || aws + size > MAX_BATCH_BYTES)) break;
        if (!message.isWellFormed()) wellFormed = false;
        aws += size;
        count++;
        to++;
      }
      const list = from === 0 && to === pending.length ? pending : pending.slice(from, to);
      if (wellFormed && batch.write(JSON.stringify(list), true)) {
        for (let i = from; i < to; i++) {
          const event = pending[i]!;
          batch.note(event, event.message.length + EVENT_OVERHEAD_BYTES);
        }
      } else if (this.#writeExact(pending, from, to)) return;
      from = to;
    }
  }

  /**
   * Event by event with exact UTF-8 sizes: the path for non-ASCII text. True when a 24 h cut
   * moved the events from `i` on back to the pending list.
   */
  #writeExact(events: QueuedEvent[], from: number, to: number): boolean {
    for (let i = from; i < to; i++) {
      const event = events[i]!;
      const size = awsSize(event);
      if (!this.#openBatch().fits(size) && this.#seal(events, i)) return true;
      const batch = this.#openBatch();
      batch.write(JSON.stringify([event]), false);
      batch.note(event, size);
    }
    return false;
  }

  /**
   * Seals the open batch, sorted and cut at 24 h. True when the cut left events out: they go
   * back to the front of the pending list, ahead of `events[next...]` (what `encode` had not
   * written yet), which `encode` then writes from there.
   */
  #seal(events: QueuedEvent[] = [], next = 0): boolean {
    const batch = this.#open;
    if (batch === null || batch.count === 0) return false;
    this.#open = null;
    const tail = batch.needsReorder ? reorder(batch) : [];
    this.#sealed.push(batch);
    if (tail.length === 0) return false;
    this.#pending = [...tail, ...events.slice(next), ...this.#pending];
    return true;
  }

  #openBatch(): Batch {
    return this.#open ??= new Batch(
      this.#spare.pop() ?? new Uint8Array(INITIAL_BUFFER_BYTES),
      this.#header,
    );
  }

  /**
   * Takes the next batch to send: a sealed one, else, when `all` (a flush) or when no further
   * event fits, the open one. Every pending event is written first.
   */
  next(all: boolean): SealedBatch | undefined {
    this.encode();
    if (this.#sealed.length === 0) {
      const open = this.#open;
      if (open === null || open.count === 0 || !(all || open.full)) return undefined;
      this.#seal();
      this.encode(); // a 24 h cut's tail, if any
    }
    const batch = this.#sealed.shift();
    if (batch === undefined) return undefined;
    this.#length -= batch.count;
    this.#bytes -= batch.counted;
    return batch;
  }

  /** Gives a sent (or abandoned) batch's buffer back for the next batches. */
  recycle(batch: SealedBatch): void {
    const buffer = (batch as Batch).buffer;
    if (this.#spare.length < SPARE_BUFFERS && buffer.length <= MAX_SPARE_BYTES) {
      this.#spare.push(buffer);
    }
  }

  /** Removes the oldest event (the drop policy "oldest"); false when the queue is empty. */
  dropOldest(): boolean {
    const batch = this.#sealed[0] ?? (this.#open?.count ? this.#open : undefined);
    let event: QueuedEvent | undefined;
    if (batch !== undefined) {
      event = batch.removeFirst();
      if (batch.count === 0 && batch === this.#sealed[0]) this.recycle(this.#sealed.shift()!);
    } else event = this.#pending.shift();
    if (event === undefined) return false;
    this.#length--;
    this.#bytes -= countedSize(event);
    return true;
  }

  /** Forgets everything; returns how many events that was. */
  drain(): number {
    const all = this.#length;
    this.#pending = [];
    this.#open = null;
    this.#sealed.length = 0;
    this.#length = 0;
    this.#bytes = 0;
    return all;
  }
}

/**
 * Sorts a batch's events stably by timestamp and keeps those within 24 h of the first, written
 * again with exact sizes; returns the rest, in order, for the next batch.
 */
function reorder(batch: Batch): QueuedEvent[] {
  const events = batch.events();
  // Array.prototype.sort is stable: events with one timestamp keep their order.
  events.sort(byTimestamp);
  const first = events[0]!.timestamp;
  const cut = events.findIndex((event) => event.timestamp - first >= MAX_BATCH_SPAN_MS);
  const tail = cut > 0 ? events.splice(cut) : [];
  batch.reset();
  for (const event of events) {
    batch.write(JSON.stringify([event]), false);
    batch.note(event, awsSize(event));
  }
  return tail;
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
