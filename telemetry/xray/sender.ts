/**
 * The UDP side of the X-Ray sink: a bounded queue drained in timed batches, one datagram per
 * document (the daemon reads one document per datagram), written through socket.ts's socket.
 * Serialising happens here, off the request path. The daemon's host name is
 * resolved once, by at most one lookup at a time, and the address reused for every datagram:
 * a host whose DNS never answers costs one pending lookup, and the documents waiting for it
 * stay within the queue's bound (the rest are dropped and counted).
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { beforeDeadline, sleep } from "../util/deadline.ts";
import { errorText } from "../util/errors.ts";
import { type Report, throttledDiagnostic } from "../util/throttle.ts";
import type { Diagnostic, SinkStats } from "../types.ts";
import { type DatagramSocket, type DatagramTransport, openDatagramSocket } from "./socket.ts";

// About 48 KiB per millisecond at most (and one datagram at least): under load a timer fires
// late, so a burst must keep up with thousands of requests per second, yet stay well within a
// daemon's receive buffer (Linux's default holds about 200 KiB), whatever the datagram sizes.
const BURST_BYTES = 48 * 1024;
const BURST_PAUSE_MS = 1;
/** A lookup that has not answered by then is given up (it may still finish in the resolver). */
const LOOKUP_TIMEOUT_MS = 5_000;
/** Pause before the next lookup after one failed, doubling up to the ceiling. */
const LOOKUP_RETRY_MS = 1_000;
const LOOKUP_RETRY_MAX_MS = 30_000;

/** Where the daemon listens. */
export interface DaemonAddress {
  host: string;
  port: number;
}

/** Resolves a host name to one address (node:dns lookup, which honours /etc/hosts). */
export type Lookup = (host: string) => Promise<{ address: string; family: number }>;

/** Options for {@link createUdpSender}. */
export interface UdpSenderOptions<T> {
  address: DaemonAddress;
  /** Turns a queued item into datagrams; [] means it could not be sent at any size. */
  encode: (item: T) => Uint8Array[];
  stats: SinkStats;
  now: () => number;
  diagnostic: Diagnostic;
  flushIntervalMs: number;
  maxQueue: number;
  /** The resolver for a daemon host name (tests: one that never answers). */
  lookup?: Lookup;
  /** Forces a socket implementation (tests run both); by default Deno's when available. */
  transport?: DatagramTransport;
  /** The pump's pause between two bursts (default 1 ms; tests: one that never ends). */
  burstPauseMs?: number;
}

/** A bounded, batching datagram sender. */
export interface UdpSender<T> {
  /** Accepts an item or drops it (counted) when the queue is full or closed. */
  enqueue(item: T): void;
  /** Sends everything queued and waits for the socket's callbacks until the deadline. */
  flush(deadlineMs: number): Promise<void>;
  /** Flushes, closes the socket and clears the timer; later calls are harmless. */
  shutdown(deadlineMs: number): Promise<void>;
  /** Lookups started so far (a literal address needs none). */
  lookups(): number;
}

/** Creates the sender; the socket opens on the first send, not at construction. */
export function createUdpSender<T>(options: UdpSenderOptions<T>): UdpSender<T> {
  return new DatagramSender(options);
}

/** A resolved daemon address. */
interface Resolved {
  address: string;
  family: 4 | 6;
}

/** The sender; state lives in the declared fields. */
class DatagramSender<T> implements UdpSender<T> {
  readonly #options: UdpSenderOptions<T>;
  readonly #stats: SinkStats;
  readonly #lookup: Lookup;
  /** Documents waiting for the next batch. */
  #queue: T[] = [];
  /** Encoded datagrams waiting for the socket (and for the address). */
  readonly #outbox: Uint8Array[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #socket: DatagramSocket | undefined;
  #resolved: Resolved | undefined;
  #resolving: Promise<void> | undefined;
  #lookups = 0;
  #lookupRetryMs = LOOKUP_RETRY_MS;
  /** Datagrams handed to the socket whose callback has not come yet. */
  #inflight = 0;
  #waiters: Array<() => void> = [];
  #pumping: Promise<void> | undefined;
  /** Ends the pump's pause between two bursts early (set while it pauses). */
  #wakePump: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  /** Ended at shutdown: wakes a lookup backoff, stops the pump. */
  readonly #stop = new AbortController();
  readonly #throttled: Report;
  /** Shutdown counted the sends still out as dropped: their late callbacks count nothing. */
  #final = false;

