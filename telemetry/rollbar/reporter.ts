/**
 * Error reporting through the Rollbar SDK (rollbar 3.1.0), wrapped so it is bounded, counted,
 * scrubbed and never in the request's way. The SDK builds each item (stack frames, server and
 * notifier blocks, its scrubbing); we post it ourselves (telemetry/rollbar/transport.ts), so
 * every answer is read to a small cap and every post ends at its timeout. See
 * {@linkcode createRollbarReporter} for where else we step around the SDK, and why.
 */
import process from "node:process";
import Rollbar from "rollbar";
import {
  type Diagnostic,
  emptyStats,
  type ErrorContext,
  type ErrorDestination,
  type MessageLevel,
  type Sink,
  type SinkStats,
} from "../types.ts";
import { CLIENT_ADDRESS_HEADERS, redactSecretValues, SECRET_NAMES } from "../scrub.ts";
import { beforeDeadline, callSignal } from "../util/deadline.ts";
import { errorText, toError } from "../util/errors.ts";
import { type Report, throttledDiagnostic } from "../util/throttle.ts";
import {
  cleanError,
  cleanText,
  customData,
  fitPayload,
  prepare,
  type Prepared,
  STRUCTURAL_FIELDS,
} from "./payload.ts";
import { postItem } from "./transport.ts";

export type { ErrorContext } from "../types.ts";

/** Options for the Rollbar reporter; the composition root fills them from the environment. */
export interface RollbarOptions {
  /** ROLLBAR_ACCESS_TOKEN (post_server_item scope). */
  accessToken: string;
  /** ROLLBAR_ENVIRONMENT, default "development". */
  environment?: string;
  /** ROLLBAR_CODE_VERSION or the git commit when known. */
  codeVersion?: string;
  /** ROLLBAR_ENDPOINT (tests point it at the stand-in); Rollbar's item API by default. */
  endpoint?: string;
  /** Project root, so stack frames read relative to it in Rollbar. */
  root?: string;
  /** Items accepted per minute before dropping; default 60, like the SDK. */
  itemsPerMinute?: number;
  /** Items in flight at once; beyond it new items are dropped and counted. Default 100. */
  maxPending?: number;
  /** Report uncaught exceptions and unhandled rejections at level "error". Default false. */
  captureUncaught?: boolean;
  /** `server.host` in items; avoids relying on os.hostname(). */
  host?: string;
  /** Where the reporter's own failures go (at most once a minute). */
  diagnostic?: Diagnostic;
  /** Clock for the rate-limit window and diagnostic throttling; Date.now by default. */
  now?: () => number;
  /** Serialised size an item is cut down to; default 112 KiB, under Rollbar's documented 128 KB. */
  maxPayloadBytes?: number;
  /** Per item post, answer included. Default 10,000 ms. */
  requestTimeoutMs?: number;
}

/** A sink that reports errors and messages to Rollbar. */
export interface ErrorReporter extends Sink, ErrorDestination {}

const DEFAULT_ENDPOINT = "https://api.rollbar.com/api/1/item/";
const DEFAULT_MAX_PENDING = 100;
// Under the documented 128 KB with room for what the SDK appends after our transform
// (notifier.configured_options, notifier.diagnostic.raw_error: a few KiB).
const DEFAULT_MAX_PAYLOAD_BYTES = 112 * 1024;
const WINDOW_MS = 60_000;
/** How long shutdown lets cancelled posts settle, so an answer already in counts as sent. */
const SETTLE_GRACE_MS = 50;

/** Rollbar's server defaults (rollbar 3.1.0 src/defaults.js), repeated so ours add to them. */
const ROLLBAR_DEFAULT_SCRUB_HEADERS = [
  "authorization",
  "www-authorization",
  "http_authorization",
  "omniauth.auth",
  "cookie",
  "oauth-access-token",
  "x-access-token",
  "x_csrf_token",
  "http_x_csrf_token",
  "x-csrf-token",
];

/** One reported item from submit() until its post is answered, fails or is abandoned. */
interface Item {
  readonly info: Prepared;
  /** The SDK handed the built item to our checkIgnore: our post settles it from now on. */
  captured: boolean;
  settled: boolean;
}

/**
 * Creates the Rollbar reporter. Where it steps around the SDK, and why:
 * - Sending: the SDK's transport buffers any answer whole and has no overall timeout, so a
 *   hostile endpoint could grow the process without bound. Our `checkIgnore` takes the
 *   finished item from the SDK, which then sends nothing; we post it with a bounded read.
 * - Rate limit: the SDK's limiter is one module-level object shared by every Rollbar instance,
 *   reads Date.now, and replaces the (limit+1)th item by a "limit reached" notice whose callback
 *   reports success; we keep our own per-reporter window (counted as dropped) and turn the
 *   SDK's off (`itemsPerMinute: 0`).
 * - Flush: `wait(cb)` keeps a single callback and polls every 500 ms; we track our own items.
 * - Uncaught errors: the SDK reports them at "debug" unless `uncaughtErrorLevel` is set, and
 *   its handlers are never removed; we install our own and remove them on shutdown.
 * - Request data: built by us (`addRequestData`), without body or client-address headers.
 * - Size: the SDK only truncates above 512 KiB, over Rollbar's documented 128 KB.
 */
