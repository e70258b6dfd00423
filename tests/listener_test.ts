/**
 * main.ts out of file descriptors: Deno.serve's accept loop dies on EMFILE, so the process
 * must listen again once descriptors are free, or shut down gracefully with exit code 1.
 * The backend runs under `prlimit --nofile=64` and the test holds 100 idle connections.
 */
import assert from "node:assert/strict";
import { type Backend, startBackend } from "./support/backend.ts";
import { healthy, hogDescriptors } from "./support/descriptors.ts";

const FILE_LIMIT = 64;
const IDLE_CONNECTIONS = 100;

async function stop(backend: Backend | undefined) {
  if (!backend) return;
  try {
    backend.child.kill("SIGKILL");
  } catch {
    // Already exited.
  }
  await Promise.all([backend.child.status, backend.done, backend.stderr]);
}

Deno.test("out of descriptors: the listener dies on EMFILE and is regained once they are free", async () => {
  let backend: Backend | undefined;
  let conns: Deno.Conn[] = [];
  try {
    backend = await startBackend({}, { fileLimit: FILE_LIMIT });
    conns = (await hogDescriptors(backend.url, IDLE_CONNECTIONS)).conns;
    const failed = await backend.waitFor(/^Listener failed: .*Too many open files/);
    assert.equal(failed.level, "error");
    for (const conn of conns.splice(0)) conn.close();
    // The listener is back: poll the health check (each try is a real request), bounded.
    const deadline = Date.now() + 15_000;
    while (!(await healthy(backend.url))) {
      assert.ok(Date.now() < deadline, "the health check answers again within 15 s");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await backend.waitFor(/^Listener recovered/);
    backend.child.kill("SIGTERM");
    const status = await backend.child.status;
    assert.equal(status.code, 0);
    await backend.waitFor(/^Shutdown complete/);
  } finally {
    for (const conn of conns) conn.close();
    await stop(backend);
  }
});

Deno.test("out of descriptors for longer than LISTEN_RECOVERY_MS: graceful shutdown, summary line, exit 1", async () => {
  let backend: Backend | undefined;
  const conns: Deno.Conn[] = [];
  try {
    backend = await startBackend({ LISTEN_RECOVERY_MS: "500" }, { fileLimit: FILE_LIMIT });
    conns.push(...(await hogDescriptors(backend.url, IDLE_CONNECTIONS)).conns);
    await backend.waitFor(/^Listener failed: .*Too many open files/);
    // The idle connections stay open and clients keep coming: every listener taken again dies
    // at its next accept, until the outage passes LISTEN_RECOVERY_MS and the process gives up.
    let exited = false;
    const status = backend.child.status.finally(() => exited = true);
    const deadline = Date.now() + 20_000;
    while (!exited) {
      assert.ok(Date.now() < deadline, "the process gives up within 20 s");
      await healthy(backend.url);
    }
    assert.equal((await status).code, 1);
    await backend.done;
    await backend.waitFor(/^Listener failed: .*Too many open files/);
    await backend.waitFor(/^Listener still failing after 500 ms/);
    const summary = await backend.waitFor(/^Shutdown complete/);
    assert.ok(summary.telemetry, "the summary carries the sink counters");
    assert.equal(await backend.stderr, "", "no stack trace");
  } finally {
    for (const conn of conns) conn.close();
    await stop(backend);
  }
});