  constructor(options: UdpSenderOptions<T>) {
    this.#options = options;
    this.#stats = options.stats;
    this.#lookup = options.lookup ?? ((host) => dnsLookup(host));
    this.#throttled = throttledDiagnostic(options.diagnostic, { prefix: "xray", now: options.now });
    const family = isIP(options.address.host);
    if (family !== 0) {
      this.#resolved = { address: options.address.host, family: family === 6 ? 6 : 4 };
    }
  }

  /** Bound, so the tracker can pass it around as a function. */
  readonly enqueue = (item: T): void => {
    // Every offered document counts as queued, so a refused one keeps the identity exact.
    this.#stats.queued++;
    const full = this.#queue.length + this.#outbox.length >= this.#options.maxQueue;
    if (this.#closing !== undefined || full) {
      this.#stats.dropped++;
      if (full) this.#report("X-Ray queue full: documents are being dropped");
      return;
    }
    this.#queue.push(item);
    this.#schedule();
  };

  async flush(deadlineMs: number): Promise<void> {
    this.#clearTimer();
    // Past the deadline nothing new leaves: what is still here is counted by shutdown.
    if (this.#options.now() < deadlineMs) this.#drain();
    await this.#settled(deadlineMs);
  }

  shutdown(deadlineMs: number): Promise<void> {
    this.#closing ??= this.#shutdownOnce(deadlineMs);
    return this.#closing;
  }

  lookups(): number {
    return this.#lookups;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closing !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, this.#options.flushIntervalMs);
    // A pending batch must not keep the process alive; shutdown flushes it.
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Each distinct failure at most once a minute, so a missing daemon does not flood stderr. */
  #report(message: string): void {
    this.#throttled(message, message);
  }

  /** Encodes the queued items into the outbox and starts pumping it out. */
  #drain(): void {
    if (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      for (const item of batch) this.#encode(item);
    }
    if (this.#outbox.length === 0) return;
    // A pump pausing between bursts goes on now: the pause is one timer, and a pump that
    // waits on a timer that never fires would hold the outbox until it overflows.
    if (this.#pumping !== undefined) this.#wakePump?.();
    else {
      this.#pumping = this.#pump().finally(() => {
        this.#pumping = undefined;
      });
    }
  }

