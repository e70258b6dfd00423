// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * Where a server's CPU goes by thread under load: each thread's user and system time (from
 * /proc/<pid>/task/<tid>/stat, the kernel's tick-based split) over a measured `wrk` run,
 * per request, grouped by thread name (V8's workers, tokio's, the main thread).
 *
 *   deno run -A bench/threads.ts --config=full [--duration=10] [--warmup=3] [--env=K=V ...]
 */
import { parseArgs } from "node:util";
import { CONFIGS, installSignalHandlers, runMain } from "./lib.ts";
import { startOneServer } from "./one_server.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    config: { type: "string", default: "full" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    env: { type: "string", multiple: true },
  },
});

const TICK_US = 1e6 / 100; // USER_HZ

interface ThreadTime {
  name: string;
  user: number;
  system: number;
}

async function threadTimes(pid: number): Promise<Map<string, ThreadTime>> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      'for t in /proc/$1/task/*; do echo "$(basename $t)|$(cat $t/comm)|$(cat $t/stat)"; done',
      "sh",
      String(pid),
    ],
    stdout: "piped",
  }).output();
  const times = new Map<string, ThreadTime>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [tid, name, stat] = line.split("|");
    if (!tid || !stat) continue;
    // Fields after the parenthesised name: utime and stime are the 14th and 15th overall.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    times.set(tid, { name: name ?? "?", user: Number(fields[11]), system: Number(fields[12]) });
  }
  return times;
}

async function main(): Promise<number> {
  installSignalHandlers();
  const config = CONFIGS.find((c) => c.name === args.config && !c.store);
  if (!config) {
    console.error(
      `Unknown --config; one of ${CONFIGS.filter((c) => !c.store).map((c) => c.name).join(", ")}`,
    );
    return 1;
  }
  const one = await startOneServer(config, {
    prefix: "cruddur-threads-",
    ...(args.env ? { env: args.env } : {}),
  });
  if (!one) return 1;
  const { server, load, url } = one;
  await load.run(url, Number(args.warmup), 50);
  const before = await threadTimes(server.pid);
  const result = await load.run(url, Number(args.duration), 50);
  const after = await threadTimes(server.pid);
  await server.stop(15_000);
  const requests = result.requests;
  const byName = new Map<string, { user: number; system: number; threads: number }>();
  for (const [tid, end] of after) {
    const start = before.get(tid) ?? { user: 0, system: 0 };
    const name = tid === String(server.pid) ? "(main)" : end.name.replace(/\d+$/, "#");
    const entry = byName.get(name) ?? { user: 0, system: 0, threads: 0 };
    entry.user += end.user - start.user;
    entry.system += end.system - start.system;
    entry.threads++;
    byName.set(name, entry);
  }
  console.log(`# threads: ${config.name}, ${result.rps.toFixed(0)} req/s`);
  console.log("thread                 threads  user µs/req  system µs/req");
  const rows = [...byName].sort((a, b) => (b[1].user + b[1].system) - (a[1].user + a[1].system));
  for (const [name, t] of rows) {
    const u = (t.user * TICK_US) / requests;
    const s = (t.system * TICK_US) / requests;
    if (u + s < 0.05) continue;
    console.log(
      `${name.padEnd(22)} ${String(t.threads).padStart(7)}  ${u.toFixed(1).padStart(11)}  ${
        s.toFixed(1).padStart(13)
      }`,
    );
  }
  return 0;
}

if (import.meta.main) await runMain(main);
