/**
 * A sink installed after the server started serving: its client (an SDK) takes longer to load
 * than the first requests take to arrive. Until the sink is up, each slot it will fill is a
 * stand-in that keeps the calls it receives, in order, in a bounded buffer (a full buffer turns
 * calls away, counted); the install hands them to the sink in that order, then every call goes
 * straight through. An install that fails leaves the stand-ins holding (the next attempt may
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
  type LogDestination,
  type LogLine,
  type MessageLevel,
  type SinkContribution,
  type SinkStats,
} from "./types.ts";

/** Calls each slot keeps while its sink installs: the SDK batch processors' default queue. */
export const PENDING_BOUND = 2048;

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

/** The span processors' stand-in: onStart and onEnd calls, replayed in order. */
class PendingSpans implements SpanProcessor {
  readonly #owner: Owner;
  readonly #bound: number;
  #targets: readonly SpanProcessor[] = [];
  /** The calls, oldest first: a start carries its context, an end `undefined`. */
  #spans: (Span | ReadableSpan)[] = [];
  #contexts: (Context | undefined)[] = [];
  #admitted = new WeakSet<object>();
  #started = 0;
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
    if (state === "up") {
      for (const target of this.#targets) target.onStart(span, context);
    } else if (state === "waiting") {
      if (this.#started >= this.#bound) {
        this.#turnedAway.add(span);
        this.#anyTurnedAway = true;
        return;
      }
      this.#started++;
      this.#admitted.add(span);
      this.#spans.push(span);
      this.#contexts.push(context);
    }
  }

  onEnd(span: ReadableSpan): void {
    const state = this.#owner.state;
    if (this.#anyTurnedAway && this.#turnedAway.has(span)) {
      this.#turnedAway.delete(span);
      if (isSampled(span)) this.#owner.lose(1);
    } else if (state === "up") {
      for (const target of this.#targets) target.onEnd(span);
    } else if (state === "waiting" && this.#admitted.has(span)) {
      this.#spans.push(span);
      this.#contexts.push(undefined);
      if (isSampled(span)) this.#held++;
    } else if (isSampled(span)) {
      // Lost: shutdown stopped waiting for the sink.
      this.#owner.lose(1);
    }
  }

  /** The sink's processors take over: every held call, in order. */
  handOver(targets: readonly SpanProcessor[]): void {
    this.#targets = targets;
    const spans = this.#spans;
    const contexts = this.#contexts;
    this.#release();
    for (let i = 0; i < spans.length; i++) {
      const context = contexts[i];
      for (const target of targets) {
        if (context === undefined) target.onEnd(spans[i] as ReadableSpan);
        else target.onStart(spans[i] as Span, context);
      }
    }
  }

  /** Nothing takes the held calls: their sampled ended spans are counted lost. */
  drop(): void {
    this.#owner.lose(this.#held);
    this.#release();
  }

  #release(): void {
    this.#spans = [];
    this.#contexts = [];
    this.#held = 0;
  }

