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
  baseEnv,
  CONFIGS,
  envOverrides,
  findLoadGenerator,
  freePort,
  installSignalHandlers,
  onCleanup,
  ROUTE,
  runMain,
  startServer,
  v8FlagArgs,
} from "./lib.ts";
import { sinksOf, startBlackholeSinks, startHealthySinks } from "./sinks.ts";

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
  console.log(
    `| config | req/s | promoted B/req | scavenges | their pauses ms | mark-compacts | their pauses ms |`,
  );
  console.log(`|---|---:|---:|---:|---:|---:|---:|`);
  for (const name of args.only.split(",").map((s) => s.trim())) {
    const config = CONFIGS.find((c) => c.name === name);
    if (!config || config.store) throw new Error(`${name}: not a memory-store configuration`);
    const sinks = sinksOf(config.sinks, { healthy, blackhole });
    // The collector's lines.
    const lines: string[] = [];
    const server = await startServer({
      script: config.script,
      env: {
        ...baseEnv(freePort()),
        ...config.env(sinks, { alwaysRule }),
        ...(config.script === "main.ts" ? overrides : {}),
      },
      cpu: 0,
      denoFlags: ["--v8-flags=--trace-gc-nvp", ...v8FlagArgs(args["v8-flags"])],
      readyPath: ROUTE,
      onStdoutLine: (line) => {
        if (line.includes("GC: {")) lines.push(line);
      },
    });
    try {
      const url = `${server.url}${ROUTE}`;
      await load.run(url, Number(args.warmup), 50);
      const measuredFrom = lines.length;
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
      await server.stop();
    }
  }
  return 0;
}

await runMain(main);
