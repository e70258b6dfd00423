/**
 * The stand-ins a late sink's slots hold until it is up (telemetry/pending.ts): a span
 * processor, a log destination, an error destination, a log-record sink and a request recorder,
 * each keeping the calls it gets in a bounded backlog and handing them to the sink, in order,
 * as fast as it has room for them.
 */
import type { Context } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { LogLevel, LogRecordSink, LogTraceContext } from "./logger.ts";
import type { RequestRecorder, RequestSample } from "./metrics/http_server.ts";
import {
  type ErrorContext,
  type ErrorDestination,
  intakeRoom,
  type LogDestination,
  type LogLine,
  type MessageLevel,
} from "./types.ts";

/** What a slot's stand-in needs to know about its sink. */
export interface Owner {
  /** `waiting` until an install succeeds (`up`) or shutdown gives up on the sink (`lost`). */
  readonly state: "waiting" | "up" | "lost";
  /** Counts one item of the sink that never reached it (queued and dropped). */
  lose(items: number): void;
}

function isSampled(span: ReadableSpan): boolean {
  return (span.spanContext().traceFlags & 1) === 1;
}

/**
 * Calls held in arrival order: kept while the sink installs, then handed to it from the oldest
 * as fast as it has room (a sink's queue is bounded too: handing it a second of calls at once
 * would make it turn most of them away). Until the backlog is empty every new call joins it,
 * so the sink sees the calls in their order.
 */
class Backlog<Call> {
  #calls: (Call | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#calls.length - this.#head;
  }

  push(call: Call): void {
    this.#calls.push(call);
  }

  /**
   * Hands calls to `deliver`, oldest first, while `room` has places (asked with the next call,
   * and again once the places it gave are used; `deliver` returns the places a call took).
   * Returns whether the backlog is empty.
   */
  handOver(deliver: (call: Call) => number, room: (next: Call) => number): boolean {
    let places = 0;
    while (this.length > 0) {
      const call = this.#calls[this.#head]!;
      if (places <= 0 && (places = room(call)) <= 0) break;
      this.#calls[this.#head++] = undefined; // released as it goes
      try {
        places -= deliver(call);
      } catch {
        // A sink's calls never throw by contract; one that does loses that call, not the turn.
        places--;
      }
    }
    if (this.length === 0) this.clear();
    else if (this.#head > 1024 && this.#head * 2 > this.#calls.length) {
      this.#calls = this.#calls.slice(this.#head);
      this.#head = 0;
    }
    return this.length === 0;
  }

  /** Forgets every call. */
  clear(): void {
    this.#calls = [];
    this.#head = 0;
  }
}

const NO_LIMIT = () => Infinity;

/** What the sink gives each stand-in a turn of its hand-over with. */
export interface HandingOver {
  /** Hands the backlog over as the sink has room (`all`: regardless); true when it is empty. */
  handOver(all: boolean): boolean;
  /** Calls held, counted the way the sink counts items. */
  readonly held: number;
  /** Nothing will take the held calls: they are counted lost. */
  drop(): void;
}

/** The span processors' stand-in: onStart and onEnd calls, handed over in order. */
export class PendingSpans implements SpanProcessor, HandingOver {
  readonly #owner: Owner;
  readonly #bound: number;
  #targets: readonly SpanProcessor[] = [];
  /** The calls, oldest first: a start carries its context, an end `undefined`. */
  readonly #backlog = new Backlog<[Span | ReadableSpan, Context | undefined]>();
  readonly #admitted = new WeakSet<object>();
  /** Starts in the backlog (the bound counts spans, not calls). */
  #starts = 0;
  /** Sampled spans whose end is held: queued, not yet the sink's. */
  #held = 0;
  /** Spans turned away at their start (a full buffer): their end is counted, not passed on. */
  readonly #turnedAway = new WeakSet<object>();
  #anyTurnedAway = false;

  constructor(owner: Owner, bound: number) {
    this.#owner = owner;
    this.#bound = bound;
  }

  get held(): number {
    return this.#held;
  }

