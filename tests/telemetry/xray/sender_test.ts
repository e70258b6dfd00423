import assert from "node:assert/strict";
import { createUdpSender } from "../../../telemetry/xray/sender.ts";
import { emptyStats } from "../../../telemetry/types.ts";
import { startUdpListener } from "../../support/udp_listener.ts";

const HEADER = new TextEncoder().encode('{"format":"json","version":1}\n');

function datagram(id: number): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify({
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

Deno.test("createUdpSender() bounds queue and outbox together, and its account adds up", async () => {
  const daemon = await startUdpListener();
  const stats = emptyStats();
  const sender = createUdpSender<number>({
    address: { host: "127.0.0.1", port: daemon.port },
    // Each item is five datagrams, so the outbox fills faster than the queue.
    encode: (n) => Array.from({ length: 5 }, (_, i) => datagram(n * 10 + i)),
    stats,
    now: Date.now,
    diagnostic: () => {},
    flushIntervalMs: 1,
    maxQueue: 40,
  });
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