export function createRollbarReporter(options: RollbarOptions): ErrorReporter {
  return new RollbarReporter(options);
}

/** The reporter; see {@linkcode createRollbarReporter}. State lives in the declared fields. */
class RollbarReporter implements ErrorReporter {
  readonly name = "rollbar";
  readonly #options: RollbarOptions;
  readonly #now: () => number;
  readonly #report: Report;
  readonly #stats = emptyStats();
  readonly #rollbar: Rollbar;
  /** Our request objects, as the SDK hands them back to addRequestData and checkIgnore. */
  readonly #items = new WeakMap<object, Item>();
  readonly #pending = new Set<Item>();
  readonly #idleWaiters = new Set<() => void>();
  /** Aborted at the shutdown deadline: ends every post still out. */
  readonly #abandon = new AbortController();
  readonly #installed: boolean;
  readonly #onUncaught = (error: unknown) => {
    this.reportError(error, { custom: { uncaught: true } });
  };
  #windowStart: number;
  #windowCount = 0;
  #closed = false;

  constructor(options: RollbarOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    // deno-lint-ignore no-console
    const diagnostic = options.diagnostic ?? ((message: string) => console.error(message));
    this.#report = throttledDiagnostic(diagnostic, { prefix: "rollbar", now: this.#now });
    this.#windowStart = this.#now();
    this.#rollbar = this.#createSdk();
    this.#installed = options.captureUncaught === true;
    if (this.#installed) {
      process.on("uncaughtException", this.#onUncaught);
      process.on("unhandledRejection", this.#onUncaught);
    }
  }

  reportError(error: unknown, context: ErrorContext): void {
    try {
      this.#submit("error", toError(error), context);
    } catch (e) {
      this.#report("report", `could not report an error: ${errorText(e)}`);
    }
  }

  reportMessage(message: string, level: MessageLevel, context?: ErrorContext): void {
    try {
      this.#submit(level, String(message), context);
    } catch (e) {
      this.#report("report", `could not report a message: ${errorText(e)}`);
    }
  }

  async forceFlush(deadlineMs: number): Promise<void> {
    await beforeDeadline(this.#idle(), deadlineMs);
  }

  async shutdown(deadlineMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#installed) {
      process.off("uncaughtException", this.#onUncaught);
      process.off("unhandledRejection", this.#onUncaught);
    }
    if (await beforeDeadline(this.#idle(), deadlineMs)) return;
    // Posts still out are cancelled; one whose answer already arrived still counts as sent,
    // the rest are abandoned (dropped): the process exits without their answer.
    const abandoned = this.#pending.size;
    this.#abandon.abort();
    await beforeDeadline(this.#idle(), Date.now() + SETTLE_GRACE_MS);
    for (const item of [...this.#pending]) this.#settle(item, "dropped");
    this.#report("shutdown", `abandoned ${abandoned} item(s) at the shutdown deadline`);
  }

  stats(): SinkStats {
    return { ...this.#stats };
  }

  #createSdk(): Rollbar {
    const options = this.#options;
    const config: Rollbar.Configuration = {
      accessToken: options.accessToken,
      endpoint: options.endpoint ?? DEFAULT_ENDPOINT,
      environment: options.environment ?? "development",
      codeVersion: options.codeVersion,
      host: options.host,
      itemsPerMinute: 0,
      captureUncaught: false,
      captureUnhandledRejections: false,
      captureIp: "anonymize",
      captureEmail: false,
      captureUsername: false,
      autoInstrument: false,
      scrubRequestBody: true,
      scrubFields: [...SECRET_NAMES],
      scrubHeaders: [...new Set([...ROLLBAR_DEFAULT_SCRUB_HEADERS, ...SECRET_NAMES])],
      addRequestData: (data, req) => this.#addRequestData(data, req),
      transform: (data, item) => this.#transform(data, item),
      checkIgnore: (_uncaught, args, payload) => this.#take(args, payload),
      reportLevel: "debug",
      verbose: false,
    };
    // Options the SDK reads but its typings do not list: `root` (server.root, src/server/
    // transforms.js) and the logger level "disable" (src/logger.js) — the SDK's logger writes
    // to the console, and our failures go to `diagnostic` instead.
    const untyped = { root: options.root, logLevel: "disable" as Rollbar.Level };
    return new Rollbar({ ...config, ...untyped });
  }

  #addRequestData(data: Record<string, unknown>, req: Record<string, unknown>): void {
    const info = this.#items.get(req)?.info;
    if (!info) return;
    if (info.request) data.request = info.request;
    if (info.person) data.person = info.person;
    if (info.route) data.context = info.route;
  }

  #transform(data: Record<string, unknown>, item: Record<string, unknown>): void {
    // A throwing transform is removed by the SDK for good, so nothing may escape here.
    try {
      const req = item.request;
      const info = typeof req === "object" && req !== null ? this.#items.get(req)?.info : undefined;
      const server = data.server as Record<string, unknown> | undefined;
      // argv can carry tokens passed on the command line.
      if (server) delete server.argv;
      const request = data.request as Record<string, unknown> | undefined;
      const headers = request?.headers as Record<string, unknown> | undefined;
      if (headers) {
        for (const name of Object.keys(headers)) {
          if (CLIENT_ADDRESS_HEADERS.includes(name.toLowerCase())) delete headers[name];
        }
      }
      redactSecretValues(data, info?.secrets ?? [], STRUCTURAL_FIELDS);
      fitPayload(data, this.#options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
    } catch (error) {
      this.#report("scrub", `could not scrub an item: ${errorText(error)}`);
    }
  }

  /** The SDK's checkIgnore: takes the finished item and posts it; the SDK sends nothing. */
  #take(args: unknown, payload: unknown): boolean {
    try {
      // The SDK passes the call's `arguments` object: array-like, not an Array.
      const list = typeof args === "object" && args !== null
        ? Array.from(args as ArrayLike<unknown>)
        : [];
      const req = list.find((arg) =>
        typeof arg === "object" && arg !== null && this.#items.has(arg)
      );
      const item = typeof req === "object" && req !== null ? this.#items.get(req) : undefined;
      if (item === undefined || item.settled) return true;
      item.captured = true;
      void this.#post(item, payload as Record<string, unknown>);
    } catch (error) {
      this.#report("take", `could not take an item from the SDK: ${errorText(error)}`);
    }
    return true;
  }

  async #post(item: Item, data: Record<string, unknown>): Promise<void> {
    // As the SDK's own buildPayload: the context is a string of at most 255 characters.
    if (typeof data.context === "string") data.context = data.context.slice(0, 255);
    let body: string;
    try {
      body = JSON.stringify({ data });
    } catch (error) {
      this.#report("send", `could not serialise an item: ${errorText(error)}`);
      return this.#settle(item, "failed");
    }
    const outcome = await postItem({
      endpoint: this.#options.endpoint ?? DEFAULT_ENDPOINT,
      accessToken: this.#options.accessToken,
      body,
      signal: callSignal(this.#options.requestTimeoutMs ?? 10_000, this.#abandon.signal),
    });
    if (outcome.ok) return this.#settle(item, "sent");
    // Cancelled by shutdown: abandoned, not refused.
    if (this.#abandon.signal.aborted) return this.#settle(item, "dropped");
    this.#report("send", `could not send an item: ${outcome.reason}`);
    this.#settle(item, "failed");
  }

  #submit(level: MessageLevel, subject: Error | string, context: ErrorContext | undefined): void {
    this.#stats.queued++;
    const refusal = this.#refusal();
    if (refusal !== undefined) return this.#drop(refusal);
    const req: Record<string, unknown> = { headers: {} };
    const item: Item = { info: prepare(context), captured: false, settled: false };
    this.#items.set(req, item);
    this.#pending.add(item);
    // Called by the SDK once its predicates ran: an item our checkIgnore did not take was
    // stopped by the SDK (or failed in it) and never sent.
    const done = (error: unknown) => {
      if (item.captured) return;
      if (error) this.#report("send", `could not build an item: ${errorText(error)}`);
      this.#settle(item, error ? "failed" : "dropped");
    };
    try {
      // The SDK copies the raw error (message and stack) into notifier.diagnostic.raw_error
      // after every scrubbing step and after `transform`, so the error is cleaned before it
      // goes in.
      const secrets = item.info.secrets;
      const clean = typeof subject === "string"
        ? cleanText(subject, secrets)
        : cleanError(subject, secrets, 0);
      const args: Rollbar.LogArgument[] = [clean, req, customData(context), done];
      this.#rollbar[level](...args);
    } catch (error) {
      done(error);
    }
  }

  /** Why a new item cannot be taken now, if it cannot. */
  #refusal(): string | undefined {
    if (this.#closed) return "reporter is shut down";
    const maxPending = this.#options.maxPending ?? DEFAULT_MAX_PENDING;
    if (this.#pending.size >= maxPending) return `${maxPending} items already in flight`;
    const t = this.#now();
    if (t - this.#windowStart >= WINDOW_MS || t < this.#windowStart) {
      this.#windowStart = t;
      this.#windowCount = 0;
    }
    const perMinute = this.#options.itemsPerMinute ?? 60;
    if (this.#windowCount >= perMinute) return `${perMinute} items per minute reached`;
    this.#windowCount++;
    return undefined;
  }

  #drop(why: string): void {
    this.#stats.dropped++;
    this.#report("drop", `dropped an item: ${why}`);
  }

  #settle(item: Item, outcome: "sent" | "failed" | "dropped"): void {
    if (item.settled) return;
    item.settled = true;
    this.#pending.delete(item);
    this.#stats[outcome]++;
    if (this.#pending.size > 0) return;
    for (const wake of this.#idleWaiters) wake();
    this.#idleWaiters.clear();
  }

  #idle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.add(resolve));
  }
}