  #encode(item: T): void {
    let datagrams: Uint8Array[];
    try {
      datagrams = this.#options.encode(item);
    } catch (error) {
      this.#stats.dropped++;
      this.#report(`X-Ray document could not be encoded: ${errorText(error)}`);
      return;
    }
    if (datagrams.length === 0) {
      this.#stats.dropped++;
      return;
    }
    // The outbox is bounded too: when the daemon side cannot keep up, drop and count.
    if (this.#outbox.length + datagrams.length > this.#options.maxQueue) {
      this.#stats.dropped++;
      this.#report("X-Ray outbox full: documents are being dropped");
      return;
    }
    // A split document becomes several datagrams; count them so the identity holds.
    this.#stats.queued += datagrams.length - 1;
    for (const datagram of datagrams) this.#outbox.push(datagram);
  }

  /**
   * Sends the outbox a burst at a time, yielding between bursts: a split document can be
   * hundreds of datagrams, and the daemon's receive buffer drops what arrives in one go.
   */
  async #pump(): Promise<void> {
    while (this.#outbox.length > 0 && !this.#stop.signal.aborted) {
      const target = this.#resolved ?? await this.#resolve();
      if (target === undefined) return; // no address yet: the outbox waits, bounded
      let bytes = 0;
      let count = 0;
      const outbox = this.#outbox;
      while (
        count < outbox.length && (count === 0 || bytes + outbox[count]!.length <= BURST_BYTES)
      ) {
        bytes += outbox[count]!.length;
        count++;
      }
      for (const datagram of outbox.splice(0, count)) this.#send(datagram, target);
      if (outbox.length > 0) await this.#pause();
    }
  }

  /** The pause between bursts: its timer, the next drain (every enqueue arms one) or shutdown. */
  async #pause(): Promise<void> {
    const wake = new AbortController();
    this.#wakePump = () => wake.abort();
    await sleep(
      this.#options.burstPauseMs ?? BURST_PAUSE_MS,
      AbortSignal.any([this.#stop.signal, wake.signal]),
    );
    this.#wakePump = undefined;
  }

  /** The one lookup in flight (started if none is); undefined while there is no address. */
  async #resolve(): Promise<Resolved | undefined> {
    this.#resolving ??= this.#lookupOnce().finally(() => {
      this.#resolving = undefined;
    });
    await this.#resolving;
    return this.#resolved;
  }

  async #lookupOnce(): Promise<void> {
    this.#lookups++;
    const host = this.#options.address.host;
    const lookup = this.#lookup(host).then((r) => r, (error: unknown) => error);
    const answered = await beforeDeadline(lookup, this.#options.now() + LOOKUP_TIMEOUT_MS);
    const result = answered ? await lookup : new Error(`no answer in ${LOOKUP_TIMEOUT_MS} ms`);
    if (result instanceof Error || typeof result !== "object" || result === null) {
      this.#report(`X-Ray daemon host ${host} could not be resolved: ${errorText(result)}`);
      // Wait before the next lookup, so a dead resolver costs one lookup at a time, spaced.
      await sleep(this.#lookupRetryMs, this.#stop.signal);
      this.#lookupRetryMs = Math.min(LOOKUP_RETRY_MAX_MS, this.#lookupRetryMs * 2);
      return;
    }
    const { address, family } = result as { address: string; family: number };
    this.#resolved = { address, family: family === 6 ? 6 : 4 };
  }

  #openSocket(family: 4 | 6): DatagramSocket {
    this.#socket ??= openDatagramSocket(
      family,
      this.#onResult,
      (error) => this.#report(`X-Ray socket error: ${error.message}`),
      this.#options.transport,
    );
    return this.#socket;
  }

  #send(datagram: Uint8Array, target: Resolved): void {
    let socket: DatagramSocket;
    try {
      socket = this.#openSocket(target.family);
    } catch (error) {
      this.#stats.failed++;
      this.#report(`X-Ray socket could not be opened: ${errorText(error)}`);
      return;
    }
    this.#inflight++;
    try {
      socket.send(datagram, target.address, this.#options.address.port);
    } catch (error) {
      this.#onResult(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Every send's outcome, whichever socket made it (one shared callback, none per send). */
  readonly #onResult = (error: Error | undefined): void => {
    if (this.#final) return;
    if (error === undefined) {
      this.#stats.sent++;
    } else {
      this.#stats.failed++;
      this.#report(`X-Ray datagram could not be sent: ${error.message}`);
    }
    this.#settle();
  };

  #settle(): void {
    this.#inflight--;
    if (this.#inflight > 0) return;
    const done = this.#waiters;
    this.#waiters = [];
    for (const resolve of done) resolve();
  }

  /** Resolves when the outbox is empty and every send has called back, or at the deadline. */
  async #settled(deadlineMs: number): Promise<void> {
    const now = this.#options.now;
    while (this.#pumping !== undefined && now() < deadlineMs) {
      if (!(await beforeDeadline(this.#pumping, deadlineMs, now))) return;
      // The pump stopped without an address: there is nothing more to wait for.
      if (this.#resolved === undefined) break;
    }
    if (this.#inflight > 0) {
      await beforeDeadline(
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        deadlineMs,
        now,
      );
    }
  }

  async #shutdownOnce(deadlineMs: number): Promise<void> {
    this.#clearTimer();
    await this.flush(deadlineMs);
    this.#stop.abort();
    // Abandoned at the deadline: what was never handed to the socket is dropped. A datagram
    // already handed over is the kernel's: its callback still counts it sent or failed.
    this.#stats.dropped += this.#outbox.length + this.#queue.length;
    this.#outbox.length = 0;
    this.#queue = [];
    if (this.#inflight > 0) {
      // Local sends call back within a tick or two; never past this small grace.
      const grace = Math.max(deadlineMs, this.#options.now() + 50);
      await this.#settled(grace);
    }
    this.#final = true;
    if (this.#inflight > 0) {
      this.#stats.dropped += this.#inflight;
      this.#inflight = 0;
    }
    await this.#closeSocket();
  }

  async #closeSocket(): Promise<void> {
    const open = this.#socket;
    this.#socket = undefined;
    await open?.close();
  }
}
