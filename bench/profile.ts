// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * CPU profile of one configuration under load: starts the server with `--cpu-prof`, warms it
 * up, loads it, stops it with SIGTERM (main.ts's Deno.exit(0) still writes the profile), then
 * prints self time by area (our code, each npm package, Deno's runtime, GC) and the top
 * functions by self and by inclusive time, counting only samples taken under measured load.
 *
 *   deno run --allow-net --allow-env --allow-read --allow-write --allow-run --allow-sys \
 *     bench/profile.ts --config=full --duration=10 --warmup=3 [--interval=200] [--keep=DIR]
 *     [--env=KEY=VALUE ...] (for main.ts configurations, as in run.ts)
 */
import { parseArgs } from "node:util";
import { APP_DIR, CONFIGS, installSignalHandlers, onCleanup, runMain } from "./lib.ts";
import { startOneServer } from "./one_server.ts";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    config: { type: "string", default: "full" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "50" },
    interval: { type: "string", default: "200" },
    top: { type: "string", default: "25" },
    "app-dir": { type: "string" },
    keep: { type: "string" },
    file: { type: "string" },
    env: { type: "string", multiple: true },
  },
});

/** The area a frame belongs to: ours, an npm package, Deno's runtime, or V8's. */
function area(frame: CallFrame, appDir: string): string {
  const { url, functionName } = frame;
  if (url === "") return functionName.startsWith("(") ? functionName : "(v8 builtin/native)";
  const npm = /\/npm\/[^/]+\/((?:@[^/]+\/)?[^/]+)\/[^/]+\//.exec(url) ??
    /node_modules\/(?:\.deno\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (npm) return `npm:${npm[1]}`;
  if (url.startsWith(`file://${appDir}/`)) return "ours";
  if (url.startsWith("ext:") || url.startsWith("node:")) {
    return `deno:${url.replace(/^ext:/, "").split("/")[0]}`;
  }
  return url;
}

function label(frame: CallFrame, appDir: string): string {
  const file = frame.url.replace(`file://${appDir}/`, "")
    .replace(/^.*\/npm\/[^/]+\//, "npm:")
    .replace(/^.*node_modules\//, "npm:");
  return `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
}

function pct(n: number, total: number): string {
  return `${((100 * n) / total).toFixed(1).padStart(5)}%`;
}

/** Summarises a profile, counting only samples after `skipUs` from its start. */
export function summarise(
  profile: CpuProfile,
  appDir: string,
  skipUs: number,
  top: number,
): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const areas = new Map<string, number>();
  const frames = new Map<string, CallFrame>();
  let t = 0;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < skipUs) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    total += dt;
    const key = label(node.callFrame, appDir);
    frames.set(key, node.callFrame);
    self.set(key, (self.get(key) ?? 0) + dt);
    const a = area(node.callFrame, appDir);
    areas.set(a, (areas.get(a) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      const k = label(frame, appDir);
      if (seen.has(k)) continue;
      seen.add(k);
      frames.set(k, frame);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
  const sorted = (m: Map<string, number>, filter: (k: string) => boolean = () => true) =>
    [...m.entries()].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]);
  const isOurs = (k: string) => area(frames.get(k)!, appDir) === "ours";
  const lines: string[] = [];
  lines.push(`profiled ${(total / 1e6).toFixed(1)} s of samples under load`);
  lines.push("", "## Self time by area");
  for (const [k, v] of sorted(areas).slice(0, top)) lines.push(`${pct(v, total)}  ${k}`);
  lines.push("", `## Top ${top} functions by self time`);
  for (const [k, v] of sorted(self).slice(0, top)) {
    lines.push(`${pct(v, total)}  ${k}  [${area(frames.get(k)!, appDir)}]`);
  }
  lines.push("", "## Our code: self time");
  for (const [k, v] of sorted(self, isOurs).slice(0, 15)) lines.push(`${pct(v, total)}  ${k}`);
  lines.push("", "## Our code: inclusive time (self + callees)");
  for (const [k, v] of sorted(inclusive, isOurs).slice(0, top)) {
    lines.push(`${pct(v, total)}  ${k}`);
  }
  lines.push("", "## Dependencies: inclusive time of their top frames");
  for (
    const [k, v] of sorted(inclusive, (k) => area(frames.get(k)!, appDir).startsWith("npm:"))
      .slice(0, top)
  ) lines.push(`${pct(v, total)}  ${k}`);
  return lines.join("\n");
}

async function main(): Promise<number> {
  installSignalHandlers();
  const appDir = args["app-dir"] ?? APP_DIR;
  const top = Number(args.top);
  if (args.file) {
    const profile = JSON.parse(await Deno.readTextFile(args.file)) as CpuProfile;
    console.log(summarise(profile, appDir, 0, top));
    return 0;
  }
  const config = CONFIGS.find((c) => c.name === args.config && !c.store);
  if (!config) {
    console.error(
      `Unknown --config; one of ${CONFIGS.filter((c) => !c.store).map((c) => c.name).join(", ")}`,
    );
    return 1;
  }
  const profDir = args.keep ?? await Deno.makeTempDir({ prefix: "cruddur-prof-" });
  if (!args.keep) onCleanup(() => Deno.remove(profDir, { recursive: true }));
  await Deno.mkdir(profDir, { recursive: true });
  const one = await startOneServer(config, {
    prefix: "cruddur-profile-",
    appDir,
    ...(args.env ? { env: args.env } : {}),
    denoFlags: [
      "--cpu-prof",
      `--cpu-prof-dir=${profDir}`,
      `--cpu-prof-interval=${args.interval}`,
    ],
  });
  if (!one) return 1;
  const { server, load, url } = one;
  await load.run(url, Number(args.warmup), Number(args.connections));
  // The profile starts with the process: skip what it sampled before the measured load.
  const skipUs = (performance.now() - server.spawnedAt) * 1000;
  const result = await load.run(url, Number(args.duration), Number(args.connections));
  const code = await server.stop(15_000);
  console.log(
    `# CPU profile: ${config.name} (${config.description})\n` +
      `${load.kind}: ${result.rps.toFixed(0)} req/s under the profiler, p99 ` +
      `${result.p99Ms.toFixed(2)} ms; server exit ${code}; interval ${args.interval} µs`,
  );
  const files = [...Deno.readDirSync(profDir)].filter((e) => e.name.endsWith(".cpuprofile"));
  if (files.length === 0) {
    console.error("No .cpuprofile was written (did the server exit through Deno.exit?).");
    return 1;
  }
  const path = `${profDir}/${files.sort((a, b) => a.name.localeCompare(b.name)).at(-1)!.name}`;
  const profile = JSON.parse(await Deno.readTextFile(path)) as CpuProfile;
  console.log(summarise(profile, appDir, skipUs, top));
  if (args.keep) console.log(`\nprofile kept: ${path} (open in Chrome DevTools > Performance)`);
  return 0;
}

if (import.meta.main) await runMain(main);
