/**
 * The log records' bounded buffer: what the request path writes into. A record is the plain
 * data the logger hands over (level, the scrubbed and capped event object, its time, its span's
 * ids), stored by reference in a fixed ring of slots, so pushing allocates nothing and the
 * buffer's memory is fixed at its capacity. Encoding, batching and I/O read the records out in
 * the sink's own turn.
 */
import type { LogLevel, LogTraceContext } from "../logger.ts";

/** The event object the logger serialised into its line (already scrubbed and capped). */
export type LogEvent = Readonly<Record<string, unknown>>;

/** Receives each record {@linkcode RecordBuffer.drain} takes out, oldest first. */
export type RecordVisitor = (
  level: LogLevel,
  event: LogEvent,
  timeMs: number,
  trace: LogTraceContext | undefined,
) => void;

/** A first-in first-out ring of at most `capacity` records. */
export class RecordBuffer {
  readonly capacity: number;
  readonly #levels: LogLevel[];
  readonly #events: (LogEvent | undefined)[];
  readonly #times: Float64Array;
  readonly #traces: (LogTraceContext | undefined)[];
  /** Slot of the oldest record. */
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.#levels = new Array(this.capacity).fill("info");
    this.#events = new Array(this.capacity).fill(undefined);
    this.#times = new Float64Array(this.capacity);
    this.#traces = new Array(this.capacity).fill(undefined);
  }

  /** Records held. */
  get length(): number {
    return this.#size;
  }

  /** Appends a record; false (and nothing kept) when the buffer is full. */
  push(
    level: LogLevel,
    event: LogEvent,
    timeMs: number,
    trace: LogTraceContext | undefined,
  ): boolean {
    if (this.#size === this.capacity) return false;
    let slot = this.#head + this.#size;
    if (slot >= this.capacity) slot -= this.capacity;
    this.#levels[slot] = level;
    this.#events[slot] = event;
    this.#times[slot] = timeMs;
    this.#traces[slot] = trace;
    this.#size++;
    return true;
  }

  /**
   * Takes up to `max` of the oldest records out, handing each to `visit`, and releases their
   * slots (the events are no longer referenced from here). Returns how many were taken.
   */
  drain(max: number, visit: RecordVisitor): number {
    const count = Math.min(max, this.#size);
    for (let i = 0; i < count; i++) {
      const slot = this.#head;
      const event = this.#events[slot]!;
      const trace = this.#traces[slot];
      this.#events[slot] = undefined;
      this.#traces[slot] = undefined;
      this.#head = slot + 1 === this.capacity ? 0 : slot + 1;
      this.#size--;
      visit(this.#levels[slot]!, event, this.#times[slot]!, trace);
    }
    return count;
  }
}
