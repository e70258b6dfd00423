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
  PutLogEventsCommand,
  type PutLogEventsCommandOutput,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  countRejected,
  createEventQueue,
  EVENT_OVERHEAD_BYTES,
  type EventQueue,
  hasFullBatch,
  MAX_EVENT_BYTES,
  type QueuedEvent,
  takeBatch,
} from "./batch.ts";
import { type CloudWatchClientOptions, createCloudWatchLogsClient } from "./client.ts";
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
  /** Queue cap in AWS-counted bytes (UTF-8 + 26 per event). Default 8 MiB. */
  maxQueueBytes?: number;
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
  /** Enqueues one line: never blocks, never throws. */
  push(line: LogLine): void;
  /** Lines queued or in flight, so queued = sent + dropped + rejected + failed + pending(). */
  pending(): number;
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
  events: QueuedEvent[];
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
}

function settingsOf(options: CloudWatchSinkOptions): Settings {
  return {
    flushIntervalMs: options.flushIntervalMs ?? 5000,
    maxQueueEvents: options.maxQueueEvents ?? 20_000,
    maxQueueBytes: options.maxQueueBytes ?? 8 * 1024 * 1024,
    dropPolicy: options.dropPolicy ?? "newest",
    baseMs: options.retry?.baseMs ?? 500,
    maxMs: options.retry?.maxMs ?? 20_000,
    maxAttempts: Math.max(1, options.retry?.maxAttempts ?? 5),
    budget: options.retry?.budget ?? 20,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    createResources: options.createLogGroup ?? true,
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
  readonly #target: { logGroupName: string; logStreamName: string };
  readonly #stats = emptyStats();
  readonly #queue: EventQueue = createEventQueue();
  /** Aborted at the shutdown deadline: wakes every backoff sleep and cancels every call. */
  readonly #abandon = new AbortController();
  #retryTokens: number;
  #resourcesReady: boolean;
  #inflight: Batch | null = null;
  #flushWanted = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerImmediate = false;
  #pumping: Promise<void> | null = null;
  /** The last pump gave up on a batch: the service is unwell. */
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
    this.#target = { logGroupName: options.logGroup, logStreamName: options.logStream };
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
      this.#queue.push(event);
      this.#scheduleFlush(hasFullBatch(this.#queue));
    } catch (error) {
      this.#report("push", `push failed: ${errorText(error)}`);
    }
  }

  pending(): number {
    const inflight = this.#inflight;
    return this.#queue.length +
      (inflight !== null && !inflight.settled ? inflight.events.length : 0);
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

  #toEvent(line: LogLine): QueuedEvent | undefined {
    const text = typeof line.message === "string" ? line.message : String(line.message);
    if (text.length === 0) return undefined;
    const { message, bytes } = truncateUtf8(text, MAX_EVENT_BYTES);
    const timestamp = Number.isFinite(line.timestamp) ? Math.trunc(line.timestamp) : this.#now();
    return { timestamp, message, size: bytes + EVENT_OVERHEAD_BYTES };
  }

  /** Applies the drop policy; false when `event` itself must go. */
  #makeRoom(event: QueuedEvent): boolean {
    const { maxQueueEvents, maxQueueBytes, dropPolicy } = this.#settings;
    const queue = this.#queue;
    const full = () => queue.length >= maxQueueEvents || queue.bytes + event.size > maxQueueBytes;
    if (dropPolicy === "newest") return !full();
    while (queue.length > 0 && full()) {
      queue.shift();
      this.#dropOne();
    }
    return event.size <= maxQueueBytes;
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
      this.#flushWanted = true;
      this.#kick();
    }, immediate ? 0 : this.#settings.flushIntervalMs);
  }

  #kick(): void {
    if (this.#pumping !== null || this.#abandoned) return;
    this.#pumping = this.#pump().finally(() => {
      this.#pumping = null;
      // After a stall wait a whole interval even if a full batch is ready, so an outage
      // costs one attempt per interval instead of a busy loop.
      if (this.#queue.length > 0) this.#scheduleFlush(!this.#stalled && hasFullBatch(this.#queue));
    });
  }

  async #pump(): Promise<void> {
    this.#stalled = false;
    const queue = this.#queue;
    while (!this.#abandoned && (this.#flushWanted ? queue.length > 0 : hasFullBatch(queue))) {
      const batch: Batch = { events: takeBatch(queue), settled: false };
      if (batch.events.length === 0) break;
      this.#inflight = batch;
      const delivered = await this.#sendBatch(batch);
      this.#inflight = null;
      if (!delivered) {
        this.#stalled = true;
        break;
      }
    }
    if (queue.length === 0) this.#flushWanted = false;
  }

  #settle(batch: Batch, field: "sent" | "dropped" | "failed", rejected = 0): void {
    if (batch.settled) return;
    batch.settled = true;
    this.#stats.rejected += rejected;
    this.#stats[field] += batch.events.length - rejected;
  }

  /** Sends one batch until it is settled; true when the service is fit for the next one. */
  async #sendBatch(batch: Batch): Promise<boolean> {
    let attempt = 0;
    let recreated = false;
    while (!batch.settled) {
      attempt++;
      const outcome = await this.#attemptSend(batch.events);
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
    const size = batch.events.length;
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
      this.#report("exhausted", `dropped ${batch.events.length} events after ${why}: ${reason}`);
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

  async #attemptSend(events: QueuedEvent[]): Promise<Outcome> {
    try {
      if (!this.#resourcesReady) {
        await this.#ensureResources();
        this.#resourcesReady = true;
      }
      const command = new PutLogEventsCommand({
        ...this.#target,
        logEvents: events.map((e) => ({ timestamp: e.timestamp, message: e.message })),
      });
      const output = await this.#call<PutLogEventsCommandOutput>(command);
      return { kind: "ok", rejected: countRejected(output.rejectedLogEventsInfo, events.length) };
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

  /** One AWS call, body included, under the per-request timeout; shutdown cancels it. */
  #call<Output>(command: object): Promise<Output> {
    const abortSignal = callSignal(this.#settings.requestTimeoutMs, this.#abandon.signal);
    return this.#client.send(command as never, { abortSignal }) as Promise<Output>;
  }

  /** Sends until nothing is pending or the deadline passes; resolves by the deadline. */
  async #drain(deadlineMs: number): Promise<void> {
    while (this.pending() > 0 && !this.#abandoned && this.#now() < deadlineMs) {
      this.#flushWanted = true;
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
    await this.forceFlush(deadlineMs);
    const lost = this.pending();
    this.#abandon.abort(new ShutdownError());
    // A call cancelled now settles at once; one whose answer already arrived counts as sent.
    const running = this.#pumping;
    if (running !== null) {
      await beforeDeadline(running, Math.max(deadlineMs, this.#now() + SETTLE_GRACE_MS), this.#now);
    }
    if (this.#inflight !== null) this.#settle(this.#inflight, "dropped");
    this.#stats.dropped += this.#queue.drain().length;
    if (lost > 0) this.#report("shutdown", `shutdown deadline passed, ${lost} lines abandoned`);
    if (this.#ownsClient) this.#client.destroy();
  }
}

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
