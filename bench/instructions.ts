// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * Instructions per request under `valgrind --tool=callgrind`: a figure that does not move when
 * colleagues load the machine, unlike req/s or CPU µs. Each configuration runs as its own
 * server (the bench's configurations and loopback sinks) under callgrind with instrumentation
 * off; after a warm-up the instrumentation is switched on for a fixed number of requests and the
 * total instruction count (every thread: JS, HTTP, GC, sinks' I/O) is divided by it.
 *
 *   deno run -A bench/instructions.ts --only=baseline,bare,full --requests=500 --warmup=1000
 *
 * Options: --only (default: baseline,bare,full), --requests, --warmup, --concurrency,
 *          --env=KEY=VALUE (for main.ts configurations), --v8-flags=... (every server, after the
 *          start task's), --app-dir, --keep=DIR (callgrind files).
 * Read a kept file with `callgrind_annotate DIR/<config>.out | head -60`.
 */
import { parseArgs } from "node:util";
import {
  ALWAYS_SAMPLE_RULE,
  APP_DIR,
  baseEnv,
  CONFIGS,
  envOverrides,
  freePort,
  installSignalHandlers,
  onCleanup,
  ROUTE,
  runMain,
  startServer,
  tryOutput,
  v8FlagArgs,
} from "./lib.ts";
import { sinksOf, startBlackholeSinks, startHealthySinks } from "./sinks.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string", default: "baseline,bare,full" },
    requests: { type: "string", default: "500" },
    warmup: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "8" },
    env: { type: "string", multiple: true },
    "app-dir": { type: "string" },
    keep: { type: "string" },
    "v8-flags": { type: "string" },
  },
});
const overrides = envOverrides(args.env);

/** Sends `count` GETs over `concurrency` keep-alive connections; returns the non-200 count. */
async function drive(url: string, count: number, concurrency: number): Promise<number> {
  let left = count;
  let bad = 0;
  async function worker(): Promise<void> {
    while (left-- > 0) {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.status !== 200) bad++;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return bad;
}

/** `callgrind_control` talks to the server through vgdb, which names its pipes after $HOST. */
async function control(dir: string, pid: number, option: string): Promise<void> {
  const out = await new Deno.Command("callgrind_control", {
    args: [`--vgdb-prefix=${dir}/vgdb`, option, String(pid)],
    env: { HOST: "127.0.0.1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success || !text.includes("OK")) {
    throw new Error(`callgrind_control ${option} failed: ${text}`);
  }
}

async function totalInstructions(file: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const total = /^totals:\s+(\d+)/m.exec(await Deno.readTextFile(file))?.[1];
      if (total) return Number(total);
    } catch {
      // Not written yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`No callgrind totals in ${file}`);
}

async function main(): Promise<number> {
  installSignalHandlers();
  if (await tryOutput("valgrind", ["--version"]) === undefined) {
    console.error("valgrind is missing: apt-get install -y valgrind");
    return 1;
  }
  const dir = args.keep ?? await Deno.makeTempDir({ prefix: "cruddur-callgrind-" });
  await Deno.mkdir(dir, { recursive: true });
  if (!args.keep) onCleanup(() => Deno.remove(dir, { recursive: true }));
  const alwaysRule = `${dir}/xray-always.json`;
  await Deno.writeTextFile(alwaysRule, JSON.stringify(ALWAYS_SAMPLE_RULE));
  const healthy = await startHealthySinks();
  onCleanup(() => healthy.close());
  const blackhole = await startBlackholeSinks();
  onCleanup(() => blackhole.close());
  const requests = Number(args.requests);
  const names = args.only.split(",").map((s) => s.trim());
  const rows: Array<[string, number]> = [];
  console.log(`callgrind, ${requests} requests after ${args.warmup}, GET ${ROUTE}`);
  for (const name of names) {
    const config = CONFIGS.find((c) => c.name === name);
    if (!config) throw new Error(`Unknown configuration ${name}`);
    if (config.store) throw new Error(`${name} runs on ${config.store}: only bench/run.ts runs it`);
    const sinks = sinksOf(config.sinks, { healthy, blackhole });
    const out = `${dir}/${name}.out`;
    await Deno.remove(`${out}.1`).catch(() => {});
    const server = await startServer({
      script: config.script,
      env: {
        ...baseEnv(freePort()),
        ...config.env(sinks, { alwaysRule }),
        ...(config.script === "main.ts" ? overrides : {}),
      },
      appDir: args["app-dir"] ?? APP_DIR,
      denoFlags: v8FlagArgs(args["v8-flags"]),
      wrapper: [
        "valgrind",
        "--tool=callgrind",
        "--vgdb=yes",
        `--vgdb-prefix=${dir}/vgdb`,
        "--smc-check=all-non-file",
        "--instr-atstart=no",
        `--callgrind-out-file=${out}`,
      ],
      readyTimeoutMs: 120_000,
    });
    try {
      const url = `${server.url}${ROUTE}`;
      await drive(url, Number(args.warmup), Number(args.concurrency));
      await control(dir, server.pid, "--instr=on");
      const bad = await drive(url, requests, Number(args.concurrency));
      await control(dir, server.pid, "--instr=off");
      await control(dir, server.pid, "--dump");
      const perRequest = await totalInstructions(`${out}.1`) / requests;
      rows.push([name, perRequest]);
      console.log(
        `${name.padEnd(18)} ${
          Math.round(perRequest / 1000).toLocaleString("en-US").padStart(7)
        }k ` +
          `instructions/request${bad ? `  NON-200 ${bad}` : ""}`,
      );
    } finally {
      await server.stop(20_000);
    }
  }
  const base = rows.find(([name]) => name === "baseline")?.[1];
  if (base) {
    console.log("\n| config | k instructions/request | × baseline |\n|---|---:|---:|");
    for (const [name, ir] of rows) {
      console.log(`| ${name} | ${Math.round(ir / 1000)} | ${(ir / base).toFixed(2)}× |`);
    }
  }
  return 0;
}

await runMain(main);
