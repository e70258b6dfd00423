/**
 * Bytes allocated per request, by allocation site, from V8's sampling heap profiler (through
 * `node:inspector`), counting objects the young and old collections freed as well as the ones
 * still alive: the garbage a request makes, which sets how often the scavenger runs. Used by
 * `bench/inprocess.ts --allocations`.
 *
 * With `promoted`, a sampled object the scavenger frees is dropped from the profile, and one a
 * mark-compact frees is kept: what is left is what outlived the young generation, the bytes
 * that fill the old generation and so set how often a mark-compact (and its concurrent marking
 * on the worker threads) runs. `bench/inprocess.ts --promoted`.
 */
import { Session } from "node:inspector";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface SamplingNode {
  callFrame: CallFrame;
  selfSize: number;
  children: SamplingNode[];
}

/** What a sampled run allocated. */
export interface AllocationReport {
  bytesPerRequest: number;
  /** Sites by bytes per request, largest first: `function file:line` (line of the run's JS). */
  sites: Array<{ site: string; bytesPerRequest: number }>;
}

function post<T>(session: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((resolve, reject) =>
    session.post(method, params, (error: Error | null, result: unknown) => {
      if (error) reject(error);
      else resolve(result as T);
    })
  );
}

function siteOf({ functionName, url, lineNumber }: CallFrame): string {
  const file = url.replace(/^.*\/registry\.npmjs\.org\//, "npm:").replace(
    /^file:\/\/.*?\/(bench|routes|services|telemetry)\//,
    "$1/",
  );
  return `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
}

/** Runs `work` (which makes `requests` requests) under the sampling heap profiler. */
export async function sampleAllocations(
  requests: number,
  work: () => Promise<void>,
  promoted = false,
): Promise<AllocationReport> {
  const session = new Session();
  session.connect();
  try {
    await post(session, "HeapProfiler.enable");
    await post(session, "HeapProfiler.startSampling", {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: !promoted,
    });
    await work();
    const { profile } = await post<{ profile: { head: SamplingNode } }>(
      session,
      "HeapProfiler.stopSampling",
    );
    const bySite = new Map<string, number>();
    let total = 0;
    const stack = [profile.head];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      total += node.selfSize;
      const site = siteOf(node.callFrame);
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      stack.push(...node.children);
    }
    return {
      bytesPerRequest: total / requests,
      sites: [...bySite].map(([site, bytes]) => ({ site, bytesPerRequest: bytes / requests }))
        .sort((a, b) => b.bytesPerRequest - a.bytesPerRequest),
    };
  } finally {
    session.disconnect();
  }
}