  onStart(span: Span, context: Context): void {
    const state = this.#owner.state;
    if (state === "up" && this.#backlog.length === 0) {
      for (const target of this.#targets) target.onStart(span, context);
    } else if (state !== "lost") {
      if (this.#starts >= this.#bound) {
        this.#turnedAway.add(span);
        this.#anyTurnedAway = true;
        return;
      }
      this.#starts++;
      this.#admitted.add(span);
      this.#backlog.push([span, context]);
    }
  }

  onEnd(span: ReadableSpan): void {
    const state = this.#owner.state;
    if (this.#anyTurnedAway && this.#turnedAway.has(span)) {
      this.#turnedAway.delete(span);
      if (isSampled(span)) this.#owner.lose(1);
    } else if (state === "up" && this.#backlog.length === 0) {
      for (const target of this.#targets) target.onEnd(span);
    } else if (state !== "lost" && this.#admitted.has(span)) {
      this.#backlog.push([span, undefined]);
      if (isSampled(span)) this.#held++;
    } else if (isSampled(span)) {
      // Lost: shutdown stopped waiting for the sink.
      this.#owner.lose(1);
    }
  }

  /** The sink's processors take over: every held call, in order, as they have room. */
  attach(targets: readonly SpanProcessor[]): void {
    this.#targets = targets;
  }

  handOver(all: boolean): boolean {
    const targets = this.#targets;
    // A sampled end takes a place in a batcher's queue; a start takes none.
    return this.#backlog.handOver(([span, context]) => {
      if (context !== undefined) {
        this.#starts--;
        for (const target of targets) target.onStart(span as Span, context);
        return 0;
      }
      const sampled = isSampled(span as ReadableSpan);
      if (sampled) this.#held--;
      for (const target of targets) target.onEnd(span as ReadableSpan);
      return sampled ? 1 : 0;
    }, all ? NO_LIMIT : ([span]) => Math.min(...targets.map((t) => intakeRoom(t, span))));
  }

  /** Nothing takes the held calls: their sampled ended spans are counted lost. */
  drop(): void {
    this.#owner.lose(this.#held);
    this.#backlog.clear();
    this.#starts = 0;
    this.#held = 0;
  }

  forceFlush(): Promise<void> {
    return Promise.all(this.#targets.map((t) => t.forceFlush())).then(() => {});
  }

  shutdown(): Promise<void> {
    return Promise.all(this.#targets.map((t) => t.shutdown())).then(() => {});
  }
}

/**
 * A stand-in that keeps one kind of call as argument lists, up to the bound. Its slot calls
 * `direct` first, so a call with nothing older waiting goes straight to the sink with no list.
 */
class HeldCalls<Args extends unknown[]> implements HandingOver {
  readonly #owner: Owner;
  readonly #bound: number;
  readonly #backlog = new Backlog<Args>();
  #deliver: ((args: Args) => void) | undefined;
  #room: (next: Args) => number = NO_LIMIT;

  constructor(owner: Owner, bound: number) {
    this.#owner = owner;
    this.#bound = bound;
  }

  get held(): number {
    return this.#backlog.length;
  }

  /** The sink is up and nothing older waits: the call goes to it now. */
  get direct(): boolean {
    return this.#owner.state === "up" && this.#backlog.length === 0;
  }

  /** Keeps a call that cannot go direct; a full buffer (or a lost sink) turns it away, counted. */
  keep(args: Args): void {
    if (this.#owner.state !== "lost" && this.#backlog.length < this.#bound) {
      this.#backlog.push(args);
    } else {
      this.#owner.lose(1);
    }
  }

  /** Where the held calls go and how many the sink has room for (no part: they go nowhere). */
  attach(
    deliver: ((args: Args) => void) | undefined,
    room: (next: Args) => number = NO_LIMIT,
  ): void {
    this.#deliver = deliver;
    this.#room = room;
  }

  handOver(all: boolean): boolean {
    const deliver = this.#deliver;
    return this.#backlog.handOver((args) => {
      deliver?.(args);
      return 1;
    }, all || deliver === undefined ? NO_LIMIT : this.#room);
  }

  /** Nothing takes the held calls: counted lost. */
  drop(): void {
    this.#owner.lose(this.#backlog.length);
    this.#backlog.clear();
  }
}

/** The log destination's stand-in (CloudWatch's lines). */
export class PendingLines implements LogDestination {
  readonly calls: HeldCalls<[LogLine]>;
  #target: LogDestination | undefined;

  constructor(owner: Owner, bound: number) {
    this.calls = new HeldCalls(owner, bound);
  }

  push(line: LogLine): void {
    if (this.calls.direct) this.#target?.push(line);
    else this.calls.keep([line]);
  }

