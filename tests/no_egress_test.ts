/**
 * Nothing leaves loopback when the app runs the documented ways, Deno's own traffic included: a
 * `deno run` asks for dl.deno.land about half a second after it starts (its update check)
 * unless DENO_NO_UPDATE_CHECK is set, which deno.json's tasks, the image and the tests'
 * children do. The probe: HTTP_PROXY and HTTPS_PROXY name a loopback listener, so any request
 * the process makes over HTTP arrives there (a CONNECT for HTTPS) instead of at the resolver,
 * and the control shows the probe does see Deno's check when it is on.
 */
import assert from "node:assert/strict";
import { startBackend } from "./support/backend.ts";

/** A loopback listener that keeps the first line of every connection made to it. */
function proxyRecorder() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const firstLines: string[] = [];
  const handlers: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      handlers.push((async () => {
        const buffer = new Uint8Array(1024);
        const read = await conn.read(buffer).catch(() => null);
        if (read) {
          firstLines.push(new TextDecoder().decode(buffer.subarray(0, read)).split("\r\n")[0]!);
        }
        conn.close();
      })());
    }
  })();
  const url = `http://127.0.0.1:${listener.addr.port}`;
  return {
    env: { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url },
    firstLines,
    async close() {
      listener.close();
      await accepting.catch(() => {});
      await Promise.all(handlers);
    },
  };
}

/** Starts the backend, answers one request, and keeps it up past Deno's update check. */
async function runAndRecord(options: { task?: string; updateCheck?: boolean }, waitMs: number) {
  const proxy = proxyRecorder();
  const backend = await startBackend(proxy.env, options);
  try {
    const response = await fetch(`${backend.url}/api/activities/home`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && proxy.firstLines.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    backend.child.kill("SIGTERM");
    await Promise.all([backend.child.status, backend.done, backend.stderr]);
    await proxy.close();
  }
  return proxy.firstLines;
}

Deno.test("`deno task start` makes no request of its own: Deno's update check is off", async () => {
  assert.deepEqual(await runAndRecord({ task: "start" }, 2_000), []);
});

Deno.test("the probe sees Deno's update check when nothing turns it off (the control)", async () => {
  const lines = await runAndRecord({ updateCheck: true }, 5_000);
  assert.ok(lines.some((line) => /^CONNECT dl\.deno\.land:443 /.test(line)), lines.join("\n"));
});

Deno.test("every deno.json task that runs Deno turns its update check off", async () => {
  const { tasks } = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  for (const [name, command] of Object.entries(tasks as Record<string, string>)) {
    // Tasks made only of other tasks (`deno task a && deno task b`) inherit theirs.
    if (command.split("&&").every((part) => /^\s*deno (task|fmt|lint|check)\b/.test(part))) {
      continue;
    }
    assert.match(command, /^DENO_NO_UPDATE_CHECK=1 deno /, name);
  }
});
