/**
 * Where a cold start's time goes, from a `--cpu-prof` profile of main.ts: the samples before
 * the first request reached main.ts's handler, by the outermost module top level (a module's
 * evaluation, a CommonJS package's whole `require` tree included) or, outside module
 * evaluation, the outermost function of ours; `(idle)` is the main thread outside JS (module
 * loading in Rust, I/O waits), `(program)` V8's own work (compiling, instantiating).
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
/** The parts of a V8 CPU profile read here. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The first sample whose stack has this frame marks the first request. */
const FIRST_REQUEST = { functionName: "handle", file: "main.ts" };

function short(url: string, appDir: string): string {
  return url.replace(`file://${appDir}/`, "").replace(/^.*\/npm\/[^/]+\//, "npm:");
}

function isModuleTop(frame: CallFrame): boolean {
  return frame.functionName === "" && frame.lineNumber === 0 && frame.url !== "";
}

/** The summary's lines: when the first request came, and what came before it, by module. */
export function summariseStartup(profile: CpuProfile, appDir: string, top = 15): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const ours = `file://${appDir}/`;
  const totals = new Map<string, number>();
  let t = 0;
  let firstRequestUs: number | undefined;
  for (let i = 0; i < profile.samples.length && firstRequestUs === undefined; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const chain: CallFrame[] = [];
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      chain.push(byId.get(id)!.callFrame);
    }
    chain.reverse();
    if (
      chain.some((f) =>
        f.functionName === FIRST_REQUEST.functionName &&
        f.url === `${ours}${FIRST_REQUEST.file}`
      )
    ) {
      firstRequestUs = t;
      break;
    }
    const outer = chain.find((f) => isModuleTop(f) || f.url.startsWith(ours)) ??
      chain[chain.length - 1]!;
    const key = outer.url === ""
      ? outer.functionName
      : `${outer.functionName || "(module)"} ${short(outer.url, appDir)}`;
    totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  if (firstRequestUs === undefined) return ["no request reached main.ts's handler in this profile"];
  const sorted = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `first request at ${(firstRequestUs / 1000).toFixed(0)} ms of the profile; before it:`,
    ...sorted.map(([key, us]) => `  ${(us / 1000).toFixed(1).padStart(6)} ms  ${key}`),
  ];
}
