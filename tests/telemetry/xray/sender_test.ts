import assert from "node:assert/strict";
import { createUdpSender } from "../../../telemetry/xray/sender.ts";
import { emptyStats, type SinkStats } from "../../../telemetry/types.ts";
import { startUdpListener } from "../../support/udp_listener.ts";
import { until } from "../../support/faults.ts";
import type { DatagramTransport } from "../../../telemetry/xray/socket.ts";

/** Both socket implementations: Deno.DatagramConn (deno.json enables it) and node:dgram. */
const TRANSPORTS: DatagramTransport[] = ["deno", "node"];

const HEADER = new TextEncoder().encode('{"format":"json","version":1}\n');

function datagram(id: number, padding = 0): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify({
    ...(padding > 0 ? { annotations: { padding: "x".repeat(padding) } } : {}),
    name: "bounded",
    id: id.toString(16).padStart(16, "0"),
    trace_id: `1-${Math.floor(Date.now() / 1000).toString(16)}-${"0".repeat(24)}`,
    start_time: 1,
    end_time: 2,
  }));
  const out = new Uint8Array(HEADER.length + body.length);
  out.set(HEADER);
  out.set(body, HEADER.length);
  return out;
}

/** A sender to a daemon on a loopback port, flushing every 1 ms. */
function loopbackSender(
  port: number,
  stats: SinkStats,
  transport: DatagramTransport,
  maxQueue: number,
  encode: (n: number) => Uint8Array[],
  burstPauseMs?: number,
) {
  return createUdpSender<number>({
    address: { host: "127.0.0.1", port },
    encode,
    stats,
    now: Date.now,
    diagnostic: () => {},
    flushIntervalMs: 1,
    transport,
    maxQueue,
    burstPauseMs,
  });
}

for (const transport of TRANSPORTS) {
  Deno.test(`createUdpSender() bounds queue and outbox together, and its account adds up (${transport})`, async () => {
    const daemon = await startUdpListener();
    const stats = emptyStats();
    // Each item is five datagrams, so the outbox fills faster than the queue.
    const sender = loopbackSender(
      daemon.port,
      stats,
      transport,
      40,
      (n) => Array.from({ length: 5 }, (_, i) => datagram(n * 10 + i)),
    );
    try {
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 20; i++) sender.enqueue(round * 20 + i);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      await sender.flush(Date.now() + 2000);
      assert.ok(stats.dropped > 0, "a backlog beyond maxQueue is dropped");
      assert.equal(stats.queued, stats.sent + stats.dropped + stats.failed);
    } finally {
      await sender.shutdown(Date.now() + 1000);
      await daemon.close();
    }
  });
}

for (const transport of TRANSPORTS) {
  Deno.test(`createUdpSender() sends a backlog of many bursts in its own turns, no flush needed (${transport})`, async () => {
    const daemon = await startUdpListener();
    const stats = emptyStats();
    // ~1 KB a document: 300 of them are six 48 KiB bursts.
    const sender = loopbackSender(daemon.port, stats, transport, 1000, (n) => [datagram(n, 1000)]);
    try {
      for (let i = 0; i < 300; i++) sender.enqueue(i);
      // No flush: the sender's own turns send every burst, the daemon reading between them.
      await until(() => stats.sent + stats.failed + stats.dropped === 300, 5000, "all sent");
      assert.equal(stats.sent, 300);
      const received = await daemon.waitFor(300);
      assert.equal(received.length, 300);
      assert.deepEqual(daemon.rejected, []);
    } finally {
      await sender.shutdown(Date.now() + 1000);
      await daemon.close();
    }
  });

  Deno.test(`createUdpSender() goes on past a pause whose timer never fires: the next enqueue wakes it (${transport})`, async () => {
    const daemon = await startUdpListener();
    const stats = emptyStats();
    // The pause between bursts lasts an hour: only a drain (each enqueue arms one) ends it.
    const hour = 3_600_000;
    const encode = (n: number) => [datagram(n, 1000)];
    const sender = loopbackSender(daemon.port, stats, transport, 1000, encode, hour);
    try {
      for (let i = 0; i < 300; i++) sender.enqueue(i);
      await until(() => stats.sent > 0, 5000, "the first burst");
      assert.ok(stats.sent < 300, `one burst, not the backlog: ${stats.sent} sent`);
      let next = 300;
      await until(
        () => {
          if (stats.sent >= 300) return true;
          sender.enqueue(next++); // a request's segment, as under load
          return false;
        },
        5000,
        "the backlog sent behind later documents",
      );
      await until(() => stats.sent === next, 5000, "the later documents");
      assert.equal(stats.dropped + stats.failed, 0);
      assert.equal((await daemon.waitFor(next)).length, next);
    } finally {
      await sender.shutdown(Date.now() + 1000);
      await daemon.close();
    }
  });
}

Deno.test("createUdpSender() with a daemon host whose DNS never answers: one lookup, bounded, counted", async () => {
  const stats = emptyStats();
  let lookups = 0;
  const sender = createUdpSender<number>({
    address: { host: "xray-daemon.invalid", port: 2000 },
    encode: (n) => [datagram(n)],
    stats,
    now: Date.now,
    diagnostic: () => {},
    flushIntervalMs: 1,
    maxQueue: 100,
    lookup: () => {
      lookups++;
      return new Promise(() => {}); // a resolver that never answers
    },
  });
  try {
    const rssBefore = Deno.memoryUsage().rss;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 1000; i++) sender.enqueue(round * 1000 + i);
      await new Promise((resolve) => setTimeout(resolve, 2)); // let the flush timer run
    }
    assert.equal(lookups, 1, "one lookup in flight, not one per datagram");
    assert.equal(sender.lookups(), 1);
    assert.equal(stats.sent, 0);
    // Everything beyond the queue's bound was refused and counted.
    assert.ok(stats.dropped >= 50_000 - 100, `dropped ${stats.dropped}`);
    assert.ok(Deno.memoryUsage().rss - rssBefore < 50 * 1024 * 1024, "memory stays flat");
  } finally {
    const started = Date.now();
    await sender.shutdown(Date.now() + 200);
    assert.ok(Date.now() - started < 2000, "shutdown does not wait for the lookup");
  }
  // Nothing is left unaccounted: the documents held for the address are dropped at shutdown.
  assert.equal(stats.queued, stats.sent + stats.dropped + stats.failed);
});

for (const transport of TRANSPORTS) {
  Deno.test(`createUdpSender() resolves a daemon host name once and reuses the address (${transport})`, async () => {
    const daemon = await startUdpListener();
    const stats = emptyStats();
    const looked: string[] = [];
    const sender = createUdpSender<number>({
      address: { host: "xray-daemon", port: daemon.port },
      encode: (n) => [datagram(n)],
      stats,
      now: Date.now,
      diagnostic: () => {},
      flushIntervalMs: 1,
      transport,
      maxQueue: 1000,
      lookup: (host) => {
        looked.push(host);
        return Promise.resolve({ address: "127.0.0.1", family: 4 });
      },
    });
    try {
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 10; i++) sender.enqueue(round * 10 + i);
        await sender.flush(Date.now() + 2000);
      }
      assert.deepEqual(looked, ["xray-daemon"]);
      assert.equal(stats.sent, 50);
      await daemon.waitFor(50, 3000);
    } finally {
      await sender.shutdown(Date.now() + 1000);
      await daemon.close();
    }
  });
}
