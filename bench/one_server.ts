/**
 * One configuration's server under the bench's conditions, for the tools that study a single
 * row (profile.ts, threads.ts): its stand-ins in their own process, the server pinned to CPU 0
 * and this process with the load generator to CPU 1 (when taskset and two CPUs are there), a
 * temporary directory for the X-Ray rule, everything released by lib.ts's cleanup().
 */
import {
  ALWAYS_SAMPLE_RULE,
  APP_DIR,
  baseEnv,
  type BenchConfig,
  envOverrides,
  findLoadGenerator,
  freePort,
  hasTaskset,
  type LoadGenerator,
  onCleanup,
  pinSelf,
  ROUTE,
  type ServerProcess,
  startServer,
} from "./lib.ts";
import { startSinksOf } from "./sinks.ts";

/** Options of {@link startOneServer}. */
export interface OneServerOptions {
  /** The temporary directory's name prefix. */
  prefix: string;
  /** Another copy of the app (A/B against an older commit). */
  appDir?: string;
  /** `KEY=VALUE` overrides (main.ts configurations only, as in run.ts). */
  env?: readonly string[];
  denoFlags?: string[];
}

/** A started server, its load generator and the URL to load. */
export interface OneServer {
  server: ServerProcess;
  load: LoadGenerator;
  url: string;
  tmpDir: string;
}

/** Starts `config`'s stand-ins and server; undefined when no load generator can be found. */
export async function startOneServer(
  config: BenchConfig,
  options: OneServerOptions,
): Promise<OneServer | undefined> {
  const tmpDir = await Deno.makeTempDir({ prefix: options.prefix });
  onCleanup(() => Deno.remove(tmpDir, { recursive: true }));
  const pin = (await hasTaskset()) && navigator.hardwareConcurrency >= 2;
  if (pin) await pinSelf(1);
  const load = await findLoadGenerator({ tmpDir, cpu: pin ? 1 : undefined, install: true });
  if (!load) return undefined;
  const alwaysRule = `${tmpDir}/xray-always.json`;
  await Deno.writeTextFile(alwaysRule, JSON.stringify(ALWAYS_SAMPLE_RULE));
  const sinks = await startSinksOf(config.sinks);
  if (sinks) onCleanup(() => sinks.close());
  const server = await startServer({
    script: config.script,
    env: {
      ...baseEnv(freePort()),
      ...config.env(sinks, { alwaysRule }),
      ...(config.script === "main.ts" ? envOverrides(options.env) : {}),
    },
    appDir: options.appDir ?? APP_DIR,
    ...(pin ? { cpu: 0 } : {}),
    ...(options.denoFlags ? { denoFlags: options.denoFlags } : {}),
  });
  return { server, load, url: `${server.url}${ROUTE}`, tmpDir };
}
