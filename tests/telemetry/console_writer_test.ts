import assert from "node:assert/strict";
import { createConsoleWriter } from "../../telemetry/console_writer.ts";

const decoder = new TextDecoder();

Deno.test("console writer: lines reach the output in order, whole, counted as sent", async () => {
  let text = "";
  // A pipe that takes at most 7 bytes per write: the writer must finish every line.
  const output = {
    write(data: Uint8Array) {
      const n = Math.min(7, data.length);
      text += decoder.decode(data.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  const writer = createConsoleWriter(output, { intervalMs: 1 });
  writer.write('{"n":1}');
  writer.write('{"n":2,"text":"é"}');
  await writer.flush(Date.now() + 5000);
  writer.write('{"n":3}');
  await writer.flush(Date.now() + 5000);
  assert.equal(text, '{"n":1}\n{"n":2,"text":"é"}\n{"n":3}\n');
  assert.deepEqual(writer.stats(), {
    queued: 3,
    sent: 3,
    retried: 0,
    dropped: 0,
    rejected: 0,
    failed: 0,
  });
});

Deno.test("console writer: a stalled output never blocks; past the bound lines are dropped, counted, reported once", async () => {
  const writes: Uint8Array[] = [];
  // The reader stopped: the write never completes.
  const output = {
    write(data: Uint8Array) {
      writes.push(data);
      return new Promise<number>(() => {});
    },
  };
  const reports: string[] = [];
  const writer = createConsoleWriter(output, {
    intervalMs: 1,
    batchBytes: 100,
    maxBufferedBytes: 1000,
    diagnostic: (message) => reports.push(message),
  });
  const line = "x".repeat(99);
  for (let i = 0; i < 50; i++) writer.write(line);
  const before = writer.stats();
  assert.equal(before.queued, 50);
  assert.ok(before.dropped >= 40, `at most 1000 bytes held: ${JSON.stringify(before)}`);
  assert.equal(before.sent, 0);
  assert.equal(writes.length, 1, "one write in flight, no more");
  assert.equal(reports.length, 1);
  assert.match(reports[0]!, /stdout is not keeping up.*dropped and counted/);
  for (let i = 0; i < 10; i++) writer.write(line);
  assert.equal(reports.length, 1, "reported once, not per line");
  // flush gives up at its deadline instead of waiting for the stalled write.
  await writer.flush(Date.now() + 20);
  const after = writer.stats();
  assert.equal(after.queued, 60);
  assert.ok(after.queued >= after.sent + after.dropped);
});

Deno.test("console writer: a broken output loses its batch, counted, and never throws", async () => {
  const output = { write: () => Promise.reject(new Error("EPIPE")) };
  const writer = createConsoleWriter(output, { intervalMs: 1, diagnostic: () => {} });
  writer.write("a");
  writer.write("b");
  await writer.flush(Date.now() + 5000);
  const stats = writer.stats();
  assert.equal(stats.queued, 2);
  assert.equal(stats.dropped, 2);
  assert.equal(stats.sent, 0);
});

Deno.test("console writer: lines that arrive during a write wait for the interval, not a write each", async () => {
  const writes: string[] = [];
  const finish: Array<() => void> = [];
  const output = {
    write(data: Uint8Array) {
      writes.push(decoder.decode(data));
      return new Promise<number>((resolve) => finish.push(() => resolve(data.length)));
    },
  };
  // An interval no test waits for: only a full batch or a flush may start a write.
  const writer = createConsoleWriter(output, { intervalMs: 60_000, batchBytes: 10 });
  writer.write("x".repeat(20));
  assert.equal(writes.length, 1, "a full batch is written at once");
  writer.write("b");
  finish.shift()!();
  // Every continuation of the finished write has run once a timer of 0 ms fires.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(writes.length, 1, "the line that arrived during the write waits for the interval");
  const flushed = writer.flush(Date.now() + 5000);
  assert.deepEqual(writes, ["x".repeat(20) + "\n", "b\n"], "a flush writes it at once");
  finish.shift()!();
  await flushed;
  assert.equal(writer.stats().sent, 2);
});

Deno.test("console writer: a line longer than a batch, multi-byte, is written whole", async () => {
  const chunks: string[] = [];
  const output = {
    write(data: Uint8Array) {
      chunks.push(decoder.decode(data));
      return Promise.resolve(data.length);
    },
  };
  const writer = createConsoleWriter(output, { intervalMs: 1, batchBytes: 16 });
  const long = "é€😀".repeat(20_000); // 180 KB of UTF-8, past the 16-byte batch's buffer
  writer.write("first");
  writer.write(long);
  writer.write("last");
  await writer.flush(Date.now() + 5000);
  assert.equal(chunks.join(""), `first\n${long}\nlast\n`);
  assert.equal(writer.stats().sent, 3);
});

Deno.test("console writer: the bound counts UTF-8 bytes, what is refused is not half-kept", async () => {
  const chunks: string[] = [];
  const finish: Array<() => void> = [];
  const output = {
    write(data: Uint8Array) {
      chunks.push(decoder.decode(data));
      return new Promise<number>((resolve) => finish.push(() => resolve(data.length)));
    },
  };
  const writer = createConsoleWriter(output, {
    intervalMs: 60_000,
    batchBytes: 1000,
    maxBufferedBytes: 100,
    diagnostic: () => {},
  });
  const accented = "é".repeat(30); // 30 UTF-16 units, 60 bytes + the newline
  writer.write(accented);
  writer.write(accented); // 122 bytes: past the bound, though 62 UTF-16 units are not
  writer.write("ok");
  assert.equal(writer.stats().dropped, 1);
  const flushed = writer.flush(Date.now() + 5000);
  finish.shift()!();
  await flushed;
  assert.deepEqual(chunks, [`${accented}\nok\n`]);
  assert.equal(writer.stats().sent, 2);
});

Deno.test("console writer: a batch's bytes stay intact until its write resolves", async () => {
  // An output that reads its bytes only when it completes, as an asynchronous write may.
  const held: Array<{ data: Uint8Array; resolve: (n: number) => void }> = [];
  let text = "";
  const output = {
    write(data: Uint8Array) {
      return new Promise<number>((resolve) => held.push({ data, resolve }));
    },
  };
  const complete = () => {
    const { data, resolve } = held.shift()!;
    text += decoder.decode(data);
    resolve(data.length);
  };
  const writer = createConsoleWriter(output, { intervalMs: 60_000, batchBytes: 8 });
  for (let round = 0; round < 4; round++) {
    writer.write(`batch-${round}-a`); // past 8 bytes: written at once when none is in flight
    writer.write(`batch-${round}-b`); // waits in the other buffer
    const flushed = writer.flush(Date.now() + 5000);
    while (held.length > 0) {
      complete();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await flushed;
  }
  const expected = [0, 1, 2, 3].map((r) => `batch-${r}-a\nbatch-${r}-b\n`).join("");
  assert.equal(text, expected);
  assert.equal(writer.stats().sent, 8);
});