  attach(target: LogDestination | undefined): void {
    this.#target = target;
    this.calls.attach(
      target && (([line]) => target.push(line)),
      ([line]) => intakeRoom(target, line),
    );
  }
}

type ErrorCall =
  | ["error", unknown, ErrorContext]
  | ["message", string, MessageLevel, ErrorContext | undefined];

/** The error destination's stand-in (Rollbar's items). */
export class PendingErrors implements ErrorDestination {
  readonly calls: HeldCalls<ErrorCall>;
  #target: ErrorDestination | undefined;

  constructor(owner: Owner, bound: number) {
    this.calls = new HeldCalls(owner, bound);
  }

  reportError(error: unknown, context: ErrorContext): void {
    if (this.calls.direct) this.#target?.reportError(error, context);
    else this.calls.keep(["error", error, context]);
  }

  reportMessage(message: string, level: MessageLevel, context?: ErrorContext): void {
    if (this.calls.direct) this.#target?.reportMessage(message, level, context);
    else this.calls.keep(["message", message, level, context]);
  }

  attach(target: ErrorDestination | undefined): void {
    this.#target = target;
    this.calls.attach(
      target && ((call) => {
        if (call[0] === "error") target.reportError(call[1], call[2]);
        else target.reportMessage(call[1], call[2], call[3]);
      }),
    );
  }
}

type RecordCall = [
  LogLevel,
  Readonly<Record<string, unknown>>,
  { timeMs: number; trace: LogTraceContext | undefined },
];

/** The log records' stand-in (OTLP logs): each event with its own time and span. */
export class PendingRecords implements LogRecordSink {
  readonly calls: HeldCalls<RecordCall>;
  #target: LogRecordSink | undefined;

  constructor(owner: Owner, bound: number) {
    this.calls = new HeldCalls(owner, bound);
  }

  emit(
    level: LogLevel,
    event: Readonly<Record<string, unknown>>,
    detail: { timeMs: number; trace: LogTraceContext | undefined },
  ): void {
    if (this.calls.direct) this.#target?.emit(level, event, detail);
    else this.calls.keep([level, event, detail]);
  }

  attach(target: LogRecordSink | undefined): void {
    this.#target = target;
    this.calls.attach(
      target && ((call) => target.emit(...call)),
      ([, event]) => intakeRoom(target, event),
    );
  }
}

/**
 * The request recorder's stand-in (HTTP server metrics, EMF). begin() and end() carry no
 * request identity, so a begin turned away by the full buffer is paired off with the next end
 * (its sample not recorded): the active-requests count stays exact, one sample is lost, counted.
 * A recorder aggregates in memory, so its backlog goes over in one turn.
 */
export class PendingRecorder implements RequestRecorder, HandingOver {
  readonly #owner: Owner;
  readonly #bound: number;
  #target: RequestRecorder | undefined;
  readonly #backlog = new Backlog<RequestSample | [string, string]>();
  /** Begins turned away whose end has not come yet. */
  #unpaired = 0;
  samplesLost = 0;

  constructor(owner: Owner, bound: number) {
    this.#owner = owner;
    this.#bound = bound;
  }

  /** Samples are not the sink's items (see the module comment). */
  readonly held = 0;

  begin(method: string, scheme: string): void {
    const state = this.#owner.state;
    if (state === "up" && this.#backlog.length === 0) this.#target?.begin(method, scheme);
    else if (state !== "lost") {
      if (this.#backlog.length < this.#bound) this.#backlog.push([method, scheme]);
      else this.#unpaired++;
    }
    // Lost: nothing to record; the sample is counted at its end.
  }

  end(sample: RequestSample): void {
    if (this.#unpaired > 0) {
      this.#unpaired--;
      this.samplesLost++;
      return;
    }
    const state = this.#owner.state;
    if (state === "up" && this.#backlog.length === 0) this.#target?.end(sample);
    else if (state !== "lost") this.#backlog.push(sample);
    else this.samplesLost++;
  }

  attach(target: RequestRecorder | undefined): void {
    this.#target = target;
  }

  handOver(): boolean {
    const target = this.#target;
    return this.#backlog.handOver((call) => {
      if (Array.isArray(call)) target?.begin(call[0], call[1]);
      else target?.end(call);
      return 1;
    }, NO_LIMIT);
  }

  drop(): void {
    this.#backlog.handOver((call) => {
      if (!Array.isArray(call)) this.samplesLost++;
      return 1;
    }, NO_LIMIT);
  }
}
