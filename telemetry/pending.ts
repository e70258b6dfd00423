/**
 * A sink installed after the server started serving: its client (an SDK) takes longer to load than
 * the first requests take to arrive. Until the sink is up, each slot it will fill is a stand-in
 * that keeps the calls it receives, in order, in a bounded buffer (a full buffer turns calls away,
 * counted); the install hands them to the sink in that order, as fast as the sink has room for
 * them (its own queue is bounded: a destination says how many more it takes, `BoundedIntake`), new
 * calls joining the end of the backlog until it is empty, then every call goes straight through. A
 * flush hands over what is left first. An install that fails leaves the stand-ins holding (the
 * next attempt may succeed: a module read can fail while the process is out of file descriptors);
 * a sink that shutdown gives up on counts what it held as dropped, and so every later call.
 *
 * Counted are the sinks' own items: sampled spans (as the traces sink counts them), log lines, log
 * records and error reports. A request sample for a metrics recorder is not an item of its sink
 * (those are data points): a lost one is counted in details() as startup_samples_dropped.
 *
 * The stand-ins themselves are telemetry/pending_slots.ts.
 */
import {
  type HandingOver,
  type Owner,
  PendingErrors,
  PendingLines,
  PendingRecorder,
  PendingRecords,
  PendingSpans,
} from "./pending_slots.ts";
import {
  type DeferrableSlot,
  emptyStats,
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

/** The contribution parts the install may not add late (see DeferrableSlot). */
const NOT_DEFERRABLE = ["requestHook", "logIds", "recordsUnsampled"] as const;

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

  /**
   * A turn of every stand-in (none skipped); true when none holds anything. A sink whose
   * intakeRoom() throws is tried again at the next turn, as one that makes no room: the turns
   * run in timers and in flushes, which must never throw.
   */
  #handOverAll(all: boolean): boolean {
    let empty = true;
    for (const standIn of this.#standIns) {
      try {
        empty = standIn.handOver(all) && empty;
      } catch {
        empty = false;
      }
    }
    return empty;
  }

  /** Shutdown gives up on it: what the slots hold is counted lost, and so every later call. */
  abandon(): void {
    if (this.#state !== "waiting") return;
    this.#state = "lost";
    for (const standIn of this.#standIns) standIn.drop();
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

  /**
   * The sink's extra counters, the request samples its recorder lost while it installed, and
   * what its stand-ins still hold for it once it is up.
   */
  details(): Record<string, number> | undefined {
    const own = this.#contribution?.details?.();
    const samples = this.requestRecorder?.samplesLost ?? 0;
    // Items the installed sink has not taken yet (it makes room as it exports).
    const backlog = this.#state === "up" ? this.backlog : 0;
    if (samples === 0 && backlog === 0) return own;
    return {
      ...own,
      ...(samples > 0 ? { startup_samples_dropped: samples } : {}),
      ...(backlog > 0 ? { startup_backlog: backlog } : {}),
    };
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
