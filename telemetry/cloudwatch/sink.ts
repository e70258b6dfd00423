/**
 * CloudWatch Logs sink: a bounded, counted queue drained by PutLogEvents in batches the API
 * accepts, with jittered backoff under a retry budget. Like watchtower, but it sleeps between
 * retries, bounds its memory and counts every line it loses.
 */
import {
  type CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogGroupsCommand,
  type DescribeLogGroupsCommandOutput,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  countedSize,
  countRejected,
  EVENT_OVERHEAD_BYTES,
  EventQueue,
  type LogTarget,
  MAX_EVENT_BYTES,
  type QueuedEvent,
  type SealedBatch,
} from "./batch.ts";
import {
  type CloudWatchClientOptions,
  createCloudWatchLogsClient,
  MAX_RESPONSE_BYTES,
  putLogEventsWithBody,
  resolvedEndpoint,
} from "./client.ts";
import { createPutLogEvents, type PutLogEvents, type PutLogEventsOutput } from "./put.ts";
import { beforeDeadline, callSignal, sleep } from "../util/deadline.ts";
import { errorName, errorText } from "../util/errors.ts";
import { truncateUtf8 } from "../util/text.ts";
import { type Report, throttledDiagnostic } from "../util/throttle.ts";
import { type Diagnostic, emptyStats, type LogLine, type Sink, type SinkStats } from "../types.ts";

export { createCloudWatchLogsClient } from "./client.ts";
export type { CloudWatchClientOptions } from "./client.ts";

/** Options of {@linkcode createCloudWatchSink}; only the destination and credentials are required. */
export interface CloudWatchSinkOptions {
  /** Log group, e.g. "cruddur" (CLOUDWATCH_LOG_GROUP). */
  logGroup: string;
  /** Log stream (CLOUDWATCH_LOG_STREAM, or `defaultStreamName`). */
  logStream: string;
  region: string;
  /** Explicit, so the SDK's default chain never probes ~/.aws or the EC2 metadata address. */
  credentials: CloudWatchClientOptions["credentials"];
  /** AWS_ENDPOINT_URL_CLOUDWATCH_LOGS / AWS_ENDPOINT_URL; the regional endpoint when absent. */
  endpoint?: string;
  /** Describe/create the group and create the stream on first send and on ResourceNotFound. */
  createLogGroup?: boolean;
  /** Longest a line waits before it is sent; a full batch is sent at once. Default 5000. */
  flushIntervalMs?: number;
  /** Queue cap in events (the batch in flight is extra). Default 20,000. */
  maxQueueEvents?: number;
  /**
   * Queue cap in counted bytes: UTF-16 length + 26 per event, AWS's count for ASCII lines (a
   * line is not scanned on the request path; batches are cut by exact UTF-8 sizes). Default
   * 2 MiB (CLOUDWATCH_MAX_QUEUE_BYTES): a batch forming and a full one waiting behind the ones
   * in flight. The sink carries at most `maxConcurrentPuts` MiB per round trip: a larger queue
   * cannot keep up with a faster log rate, it only holds more lines (in the V8 heap, which
   * grows to a multiple of what is live) through an outage before the same drop.
   */
  maxQueueBytes?: number;
  /**
   * PutLogEvents calls out at once (CLOUDWATCH_MAX_CONCURRENT_PUTS), default 4. The service
   * ignores sequence tokens since 2023 and takes parallel puts to one stream, so a slow answer
   * no longer caps the sink at one 1 MiB batch per round trip; 1 sends one batch at a time.
   */
  maxConcurrentPuts?: number;
  /**
   * What a full queue sacrifices. Default "newest": during an incident the first lines carry
   * the cause, the later ones mostly repeat the symptom, so we keep the earliest context.
   */
  dropPolicy?: "oldest" | "newest";
  /** Backoff: full jitter over min(maxMs, baseMs·2^n); `budget` retries shared by all batches. */
  retry?: { baseMs?: number; maxMs?: number; maxAttempts?: number; budget?: number };
  /** Per AWS call, body included; an expired call is retried like a network error. Default 10,000. */
  requestTimeoutMs?: number;
  /** Response bytes kept at most by the default client. Default 256 KiB. */
  maxResponseBytes?: number;
  now?: () => number;
  random?: () => number;
  diagnostic?: Diagnostic;
  /** Injected client (the caller destroys it); by default one from {@linkcode createCloudWatchLogsClient}. */
  client?: CloudWatchLogsClient;
}

