/**
 * The UDP side of the X-Ray sink: a bounded queue drained in timed batches, one datagram per
 * document. Serialising happens here, off the request path.
 */
import dgram from "node:dgram";
import type { Diagnostic, SinkStats } from "../types.ts";

// About 48 KiB per millisecond at most (and one datagram at least): under load a timer fires
// late, so a burst must keep up with thousands of requests per second, yet stay well within a
// daemon's receive buffer (Linux's default holds about 200 KiB), whatever the datagram sizes.
const BURST_BYTES = 48 * 1024;
const BURST_PAUSE_MS = 1;

/** Where the daemon listens. */
export interface DaemonAddress {
  host: string;
  port: number;
}

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
}

/** A bounded, batching datagram sender. */
export interface UdpSender<T> {
  /** Accepts an item or drops it (counted) when the queue is full or closed. */
  enqueue(item: T): void;
  /** Sends everything queued and waits for the socket's callbacks until the deadline. */
  flush(deadlineMs: number): Promise<void>;
  /** Flushes, closes the socket and clears the timer; later calls are harmless. */
  shutdown(deadlineMs: number): Promise<void>;
}

/** Creates the sender; the socket opens on the first send, not at construction. */
export function createUdpSender<T>(options: UdpSenderOptions<T>): UdpSender<T> {
  const { address, encode, stats, now, diagnostic } = options;
  let queue: T[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let socket: dgram.Socket | undefined;
  let inflight = 0;
  let waiters: Array<() => void> = [];
  let closing: Promise<void> | undefined;
  let lastError = "";
  let abandoned = false;
  const outbox: Uint8Array[] = [];
  let pumping: Promise<void> | undefined;

  function schedule(): void {
    if (timer !== undefined || closing !== undefined) return;
    timer = setTimeout(function flushTick() {
      timer = undefined;
      drain();
    }, options.flushIntervalMs);
    // A pending batch must not keep the process alive; shutdown flushes it.
    if (typeof Deno !== "undefined") Deno.unrefTimer(timer as unknown as number);
  }

  function openSocket(): dgram.Socket {
    if (socket !== undefined) return socket;
    const created = dgram.createSocket(address.host.includes(":") ? "udp6" : "udp4");
    created.on("error", function onSocketError(error: Error) {
      report(`X-Ray socket error: ${error.message}`);
    });
    created.unref();
    socket = created;
    return created;
  }

  function report(message: string): void {
    // One line per distinct failure, so a missing daemon does not flood the console.
    if (message === lastError) return;
    lastError = message;
    diagnostic(message);
  }

  function settle(): void {
    inflight--;
    if (inflight === 0) {
      const done = waiters;
      waiters = [];
      for (const resolve of done) resolve();
    }
  }

  /** Encodes the queued items into the outbox and starts pumping it out. */
  function drain(): void {
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    for (const item of batch) {
      let datagrams: Uint8Array[];
      try {
        datagrams = encode(item);
      } catch (error) {
        stats.dropped++;
        report(`X-Ray document could not be encoded: ${String(error)}`);
        continue;
      }
      if (datagrams.length === 0) {
        stats.dropped++;
        continue;
      }
      // The outbox is bounded too: when the daemon side cannot keep up, drop and count.
      if (outbox.length + datagrams.length > options.maxQueue) {
        stats.dropped++;
        report("X-Ray outbox full: documents are being dropped");
        continue;
      }
      // A split document becomes several datagrams; count them so the identity holds.
      stats.queued += datagrams.length - 1;
      for (const datagram of datagrams) outbox.push(datagram);
    }
    pumping ??= pump().finally(() => {
      pumping = undefined;
    });
  }

  /**
   * Sends the outbox a burst at a time, yielding between bursts: a split document can be
   * hundreds of datagrams, and the daemon's receive buffer drops what arrives in one go.
   */
  async function pump(): Promise<void> {
    while (outbox.length > 0 && !abandoned) {
      let bytes = 0;
      let count = 0;
      while (
        count < outbox.length && (count === 0 || bytes + outbox[count]!.length <= BURST_BYTES)
      ) {
        bytes += outbox[count]!.length;
        count++;
      }
      for (const datagram of outbox.splice(0, count)) send(datagram);
      if (outbox.length > 0) await new Promise((resolve) => setTimeout(resolve, BURST_PAUSE_MS));
    }
  }

  function send(datagram: Uint8Array): void {
    let target: dgram.Socket;
    try {
      target = openSocket();
    } catch (error) {
      stats.failed++;
      report(`X-Ray socket could not be opened: ${String(error)}`);
      return;
    }
    inflight++;
    try {
      target.send(datagram, address.port, address.host, function onSent(error) {
        if (abandoned) return;
        if (error) {
          stats.failed++;
          report(`X-Ray datagram could not be sent: ${error.message}`);
        } else {
          stats.sent++;
        }
        settle();
      });
    } catch (error) {
      stats.failed++;
      report(`X-Ray datagram could not be sent: ${String(error)}`);
      settle();
    }
  }

  /** Resolves when the outbox is empty and every send has called back, or at the deadline. */
  async function settled(deadlineMs: number): Promise<void> {
    while (pumping !== undefined) {
      if (!(await beforeDeadline(pumping, deadlineMs))) return;
    }
    await waitForCallbacks(deadlineMs);
  }

  function beforeDeadline(work: Promise<void>, deadlineMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timeout = setTimeout(() => resolve(false), Math.max(0, deadlineMs - now()));
      work.then(() => {
        clearTimeout(timeout);
        resolve(true);
      });
    });
  }

  function waitForCallbacks(deadlineMs: number): Promise<void> {
    if (inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timeout = setTimeout(done, Math.max(0, deadlineMs - now()));
      function done(): void {
        clearTimeout(timeout);
        waiters = waiters.filter((w) => w !== done);
        resolve();
      }
      waiters.push(done);
    });
  }

  return {
    enqueue(item: T): void {
      if (closing !== undefined || queue.length + outbox.length >= options.maxQueue) {
        stats.dropped++;
        return;
      }
      stats.queued++;
      queue.push(item);
      schedule();
    },
    async flush(deadlineMs: number): Promise<void> {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      drain();
      await settled(deadlineMs);
    },
    shutdown(deadlineMs: number): Promise<void> {
      closing ??= (async () => {
        if (timer !== undefined) {
          clearTimeout(timer);
          timer = undefined;
        }
        drain();
        await settled(deadlineMs);
        if (inflight > 0 || outbox.length > 0) {
          // Abandoned at the deadline: what was never handed to the socket is dropped.
          stats.dropped += inflight + outbox.length;
          inflight = 0;
          outbox.length = 0;
          abandoned = true;
          await pumping;
        }
        const open = socket;
        socket = undefined;
        if (open !== undefined) {
          await new Promise<void>((resolve) => {
            try {
              open.close(() => resolve());
            } catch {
              resolve();
            }
          });
        }
      })();
      return closing;
    },
  };
}
