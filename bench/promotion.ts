// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * What reaches V8's old generation under load: each configuration as its own server (the
 * bench's flags, env and loopback sinks, pinned to CPU 0) with `--trace-gc-nvp`, driven by the
 * bench's load generator on CPU 1; from the collector's own lines during the measured seconds,
 * the bytes the scavenges promoted per request, and the scavenges and mark-compacts with their
 * pauses. Promoted bytes are what a mark-compact must later find and free: with the start
 * task's growing factor, they set how often one runs.
 *
 *   deno run -A bench/promotion.ts [--only=baseline,bare,full] [--duration=10] [--warmup=3]
 *     [--env=KEY=VALUE ...] [--v8-flags=...]
 */
import { parseArgs } from "node:util";
import {
  ALWAYS_SAMPLE_RULE,
  APP_DIR,
  baseEnv,
  cleanup,
  CONFIGS,
  envOverrides,
  findLoadGenerator,
  freePort,
  installSignalHandlers,
  onCleanup,
  ROUTE,
  SERVER_FLAGS,
} from "./lib.ts";
import { startBlackholeSinks, startHealthySinks } from "./sinks.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string", default: "baseline,bare,full" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    env: { type: "string", multiple: true },
    "v8-flags": { type: "string" },
  },
});

/** One `--trace-gc-nvp` line's fields that matter here. */
interface GcLine {
  gc: string;
  pause: number;
  promoted: number;
}

function parseGcLine(line: string): GcLine | undefined {
  const at = line.indexOf("GC: {");
  if (at < 0) return undefined;
  try {
    const fields = JSON.parse(line.slice(at + 4));
    return { gc: fields.gc, pause: Number(fields.pause), promoted: Number(fields.promoted ?? 0) };
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  installSignalHandlers();
  const dir = await Deno.makeTempDir({ prefix: "cruddur-promotion-" });
  onCleanup(() => Deno.remove(dir, { recursive: true }));
  const alwaysRule = `${dir}/xray-always.json`;
  await Deno.writeTextFile(alwaysRule, JSON.stringify(ALWAYS_SAMPLE_RULE));
  const load = await findLoadGenerator({ tmpDir: dir, cpu: 1, install: true });
  if (!load) return 1;
  const healthy = await startHealthySinks();
  onCleanup(() => healthy.close());
  const blackhole = await startBlackholeSinks();
  onCleanup(() => blackhole.close());
  const overrides = envOverrides(args.env);
  const v8 = ["--trace-gc-nvp", ...(args["v8-flags"] ? [args["v8-flags"]] : [])].join(",");
  console.log(
    `| config | req/s | promoted B/req | scavenges | their pauses ms | mark-compacts | their pauses ms |`,
  );
  console.log(`|---|---:|---:|---:|---:|---:|---:|`);
  for (const name of args.only.split(",").map((s) => s.trim())) {
    const config = CONFIGS.find((c) => c.name === name);
    if (!config || config.store) throw new Error(`${name}: not a memory-store configuration`);
    const sinks = config.sinks === "none"
      ? undefined
      : config.sinks === "healthy"
      ? healthy
      : blackhole;
    const port = freePort();
    const child = new Deno.Command("taskset", {
      args: [
        "-c",
        "0",
        Deno.execPath(),
        "run",
        ...SERVER_FLAGS,
        `--v8-flags=${v8}`,
        config.script,
      ],
      cwd: APP_DIR,
      env: {
        DATABASE_URL: "memory:",
        ...baseEnv(port),
        ...config.env(sinks, { alwaysRule }),
        ...(config.script === "main.ts" ? overrides : {}),
      },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    // The collector's lines, and where the measured seconds start in them.
    const lines: string[] = [];
    let measuredFrom = 0;
    const reading = (async () => {
      let rest = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        for (const line of parts) if (line.includes("GC: {")) lines.push(line);
      }
    })();
    try {
      const url = `http://127.0.0.1:${port}${ROUTE}`;
      for (let i = 0;; i++) {
        try {
          await (await fetch(url)).body?.cancel();
          break;
        } catch (error) {
          if (i > 400) throw error;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      }
      await load.run(url, Number(args.warmup), 50);
      measuredFrom = lines.length;
      const result = await load.run(url, Number(args.duration), 50);
      const measured = lines.slice(measuredFrom).map(parseGcLine).filter((l) => l !== undefined);
      const scavenges = measured.filter((l) => l.gc === "s");
      const fulls = measured.filter((l) => l.gc === "mc" || l.gc === "mmc");
      const sum = (ls: GcLine[], key: "pause" | "promoted") => ls.reduce((a, l) => a + l[key], 0);
      console.log(
        `| ${name} | ${result.rps.toFixed(0)} | ${
          (sum(scavenges, "promoted") / result.requests).toFixed(0)
        } | ${scavenges.length} | ${sum(scavenges, "pause").toFixed(0)} | ${fulls.length} | ${
          sum(fulls, "pause").toFixed(0)
        } |`,
      );
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await reading.catch(() => {});
    }
  }
  return 0;
}

try {
  Deno.exitCode = await main();
} finally {
  await cleanup();
}