/** A {@linkcode Sink} that also accepts log lines; `pending()` counts lines not yet settled. */
export interface CloudWatchSink extends Sink {
  /**
   * Enqueues one line: never blocks, never throws. Costs a few field reads and one small
   * object; batching, the request body, signing and I/O happen in the sink's own turns.
   */
  push(line: LogLine): void;
  /** Lines queued or in flight, so queued = sent + dropped + rejected + failed + pending(). */
  pending(): number;
  /**
   * 1 when the queue takes `next` now within half its bounds (or is empty: a line larger than
   * the whole queue is the push's to refuse, counted), else 0 (BoundedIntake). The other half
   * is left to what reaches the queue beside a late install's backlog: embedded metrics, and
   * the lines that go straight in once the backlog is gone.
   */
  intakeRoom(next: LogLine): number;
}

/** Creates the CloudWatch Logs sink; nothing is sent until the first line is pushed. */
export function createCloudWatchSink(options: CloudWatchSinkOptions): CloudWatchSink {
  return new CloudWatchLogSink(options);
}

type Outcome =
  | { kind: "ok"; rejected: number }
  | { kind: "retry"; reason: string }
  | { kind: "not-found" }
  | { kind: "failed"; reason: string }
  | { kind: "aborted" };

/** One PutLogEvents batch; settled once, whatever answers or deadlines come after. */
interface Batch {
  /** Its events' count and body, written once and sent as is by every attempt. */
  sealed: SealedBatch;
  count: number;
  settled: boolean;
}

/** The settings of one sink, defaults applied. */
interface Settings {
  flushIntervalMs: number;
  maxQueueEvents: number;
  maxQueueBytes: number;
  dropPolicy: "oldest" | "newest";
  baseMs: number;
  maxMs: number;
  maxAttempts: number;
  budget: number;
  requestTimeoutMs: number;
  createResources: boolean;
  maxConcurrentPuts: number;
}

function settingsOf(options: CloudWatchSinkOptions): Settings {
  return {
    flushIntervalMs: options.flushIntervalMs ?? 5000,
    maxQueueEvents: options.maxQueueEvents ?? 20_000,
    maxQueueBytes: options.maxQueueBytes ?? 2 * 1024 * 1024,
    dropPolicy: options.dropPolicy ?? "newest",
    baseMs: options.retry?.baseMs ?? 500,
    maxMs: options.retry?.maxMs ?? 20_000,
    maxAttempts: Math.max(1, options.retry?.maxAttempts ?? 5),
    budget: options.retry?.budget ?? 20,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    createResources: options.createLogGroup ?? true,
    maxConcurrentPuts: Math.max(1, Math.floor(options.maxConcurrentPuts ?? 4)),
  };
}

