/**
 * A sink installed after the server started serving: its client (an SDK) takes longer to load
 * than the first requests take to arrive. Until the sink is up, each slot it will fill is a
 * stand-in that keeps the calls it receives, in order, in a bounded buffer (a full buffer turns
 * calls away, counted); the install hands them to the sink in that order, as fast as the
 * sink has room for them (its own queue is bounded: a destination says how many more it takes,
 * `BoundedIntake`), new calls joining the end of the backlog until it is empty, then every call
 * goes straight through. A flush hands over what is left first. An install that fails leaves the stand-ins holding (the next attempt may
 * succeed: a module read can fail while the process is out of file descriptors); a sink that
 * shutdown gives up on counts what it held as dropped, and so every later call.
 *
 * Counted are the sinks' own items: sampled spans (as the traces sink counts them), log lines,
 * log records and error reports. A request sample for a metrics recorder is not an item of its
 * sink (those are data points): a lost one is counted in details() as startup_samples_dropped.
 */
import type { Context } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { LogLevel, LogRecordSink, LogTraceContext } from "./logger.ts";
import type { RequestRecorder, RequestSample } from "./metrics/http_server.ts";
import {
  type DeferrableSlot,
  emptyStats,
  type ErrorContext,
  type ErrorDestination,
  intakeRoom,
  type LogDestination,
  type LogLine,
  type MessageLevel,
  type Sink,
  type SinkContribution,
  type SinkStats,
} from "./types.ts";

/**
 * Calls each slot keeps while its sink installs and until it has taken them: about a second of
 * a busy server's items (a start under full load makes ~20,000 a second of each kind, and the
 * install comes ~0.5 s after the first answer). Two thousand, the SDK batch processors' queue,
 * overflowed at every such start.
 */
export const PENDING_BOUND = 16_384;

/**
 * The pause between two hand-over turns while the sink has no room for the next call: 2 ms
 * while it makes room, doubling up to 64 ms while it makes none (a sink that cannot deliver
 * is not polled 500 times a second for the length of an outage).
 */
const HAND_OVER_PAUSE_MS = 2;
const HAND_OVER_PAUSE_MAX_MS = 64;

/** What a slot's stand-in needs to know about its sink. */
interface Owner {
  /** `waiting` until an install succeeds (`up`) or shutdown gives up on the sink (`lost`). */
  readonly state: "waiting" | "up" | "lost";
  /** Counts one item of the sink that never reached it (queued and dropped). */
  lose(items: number): void;
}

