/**
 * Runs the real `main.ts` in a subprocess, the way a user starts it, with only the given
 * environment (nothing inherited: no exporter may reach the network), and collects its JSON
 * log lines as they arrive.
 */
import assert from "node:assert/strict";
import { childEnv } from "./child_env.ts";

/** A running `deno run main.ts` whose stdout lines are collected as they arrive. */
export interface Backend {
  child: Deno.ChildProcess;
  url: string;
  lines(): Array<Record<string, unknown>>;
  waitFor(message: RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
  stderr: Promise<string>;
  done: Promise<void>;
}

/** How to start the backend. */
export interface BackendOptions {
  /** Open-file limit for the process (`prlimit --nofile`), to run it out of descriptors. */
  fileLimit?: number;
  /** How long to wait for the "listening" line (a first PGlite start initialises a database). */
  listenTimeoutMs?: number;
  /**
   * Start through this deno.json task (`deno task start`) instead of `deno run main.ts`, with
   * no DENO_NO_UPDATE_CHECK from us: the task has to set what it needs itself.
   */
  task?: string;
  /** Leave Deno's own update check on: the control of tests/no_egress_test.ts. */
  updateCheck?: boolean;
}

/**
 * Starts main.ts on 127.0.0.1:0 and waits for its "listening" line. The store is memory unless
 * `env` names one (DATABASE_URL); with a DATA_DIR, only that directory is writable.
 */
export async function startBackend(
  env: Record<string, string> = {},
  options: BackendOptions = {},
): Promise<Backend> {
  const write = env.DATA_DIR ? [`--allow-write=${env.DATA_DIR}`] : [];
  const deno = options.task ? [Deno.execPath(), "task", options.task] : [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-sys",
    ...write,
    "main.ts",
  ];
  const argv = options.fileLimit === undefined
    ? deno
    : ["prlimit", `--nofile=${options.fileLimit}`, "--", ...deno];
  const childEnvironment = childEnv({
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_FORMAT: "json",
    NO_COLOR: "1",
    DATABASE_URL: "memory:",
    ...env,
  });
  if (options.task || options.updateCheck) delete childEnvironment.DENO_NO_UPDATE_CHECK;
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: new URL("../..", import.meta.url),
    // Nothing from this process's environment: no exporter may reach the network.
    clearEnv: true,
    env: childEnvironment,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const done = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  const stderr = new Response(child.stderr).text();
  function lines(): Array<Record<string, unknown>> {
    return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
  }
  async function waitFor(message: RegExp, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = lines().find((line) => message.test(String(line.message)));
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`No log line matching ${message} within ${timeoutMs} ms:\n${text}`);
  }
  try {
    const listening = await waitFor(/listening on/, options.listenTimeoutMs);
    const url = /listening on (http:\/\/[^\s]+)/.exec(String(listening.message))?.[1];
    assert.ok(url, String(listening.message));
    return { child, url, lines, waitFor, stderr, done };
  } catch (error) {
    child.kill("SIGKILL");
    await Promise.all([child.status, done, stderr]);
    throw error;
  }
}