/** The sink; see the module comment. State lives in the declared fields below. */
class CloudWatchLogSink implements CloudWatchSink {
  readonly name = "cloudwatch";
  readonly #settings: Settings;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #report: Report;
  readonly #client: CloudWatchLogsClient;
  readonly #ownsClient: boolean;
  /** PutLogEvents as one signed fetch (see put.ts); absent with an injected client. */
  readonly #put: PutLogEvents | undefined;
  readonly #target: LogTarget;
  readonly #stats = emptyStats();
  readonly #queue: EventQueue;
  /** Aborted at the shutdown deadline: wakes every backoff sleep and cancels every call. */
  readonly #abandon = new AbortController();
  #retryTokens: number;
  #resourcesReady: boolean;
  /** Batches whose PutLogEvents is out (at most maxConcurrentPuts). */
  readonly #inflight = new Set<Batch>();
  /**
   * Lines at the queue's front that a flush (timer or forceFlush) wants sent now, full batch
   * or not. Lines pushed after it wait for a full batch or the next interval, so a steady
   * stream goes out in full batches instead of one small call per round trip.
   */
  #flushCount = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerImmediate = false;
  /** The turn that writes pushed lines into the batch body, ~1 ms after the first of them. */
  #encodeTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #encodeTurn = () => {
    this.#encodeTimer = null;
    try {
      this.#queue.encode();
    } catch (error) {
      this.#report("encode", `encoding lines failed: ${errorText(error)}`);
    }
  };
  /** The sending lanes running, each one batch at a time (at most maxConcurrentPuts). */
  readonly #lanes = new Set<Promise<void>>();
  /** A lane gave up on a batch: the service is unwell; the lanes stop after their batch. */
  #stalled = false;
  /** shutdown() was called: new lines are refused. */
  #stopped = false;
  #shutdown: Promise<void> | null = null;

  constructor(options: CloudWatchSinkOptions) {
    this.#settings = settingsOf(options);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#report = throttledDiagnostic(options.diagnostic ?? defaultDiagnostic, {
      prefix: "cloudwatch",
      now: this.#now,
    });
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? createCloudWatchLogsClient(options);
    this.#put = options.client === undefined
      ? createPutLogEvents({
        endpoint: resolvedEndpoint(this.#client, options),
        region: options.region,
        credentials: options.credentials,
        maxResponseBytes: options.maxResponseBytes ?? MAX_RESPONSE_BYTES,
        now: this.#now,
      })
      : undefined;
    this.#target = { logGroupName: options.logGroup, logStreamName: options.logStream };
    this.#queue = new EventQueue(this.#target);
    this.#retryTokens = this.#settings.budget;
    this.#resourcesReady = !this.#settings.createResources;
  }

  get #abandoned(): boolean {
    return this.#abandon.signal.aborted;
  }

  push(line: LogLine): void {
    try {
      this.#stats.queued++;
      if (this.#stopped) {
        this.#stats.dropped++;
        this.#report("after-shutdown", "line pushed after shutdown was dropped");
        return;
      }
      const event = this.#toEvent(line);
      if (event === undefined) {
        this.#stats.dropped++;
        return;
      }
      if (!this.#makeRoom(event)) return this.#dropOne();
      const queue = this.#queue;
      queue.push(event);
      this.#encodeTimer ??= setTimeout(this.#encodeTurn, ENCODE_DELAY_MS);
      // Most pushes find the interval timer already set and no full batch: nothing to do.
      if (this.#timer === null || queue.hasFullBatch()) {
        this.#scheduleFlush(queue.hasFullBatch());
      }
    } catch (error) {
      this.#report("push", `push failed: ${errorText(error)}`);
    }
  }

  intakeRoom(next: LogLine): number {
    if (this.#stopped) return 0;
    const queue = this.#queue;
    if (queue.length === 0) return 1;
    const { maxQueueEvents, maxQueueBytes } = this.#settings;
    // The line's counted size once queued is at most this (#toEvent only shortens it).
    const size = String(next.message).length + EVENT_OVERHEAD_BYTES;
    return 2 * queue.length < maxQueueEvents && 2 * (queue.bytes + size) <= maxQueueBytes ? 1 : 0;
  }

  pending(): number {
    let out = 0;
    for (const batch of this.#inflight) if (!batch.settled) out += batch.count;
    return this.#queue.length + out;
  }

  async forceFlush(deadlineMs: number): Promise<void> {
    try {
      await this.#drain(deadlineMs);
    } catch (error) {
      this.#report("flush", `flush failed: ${errorText(error)}`);
    }
  }

  shutdown(deadlineMs: number): Promise<void> {
    this.#shutdown ??= this.#shutdownOnce(deadlineMs).catch((error) => {
      this.#report("shutdown-error", `shutdown failed: ${errorText(error)}`);
    });
    return this.#shutdown;
  }

  stats(): SinkStats {
    return { ...this.#stats };
  }

  /** Our own `{timestamp, message}` (the batch body serialises it as it is), or undefined. */
  #toEvent(line: LogLine): QueuedEvent | undefined {
    let message = typeof line.message === "string" ? line.message : String(line.message);
    if (message.length === 0) return undefined;
    // At most 3 UTF-8 bytes per UTF-16 unit: only a line this long can be over the limit.
    if (message.length * 3 > MAX_EVENT_BYTES) {
      const fitted = truncateUtf8(message, MAX_EVENT_BYTES);
      if (fitted.truncated) {
        // Counted where it is shortened, as the OTLP logs sink does; still queued and sent.
        this.#stats.truncated = (this.#stats.truncated ?? 0) + 1;
        this.#report("truncated", `events over ${MAX_EVENT_BYTES} bytes shortened to fit`);
      }
      message = fitted.message;
    }
    const timestamp = Number.isFinite(line.timestamp) ? Math.trunc(line.timestamp) : this.#now();
    return { timestamp, message };
  }

  /** Applies the drop policy; false when `event` itself must go. */
  #makeRoom(event: QueuedEvent): boolean {
    const { maxQueueEvents, maxQueueBytes, dropPolicy } = this.#settings;
    const queue = this.#queue;
    const size = countedSize(event);
    if (queue.length < maxQueueEvents && queue.bytes + size <= maxQueueBytes) return true;
    if (dropPolicy === "newest") return false;
    while (
      queue.length > 0 && (queue.length >= maxQueueEvents || queue.bytes + size > maxQueueBytes)
    ) {
      queue.dropOldest();
      this.#dropOne();
    }
    return size <= maxQueueBytes;
  }

  #dropOne(): void {
    this.#stats.dropped++;
    const { maxQueueEvents, maxQueueBytes, dropPolicy } = this.#settings;
    this.#report(
      "queue-full",
      `queue full (${maxQueueEvents} events / ${maxQueueBytes} bytes), dropping ${dropPolicy} lines`,
    );
  }

  #scheduleFlush(immediate: boolean): void {
    if (this.#stopped) return;
    if (this.#timer !== null) {
      if (!immediate || this.#timerImmediate) return;
      clearTimeout(this.#timer);
    }
    this.#timerImmediate = immediate;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // The interval has passed for everything queued; a full batch alone needs no flush.
      if (!immediate) this.#flushCount = this.#queue.length;
      this.#kick();
    }, immediate ? 0 : this.#settings.flushIntervalMs);
  }

  /** Whatever the lanes are doing, settled; null when none runs. */
  get #pumping(): Promise<unknown> | null {
    return this.#lanes.size === 0 ? null : Promise.all(this.#lanes);
  }

  /** True when a lane has a batch to take: a full one, or any while a flush wants them out. */
  #hasWork(): boolean {
    const queue = this.#queue;
    return !this.#abandoned && !this.#stalled &&
      (this.#flushCount > 0 ? queue.length > 0 : queue.hasFullBatch());
  }

  /** Starts lanes while there is work and room; the first after a stall tries again. */
  #kick(): void {
    if (this.#lanes.size === 0) this.#stalled = false;
    while (this.#lanes.size < this.#settings.maxConcurrentPuts && this.#hasWork()) {
      const out = this.#inflight.size;
      // A lane never rejects: nothing awaits it but a flush, and an unhandled rejection would
      // end the process over a log line.
      const lane: Promise<void> = this.#lane().catch((error) => {
        this.#stalled = true;
        this.#report("send", `sending lines failed: ${errorText(error)}`);
      }).finally(() => {
        this.#lanes.delete(lane);
        if (this.#lanes.size > 0) return;
        if (this.#queue.length === 0) this.#flushCount = 0;
        // After a stall wait a whole interval even if a full batch is ready, so an outage
        // costs one attempt per interval instead of a busy loop.
        if (this.#queue.length > 0) {
          this.#scheduleFlush(!this.#stalled && this.#queue.hasFullBatch());
        }
      });
      this.#lanes.add(lane);
      if (this.#inflight.size === out) break; // it found no batch ready to take
    }
  }

  /** One lane: batch after batch, one call at a time, until none is ready or one stalls. */
  async #lane(): Promise<void> {
    const queue = this.#queue;
    while (this.#hasWork()) {
      const sealed = queue.next(this.#flushCount > 0);
      if (sealed === undefined) break;
      const batch: Batch = { sealed, count: sealed.count, settled: false };
      this.#flushCount = Math.max(0, this.#flushCount - batch.count);
      this.#inflight.add(batch);
      const delivered = await this.#sendBatch(batch);
      this.#inflight.delete(batch);
      queue.recycle(sealed); // the call is over: fetch no longer reads the body
      if (!delivered) {
        this.#stalled = true;
        break;
      }
    }
  }

  #settle(batch: Batch, field: "sent" | "dropped" | "failed", rejected = 0): void {
    if (batch.settled) return;
    batch.settled = true;
    this.#stats.rejected += rejected;
    this.#stats[field] += batch.count - rejected;
  }

  /** Sends one batch until it is settled; true when the service is fit for the next one. */
  async #sendBatch(batch: Batch): Promise<boolean> {
    let attempt = 0;
    let recreated = false;
    while (!batch.settled) {
      attempt++;
      const outcome = await this.#attemptSend(batch);
      if (batch.settled) return false; // abandoned by shutdown while the call was out
      if (outcome.kind === "not-found" && this.#settings.createResources && !recreated) {
        recreated = true;
        this.#resourcesReady = false;
        this.#stats.retried++;
        attempt--; // recreating the stream is not the service failing
        continue;
      }
      if (outcome.kind !== "retry") return this.#finish(batch, outcome);
      if (!(await this.#backoff(batch, attempt, outcome.reason))) return false;
    }
    return false;
  }

  /** Settles `batch` by a final outcome; true when the service is fit for the next batch. */
  #finish(batch: Batch, outcome: Exclude<Outcome, { kind: "retry" }>): boolean {
    const size = batch.count;
    switch (outcome.kind) {
      case "ok":
        this.#retryTokens = Math.min(this.#settings.budget, this.#retryTokens + 1);
        if (outcome.rejected > 0) {
          this.#report("rejected", `${outcome.rejected} events rejected as too old or too new`);
        }
        this.#settle(batch, "sent", outcome.rejected);
        return true;
      case "aborted":
        this.#settle(batch, "dropped");
        return false;
      case "failed":
        this.#report(`failed:${outcome.reason}`, `batch of ${size} refused: ${outcome.reason}`);
        this.#settle(batch, "failed");
        return true; // the service is up, the batch was bad: carry on with the next
      case "not-found": {
        const { logGroupName, logStreamName } = this.#target;
        this.#report("not-found", `log group or stream ${logGroupName}/${logStreamName} missing`);
        this.#settle(batch, "failed");
        return true;
      }
    }
  }

  /** Waits before the next attempt; false (batch dropped) when the retries are spent. */
  async #backoff(batch: Batch, attempt: number, reason: string): Promise<boolean> {
    const { maxAttempts, maxMs, baseMs } = this.#settings;
    if (attempt >= maxAttempts || this.#retryTokens < 1) {
      const why = attempt >= maxAttempts ? `${attempt} attempts` : "retry budget spent";
      this.#report("exhausted", `dropped ${batch.count} events after ${why}: ${reason}`);
      this.#settle(batch, "dropped");
      return false;
    }
    this.#retryTokens--;
    this.#stats.retried++;
    this.#report(`retry:${reason}`, `retrying after ${reason}`);
    await sleep(
      this.#random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)),
      this.#abandon.signal,
    );
    if (this.#abandoned) this.#settle(batch, "dropped");
    return true;
  }

  async #attemptSend(batch: Batch): Promise<Outcome> {
    try {
      if (!this.#resourcesReady) {
        await this.#ensureResources();
        this.#resourcesReady = true;
      }
      const output = await this.#putLogEvents(batch.sealed.body);
      const rejected = countRejected(output.rejectedLogEventsInfo, batch.count);
      return { kind: "ok", rejected };
    } catch (error) {
      return classify(error, this.#abandoned);
    }
  }

  async #ensureResources(): Promise<void> {
    const { logGroupName } = this.#target;
    const found = await this.#call<DescribeLogGroupsCommandOutput>(
      new DescribeLogGroupsCommand({ logGroupNamePrefix: logGroupName, limit: 50 }),
    );
    if (!found.logGroups?.some((g) => g.logGroupName === logGroupName)) {
      await ignoreAlreadyExists(this.#call(new CreateLogGroupCommand({ logGroupName })));
    }
    await ignoreAlreadyExists(this.#call(new CreateLogStreamCommand(this.#target)));
  }

  /** PutLogEvents with a prepared body, under the per-request timeout; shutdown cancels it. */
  #putLogEvents(body: Uint8Array): Promise<PutLogEventsOutput> {
    if (this.#put === undefined) {
      return this.#call<PutLogEventsOutput>(putLogEventsWithBody(this.#target, body));
    }
    return this.#put(body, callSignal(this.#settings.requestTimeoutMs, this.#abandon.signal));
  }

  /** One AWS call, body included, under the per-request timeout; shutdown cancels it. */
  #call<Output>(command: object): Promise<Output> {
    const abortSignal = callSignal(this.#settings.requestTimeoutMs, this.#abandon.signal);
    return this.#client.send(command as never, { abortSignal }) as Promise<Output>;
  }

  /** Sends until nothing is pending or the deadline passes; resolves by the deadline. */
  async #drain(deadlineMs: number): Promise<void> {
    while (this.pending() > 0 && !this.#abandoned && this.#now() < deadlineMs) {
      this.#flushCount = this.#queue.length;
      this.#kick();
      const running = this.#pumping;
      if (running === null) break;
      if (!(await beforeDeadline(running, deadlineMs, this.#now)) || this.#stalled) return;
    }
  }

  async #shutdownOnce(deadlineMs: number): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#encodeTimer !== null) clearTimeout(this.#encodeTimer);
    this.#encodeTimer = null;
    await this.forceFlush(deadlineMs);
    const lost = this.pending();
    this.#abandon.abort(new ShutdownError());
    // A call cancelled now settles at once; one whose answer already arrived counts as sent.
    const running = this.#pumping;
    if (running !== null) {
      await beforeDeadline(running, Math.max(deadlineMs, this.#now() + SETTLE_GRACE_MS), this.#now);
    }
    for (const batch of this.#inflight) this.#settle(batch, "dropped");
    this.#stats.dropped += this.#queue.drain();
    if (lost > 0) this.#report("shutdown", `shutdown deadline passed, ${lost} lines abandoned`);
    if (this.#ownsClient) this.#client.destroy();
  }
}

/**
 * How long pushed lines wait before they are written into the batch body: long enough that one
 * turn writes many (a request's lines, its neighbours'), short enough that their strings are
 * still young when they are dropped.
 */
const ENCODE_DELAY_MS = 1;
/** How long shutdown lets cancelled calls settle, so an answer already in counts as sent. */
const SETTLE_GRACE_MS = 50;

class ShutdownError extends Error {
  override name = "ShutdownError";
}

async function ignoreAlreadyExists(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (errorName(error) !== "ResourceAlreadyExistsException") throw error;
  }
}

const RETRYABLE_NAMES = new Set([
  "ThrottlingException",
  "ServiceUnavailableException",
  "InternalFailure",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "OperationAbortedException",
  "ResponseTooLargeError",
  "CredentialsProviderError",
]);

function classify(error: unknown, abandoned: boolean): Outcome {
  if (abandoned) return { kind: "aborted" };
  const name = errorName(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata
    ?.httpStatusCode;
  if (name === "ResourceNotFoundException") return { kind: "not-found" };
  // Obsolete since the sequence token is ignored; if it comes back, the data is stored.
  if (name === "DataAlreadyAcceptedException") return { kind: "ok", rejected: 0 };
  if (RETRYABLE_NAMES.has(name) || name === "AbortError") {
    return { kind: "retry", reason: name === "AbortError" ? "TimeoutError" : name };
  }
  if (status === undefined) return { kind: "retry", reason: "network error" };
  if (status >= 500 || status === 429) return { kind: "retry", reason: `HTTP ${status}` };
  return { kind: "failed", reason: name };
}

function defaultDiagnostic(message: string): void {
  // deno-lint-ignore no-console
  console.warn(message);
}