/** The contribution parts the install may not add late (see DeferrableSlot). */
const NOT_DEFERRABLE = ["requestHook", "logIds", "recordsUnsampled"] as const;

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
   * Hands calls to `deliver`, oldest first, while `room` has places (read again once the
   * places it gave are used; `deliver` returns the places a call took). Returns whether the
   * backlog is empty.
   */
  handOver(deliver: (call: Call) => number, room: () => number): boolean {
    let places = room();
    while (this.length > 0) {
      if (places <= 0 && (places = room()) <= 0) break;
      const call = this.#calls[this.#head]!;
      this.#calls[this.#head++] = undefined; // released as it goes
      places -= deliver(call);
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
interface HandingOver {
  /** Hands the backlog over as the sink has room (`all`: regardless); true when it is empty. */
  handOver(all: boolean): boolean;
  /** Calls held, counted the way the sink counts items. */
  readonly held: number;
}

/** The span processors' stand-in: onStart and onEnd calls, handed over in order. */
class PendingSpans implements SpanProcessor, HandingOver {
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
    }, all ? NO_LIMIT : () => Math.min(...targets.map(intakeRoom)));
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
  #room: () => number = NO_LIMIT;

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

  /** Where the held calls go, and how many the sink has room for (a sink without the part: nowhere). */
  attach(deliver: ((args: Args) => void) | undefined, room: () => number = NO_LIMIT): void {
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
class PendingLines implements LogDestination {
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
    this.calls.attach(target && (([line]) => target.push(line)), () => intakeRoom(target));
  }
}

type ErrorCall =
  | ["error", unknown, ErrorContext]
  | ["message", string, MessageLevel, ErrorContext | undefined];

/** The error destination's stand-in (Rollbar's items). */
class PendingErrors implements ErrorDestination {
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
class PendingRecords implements LogRecordSink {
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
    this.calls.attach(target && ((call) => target.emit(...call)), () => intakeRoom(target));
  }
}

/**
 * The request recorder's stand-in (HTTP server metrics, EMF). begin() and end() carry no
 * request identity, so a begin turned away by the full buffer is paired off with the next end
 * (its sample not recorded): the active-requests count stays exact, one sample is lost, counted.
 * A recorder aggregates in memory, so its backlog goes over in one turn.
 */
class PendingRecorder implements RequestRecorder, HandingOver {
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

/** A deferred sink: its slots' stand-ins, then the installed contribution. */
export class PendingSink implements Owner {
  readonly name: string;
  readonly slots: ReadonlySet<DeferrableSlot>;
  readonly spanProcessor: PendingSpans | undefined;
  readonly logDestination: PendingLines | undefined;
  readonly errorDestination: PendingErrors | undefined;
  readonly logRecords: PendingRecords | undefined;
  readonly requestRecorder: PendingRecorder | undefined;
  #state: "waiting" | "up" | "lost" = "waiting";
  #contribution: SinkContribution | undefined;
  /** The last failed attempt's error, first line. */
  #lastFailure: string | undefined;
  #attempts = 0;
  /** Items that never reached the sink: turned away, held when it was lost, or after. */
  #lost = 0;
  /** The attempt in progress. */
  #install: Promise<void> | undefined;
  /** Every slot's stand-in, for the hand-over's turns. */
  readonly #standIns: readonly HandingOver[];
  /** The next hand-over turn, while the installed sink has no room for what is held. */
  #turnTimer: ReturnType<typeof setTimeout> | undefined;
  #pauseMs = HAND_OVER_PAUSE_MS;

  constructor(name: string, slots: readonly DeferrableSlot[], bound = PENDING_BOUND) {
    this.name = name;
    this.slots = new Set(slots);
    this.spanProcessor = this.slots.has("spanProcessors")
      ? new PendingSpans(this, bound)
      : undefined;
    this.logDestination = this.slots.has("logDestination")
      ? new PendingLines(this, bound)
      : undefined;
    this.errorDestination = this.slots.has("errorDestination")
      ? new PendingErrors(this, bound)
      : undefined;
    this.logRecords = this.slots.has("logRecords") ? new PendingRecords(this, bound) : undefined;
    this.requestRecorder = this.slots.has("requestRecorder")
      ? new PendingRecorder(this, bound * 4)
      : undefined;
    this.#standIns = [
      this.spanProcessor,
      this.logDestination?.calls,
      this.errorDestination?.calls,
      this.logRecords?.calls,
      this.requestRecorder,
    ].filter((standIn) => standIn !== undefined);
  }

  get state(): "waiting" | "up" | "lost" {
    return this.#state;
  }

  /** The installed contribution, once the sink is up. */
  get installed(): SinkContribution | undefined {
    return this.#contribution;
  }

  lose(items: number): void {
    this.#lost += items;
  }

  /** Install attempts so far (successful or not). */
  get attempts(): number {
    return this.#attempts;
  }

  /**
   * One install attempt (a call during an attempt returns it; after a success, a no-op): on
   * success the sink is handed every held call. Rejects when `load` does, or when its
   * contribution fills a part that was not declared (a programming error in the sink's
   * deferrable()); the stand-ins keep holding for the next attempt.
   */
  install(load: () => Promise<SinkContribution>): Promise<void> {
    if (this.#state !== "waiting") return Promise.resolve();
    this.#install ??= (async () => {
      this.#attempts++;
      let contribution: SinkContribution;
      try {
        contribution = await load();
        this.#check(contribution);
      } catch (error) {
        this.#lastFailure = firstLine(error);
        throw error;
      } finally {
        this.#install = undefined;
      }
      if (this.#state === "lost") {
        // Shutdown stopped waiting for it: it never had anything; release it at once.
        await contribution.sink?.shutdown(Date.now());
        return;
      }
      this.#contribution = contribution;
      this.#state = "up";
      this.spanProcessor?.attach(contribution.spanProcessors ?? []);
      this.logDestination?.attach(contribution.logDestination);
      this.errorDestination?.attach(contribution.errorDestination);
      this.logRecords?.attach(contribution.logRecords);
      this.requestRecorder?.attach(contribution.requestRecorder);
      this.#handOverTurn();
    })();
    return this.#install;
  }

  /** Calls still held for the installed sink (handed over as it has room). */
  get backlog(): number {
    return this.#standIns.reduce((sum, s) => sum + s.held, 0);
  }

  /**
   * Before the sink is flushed: hands it the backlog as it has room, flushing it between turns
   * to make room, until the deadline; what is left then is handed over regardless (the sink
   * counts what it turns away).
   */
  async flushBacklog(sink: Sink | undefined, deadlineMs: number): Promise<void> {
    if (this.#state !== "up") return;
    // Stops waiting when a flush (and the turn after it) moved nothing: the sink makes no room.
    let before = Infinity;
    while (!this.#handOverAll(false) && Date.now() < deadlineMs && this.backlog < before) {
      before = this.backlog;
      await sink?.forceFlush(deadlineMs);
    }
    clearTimeout(this.#turnTimer);
    this.#turnTimer = undefined;
    this.#handOverAll(true);
  }

  /** One turn of every stand-in's hand-over; another in a moment while any still holds. */
  readonly #handOverTurn = (): void => {
    this.#turnTimer = undefined;
    const before = this.backlog;
    if (this.#handOverAll(false)) return;
    this.#pauseMs = this.backlog < before
      ? HAND_OVER_PAUSE_MS
      : Math.min(HAND_OVER_PAUSE_MAX_MS, this.#pauseMs * 2);
    this.#turnTimer = setTimeout(this.#handOverTurn, this.#pauseMs);
    Deno.unrefTimer(this.#turnTimer); // a flush hands over whatever is left
  };

  /** A turn of every stand-in (none skipped); true when none holds anything. */
  #handOverAll(all: boolean): boolean {
    let empty = true;
    for (const standIn of this.#standIns) empty = standIn.handOver(all) && empty;
    return empty;
  }

  /** Shutdown gives up on it: what the slots hold is counted lost, and so every later call. */
  abandon(): void {
    if (this.#state !== "waiting") return;
    this.#state = "lost";
    this.spanProcessor?.drop();
    this.logDestination?.calls.drop();
    this.errorDestination?.calls.drop();
    this.logRecords?.calls.drop();
    this.requestRecorder?.drop();
  }

  /** The banner line: the sink's own once it is up. */
  startup(): string {
    if (this.#contribution) return this.#contribution.startup;
    if (this.#lastFailure === undefined) return `${this.name}: installing`;
    const when = this.#state === "lost" ? "given up at shutdown" : "retrying";
    return `${this.name}: not installed (${this.#lastFailure}), ${when}`;
  }

  /** The sink's counters plus what never reached it; undefined for a sink that is off. */
  stats(): SinkStats | undefined {
    if (this.slots.size === 0 && !this.#contribution?.sink) return undefined;
    const own = this.#contribution?.sink?.stats();
    // Held calls are not the sink's yet: while it installs, and until it has room for them.
    const held = this.backlog;
    if (!own && this.#state === "up" && this.#lost === 0) return undefined;
    const result = own ?? emptyStats();
    result.queued += this.#lost + held;
    result.dropped += this.#lost;
    return result;
  }

  /** The sink's extra counters, and the request samples its recorder lost while it installed. */
  details(): Record<string, number> | undefined {
    const own = this.#contribution?.details?.();
    const samples = this.requestRecorder?.samplesLost ?? 0;
    if (samples === 0) return own;
    return { ...own, startup_samples_dropped: samples };
  }

  #check(contribution: SinkContribution): void {
    for (const key of NOT_DEFERRABLE) {
      if (contribution[key] !== undefined) {
        throw new Error(`${this.name}: a sink installed late cannot contribute ${key}`);
      }
    }
    const filled: DeferrableSlot[] = [];
    if (contribution.spanProcessors?.length) filled.push("spanProcessors");
    if (contribution.logDestination) filled.push("logDestination");
    if (contribution.errorDestination) filled.push("errorDestination");
    if (contribution.logRecords) filled.push("logRecords");
    if (contribution.requestRecorder) filled.push("requestRecorder");
    const undeclared = filled.filter((slot) => !this.slots.has(slot));
    if (undeclared.length > 0) {
      throw new Error(
        `${this.name}: its install filled ${
          undeclared.join(", ")
        }, which deferrable() did not declare`,
      );
    }
  }
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] ?? text;
}
