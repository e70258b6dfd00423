// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * What a response's second write costs. Deno 2.9's HTTP/1.1 server copies a response body into
 * the buffer holding the encoded head only when the body fits that buffer's spare capacity (512
 * bytes for a small head, about twice the head's length for a larger one); otherwise the head
 * and the body leave in two `sendto` calls (strace shows it; DENO_USE_WRITEV changes nothing).
 * The home feed (1,379 bytes) always takes two, in the baseline and in the app alike. This
 * prices the difference: plain `Deno.serve` servers, each pinned to CPU 0 under wrk on CPU 1,
 * server CPU a request from /proc:
 *
 *   deno run -A bench/response_writes.ts [--rounds=2] [--duration=5]
 *
 * Rows: a 400-byte body (one write), a 450-byte body and the feed's 1,379 bytes (two each). The
 * first two differ by 50 bytes and one call; the last two by 929 bytes and no call. (Padding the
 * head instead, to put the feed in one write, prices the padding: Deno checks every header
 * value's characters in JavaScript on every response.)
 */
import { parseArgs } from "node:util";
import {
  baseEnv,
  findLoadGenerator,
  freePort,
  hasTaskset,
  installSignalHandlers,
  onCleanup,
  pinSelf,
  procSample,
  runMain,
  startServer,
} from "./lib.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "2" },
    duration: { type: "string", default: "5" },
  },
});

const VARIANTS = [
  { name: "400-byte body, one write", body: 400 },
  { name: "450-byte body, two writes", body: 450 },
  { name: "1,379-byte body (the feed's), two writes", body: 1379 },
];

function serve(): void {
  const body = "x".repeat(Number(Deno.env.get("BODY_BYTES")));
  const headers = { "content-type": "application/json" };
  Deno.serve(
    { hostname: "127.0.0.1", port: Number(Deno.env.get("PORT")), onListen() {} },
    () => new Response(body, { headers }),
  );
}

async function main(): Promise<number> {
  installSignalHandlers();
  const tmpDir = await Deno.makeTempDir({ prefix: "cruddur-writes-" });
  onCleanup(() => Deno.remove(tmpDir, { recursive: true }));
  const pin = (await hasTaskset()) && navigator.hardwareConcurrency >= 2;
  if (pin) await pinSelf(1);
  const load = await findLoadGenerator({ tmpDir, cpu: pin ? 1 : undefined, install: true });
  if (!load) return 1;
  const seconds = Number(args.duration);
  const perRequest = new Map<string, number[]>();
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const variant of VARIANTS) {
      const port = freePort();
      const server = await startServer({
        script: new URL(import.meta.url).pathname,
        env: { ...baseEnv(port), BODY_BYTES: String(variant.body), SERVE: "1" },
        cpu: pin ? 0 : undefined,
        readyPath: "/",
      });
      const url = `http://127.0.0.1:${port}/`;
      await load.run(url, 2, 50);
      const before = await procSample(server.pid);
      const result = await load.run(url, seconds, 50);
      const after = await procSample(server.pid);
      await server.stop(5_000);
      if (!before || !after || result.requests === 0) continue;
      const us = (after.cpuMs - before.cpuMs) * 1000 / result.requests;
      perRequest.set(variant.name, [...(perRequest.get(variant.name) ?? []), us]);
    }
  }
  console.log(`server CPU µs a request, ${args.rounds} rounds (${seconds} s each, 50 connections)`);
  for (const [name, values] of perRequest) {
    console.log(`${name.padEnd(46)} ${values.map((v) => v.toFixed(1)).join("  ")}`);
  }
  return 0;
}

// The servers are this file again, told apart by their environment (startServer passes no args).
if (Deno.env.get("SERVE") === "1") serve();
else runMain(main);