  forceFlush(): Promise<void> {
    return Promise.all(this.#targets.map((t) => t.forceFlush())).then(() => {});
  }

  shutdown(): Promise<void> {
    return Promise.all(this.#targets.map((t) => t.shutdown())).then(() => {});
  }
}

/** A stand-in that keeps one kind of call as argument lists, up to the bound. */
class HeldCalls<Args extends unknown[]> {
  readonly #owner: Owner;
  readonly #bound: number;
  #calls: Args[] = [];

  constructor(owner: Owner, bound: number) {
    this.#owner = owner;
    this.#bound = bound;
  }

  get held(): number {
    return this.#calls.length;
  }

  /** Keeps a call made while the sink installs; a full buffer turns it away, counted. */
  keep(args: Args): void {
    if (this.#calls.length < this.#bound) this.#calls.push(args);
    else this.#owner.lose(1);
  }

  /** Passes every held call to `deliver`, oldest first, and forgets them. */
  replay(deliver: (args: Args) => void): void {
    const calls = this.#calls;
    this.#calls = [];
    for (const args of calls) deliver(args);
  }

  /** Nothing takes the held calls: counted lost. */
  drop(): void {
    this.#owner.lose(this.#calls.length);
    this.#calls = [];
  }
}

/** The log destination's stand-in (CloudWatch's lines). */
class PendingLines implements LogDestination {
  readonly #owner: Owner;
  readonly calls: HeldCalls<[LogLine]>;
  #target: LogDestination | undefined;

  constructor(owner: Owner, bound: number) {
    this.#owner = owner;
    this.calls = new HeldCalls(owner, bound);
  }

  push(line: LogLine): void {
    const state = this.#owner.state;
    if (state === "up") this.#target?.push(line);
    else if (state === "waiting") this.calls.keep([line]);
    else this.#owner.lose(1);
  }

  handOver(target: LogDestination | undefined): void {
    this.#target = target;
    if (target) this.calls.replay(([line]) => target.push(line));
    else this.calls.replay(() => {});
  }
}

type ErrorCall =
  | ["error", unknown, ErrorContext]
  | ["message", string, MessageLevel, ErrorContext | undefined];

/** The error destination's stand-in (Rollbar's items). */
class PendingErrors implements ErrorDestination {
  readonly #owner: Owner;
  readonly calls: HeldCalls<ErrorCall>;
  #target: ErrorDestination | undefined;

  constructor(owner: Owner, bound: number) {
    this.#owner = owner;
    this.calls = new HeldCalls(owner, bound);
  }

  reportError(error: unknown, context: ErrorContext): void {
    const state = this.#owner.state;
    if (state === "up") this.#target?.reportError(error, context);
    else if (state === "waiting") this.calls.keep(["error", error, context]);
    else this.#owner.lose(1);
  }

  reportMessage(message: string, level: MessageLevel, context?: ErrorContext): void {
    const state = this.#owner.state;
    if (state === "up") this.#target?.reportMessage(message, level, context);
    else if (state === "waiting") this.calls.keep(["message", message, level, context]);
    else this.#owner.lose(1);
  }

  handOver(target: ErrorDestination | undefined): void {
    this.#target = target;
    this.calls.replay((call) => {
      if (!target) return;
      if (call[0] === "error") target.reportError(call[1], call[2]);
      else target.reportMessage(call[1], call[2], call[3]);
    });
  }
}

type RecordCall = [
  LogLevel,
  Readonly<Record<string, unknown>>,
  { timeMs: number; trace: LogTraceContext | undefined },
];

/** The log records' stand-in (OTLP logs): each event with its own time and span. */
class PendingRecords implements LogRecordSink {
  readonly #owner: Owner;
  readonly calls: HeldCalls<RecordCall>;
  #target: LogRecordSink | undefined;

  constructor(owner: Owner, bound: number) {
    this.#owner = owner;
    this.calls = new HeldCalls(owner, bound);
  }

  emit(
    level: LogLevel,
    event: Readonly<Record<string, unknown>>,
    detail: { timeMs: number; trace: LogTraceContext | undefined },
  ): void {
    const state = this.#owner.state;
    if (state === "up") this.#target?.emit(level, event, detail);
    else if (state === "waiting") this.calls.keep([level, event, detail]);
    else this.#owner.lose(1);
  }

  handOver(target: LogRecordSink | undefined): void {
    this.#target = target;
    this.calls.replay((call) => target?.emit(...call));
  }
}

/**
 * The request recorder's stand-in (HTTP server metrics, EMF). begin() and end() carry no
 * request identity, so a begin turned away by the full buffer is paired off with the next end
 * (its sample not recorded): the active-requests count stays exact, one sample is lost, counted.
 */
class PendingRecorder implements RequestRecorder {
  readonly #owner: Owner;
  readonly #bound: number;
  #target: RequestRecorder | undefined;
  #calls: (RequestSample | [string, string])[] = [];
  /** Begins turned away whose end has not come yet. */
  #unpaired = 0;
  samplesLost = 0;

  constructor(owner: Owner, bound: number) {
    this.#owner = owner;
    this.#bound = bound;
  }

  begin(method: string, scheme: string): void {
    const state = this.#owner.state;
    if (state === "up") this.#target?.begin(method, scheme);
    else if (state === "waiting") {
      if (this.#calls.length < this.#bound) this.#calls.push([method, scheme]);
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
    if (state === "up") this.#target?.end(sample);
    else if (state === "waiting") this.#calls.push(sample);
    else this.samplesLost++;
  }

  handOver(target: RequestRecorder | undefined): void {
    this.#target = target;
    const calls = this.#calls;
    this.#calls = [];
    if (!target) return;
    for (const call of calls) {
      if (Array.isArray(call)) target.begin(call[0], call[1]);
      else target.end(call);
    }
  }

  drop(): void {
    this.samplesLost += this.#calls.filter((call) => !Array.isArray(call)).length;
    this.#calls = [];
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
      this.spanProcessor?.handOver(contribution.spanProcessors ?? []);
      this.logDestination?.handOver(contribution.logDestination);
      this.errorDestination?.handOver(contribution.errorDestination);
      this.logRecords?.handOver(contribution.logRecords);
      this.requestRecorder?.handOver(contribution.requestRecorder);
    })();
    return this.#install;
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
    const held = this.#state === "waiting" ? this.#held() : 0;
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

  #held(): number {
    return (this.spanProcessor?.held ?? 0) + (this.logDestination?.calls.held ?? 0) +
      (this.errorDestination?.calls.held ?? 0) + (this.logRecords?.calls.held ?? 0);
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
