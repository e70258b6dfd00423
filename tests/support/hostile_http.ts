/**
 * A hostile HTTP endpoint on 127.0.0.1 for the sinks' response-body limits: it answers every
 * request 200 with a body that never ends, either as fast as the client reads ("flood": a
 * 2 GiB answer and beyond) or a few bytes at a time ("trickle": never idle, never done).
 */

/** What the endpoint saw. */
export interface HostileEndpoint {
  url: string;
  /** Requests answered so far. */
  readonly requests: number;
  /** Bytes written into response bodies so far. */
  readonly bytesServed: number;
  /** Bodies the client stopped reading (cancelled or connection closed). */
  readonly cancelled: number;
  close(): Promise<void>;
}

/** Starts the endpoint; `content` is the body's content type (JSON by default). */
export function startHostileEndpoint(
  mode: "flood" | "trickle",
  contentType = "application/json",
): HostileEndpoint {
  let requests = 0;
  let bytesServed = 0;
  let cancelled = 0;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  // One shared chunk: the endpoint itself must stay small whatever it sends.
  const chunk = new TextEncoder().encode(`{"padding":"${"x".repeat(64 * 1024)}`);
  const tick = new TextEncoder().encode(" ");
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    requests++;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (mode === "flood") {
          bytesServed += chunk.byteLength;
          controller.enqueue(chunk);
          return;
        }
        return new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            bytesServed += tick.byteLength;
            try {
              controller.enqueue(tick);
            } catch { /* cancelled meanwhile */ }
            resolve();
          }, 20);
          timers.add(timer);
        });
      },
      cancel() {
        cancelled++;
      },
    }, { highWaterMark: 1 });
    return new Response(body, { status: 200, headers: { "content-type": contentType } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get requests() {
      return requests;
    },
    get bytesServed() {
      return bytesServed;
    },
    get cancelled() {
      return cancelled;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await server.shutdown();
    },
  };
}
