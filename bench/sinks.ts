/**
 * Loopback stand-ins for the telemetry backends under load. They are deliberately cheaper than
 * the enforcing stand-ins in tests/support (which parse and keep every event): here a sink
 * only has to answer like the real service so the server under test pays its real cost.
 *
 * - healthy: OTLP/HTTP answers 200 `{}`, CloudWatch Logs answers AWS JSON 1.1, Rollbar answers
 *   `{"err":0}`, and a UDP socket reads X-Ray datagrams.
 * - black hole: one TCP listener that accepts, reads and never answers (OTLP, CloudWatch and
 *   Rollbar all point at it), and an X-Ray address whose UDP port nobody listens on.
 */
import dgram from "node:dgram";
import type { SinkKind } from "./lib.ts";

/** Counters of what the healthy stand-ins received. */
export interface SinkCounts {
  otlpRequests: number;
  otlpBytes: number;
  cloudwatchCalls: Record<string, number>;
  cloudwatchBytes: number;
  rollbarItems: number;
  xrayDatagrams: number;
  xrayBytes: number;
  blackholeConnections: number;
  blackholeBytes: number;
}

/** Where the stand-ins listen: all a configuration's environment needs of them. */
export type SinkAddresses = Pick<Sinks, "otlpUrl" | "cloudwatchUrl" | "rollbarUrl" | "xrayAddress">;

/** Running loopback sinks. */
export interface Sinks {
  /** OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  otlpUrl: string;
  /** AWS_ENDPOINT_URL_CLOUDWATCH_LOGS. */
  cloudwatchUrl: string;
  /** ROLLBAR_ENDPOINT. */
  rollbarUrl: string;
  /** AWS_XRAY_DAEMON_ADDRESS. */
  xrayAddress: string;
  counts: SinkCounts;
  close(): Promise<void>;
}

function emptyCounts(): SinkCounts {
  return {
    otlpRequests: 0,
    otlpBytes: 0,
    cloudwatchCalls: {},
    cloudwatchBytes: 0,
    rollbarItems: 0,
    xrayDatagrams: 0,
    xrayBytes: 0,
    blackholeConnections: 0,
    blackholeBytes: 0,
  };
}

const AWS_JSON = { "content-type": "application/x-amz-json-1.1" };

function cloudwatchAnswer(operation: string, logGroup: string): Response {
  const requestId = crypto.randomUUID();
  const headers = { ...AWS_JSON, "x-amzn-requestid": requestId };
  switch (operation) {
    case "DescribeLogGroups":
      return new Response(
        JSON.stringify({ logGroups: [{ logGroupName: logGroup, arn: `arn:bench:${logGroup}` }] }),
        { headers },
      );
    case "DescribeLogStreams":
      return new Response(JSON.stringify({ logStreams: [] }), { headers });
    case "PutLogEvents":
      return new Response(JSON.stringify({ nextSequenceToken: "0" }), { headers });
    default:
      return new Response("{}", { headers });
  }
}

async function udpSocket(onMessage?: (size: number) => void): Promise<dgram.Socket> {
  const socket = dgram.createSocket("udp4");
  if (onMessage) socket.on("message", (message: Uint8Array) => onMessage(message.byteLength));
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => resolve());
  });
  return socket;
}

/** Starts the healthy stand-ins on 127.0.0.1. */
export async function startHealthySinks(logGroup = "cruddur"): Promise<Sinks> {
  const counts = emptyCounts();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async function answer(request) {
      const body = await request.arrayBuffer();
      const path = new URL(request.url).pathname;
      if (path.startsWith("/otlp")) {
        counts.otlpRequests++;
        counts.otlpBytes += body.byteLength;
        return new Response("{}", { headers: { "content-type": "application/json" } });
      }
      if (path.startsWith("/rollbar")) {
        counts.rollbarItems++;
        return Response.json({ err: 0, result: { id: null, uuid: crypto.randomUUID() } });
      }
      const operation = (request.headers.get("x-amz-target") ?? "").split(".").pop() ?? "";
      counts.cloudwatchCalls[operation] = (counts.cloudwatchCalls[operation] ?? 0) + 1;
      counts.cloudwatchBytes += body.byteLength;
      return cloudwatchAnswer(operation, logGroup);
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const xray = await udpSocket((size) => {
    counts.xrayDatagrams++;
    counts.xrayBytes += size;
  });
  return {
    otlpUrl: `${base}/otlp`,
    cloudwatchUrl: `${base}/cloudwatch`,
    rollbarUrl: `${base}/rollbar/api/1/item/`,
    xrayAddress: `127.0.0.1:${xray.address().port}`,
    counts,
    async close() {
      await new Promise<void>((resolve) => xray.close(() => resolve()));
      await server.shutdown();
    },
  };
}

/** Starts the black holes on 127.0.0.1. */
export async function startBlackholeSinks(): Promise<Sinks> {
  const counts = emptyCounts();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections = new Set<Deno.Conn>();
  let closed = false;

  async function swallow(conn: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        counts.blackholeBytes += n;
      }
    } catch {
      // Closed by us at the end, or reset by the client's timeout: either way, done.
    } finally {
      connections.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        if (closed) {
          conn.close();
          continue;
        }
        counts.blackholeConnections++;
        connections.add(conn);
        void swallow(conn);
      }
    } catch {
      // The listener was closed.
    }
  })();

  // A UDP port that was bound once and released: datagrams to it go nowhere.
  const probe = await udpSocket();
  const closedPort = probe.address().port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  const base = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  return {
    otlpUrl: `${base}/otlp`,
    cloudwatchUrl: `${base}/cloudwatch`,
    rollbarUrl: `${base}/rollbar/api/1/item/`,
    xrayAddress: `127.0.0.1:${closedPort}`,
    counts,
    async close() {
      closed = true;
      listener.close();
      for (const conn of connections) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      connections.clear();
      await accepting;
    },
  };
}

/** The stand-ins a configuration's `sinks` kind names, from those already running. */
export function sinksOf<T>(
  kind: SinkKind,
  running: { healthy: T; blackhole: T },
): T | undefined {
  return kind === "none" ? undefined : running[kind];
}

/** Starts the stand-ins a configuration's `sinks` kind names (none for "none"). */
export function startSinksOf(kind: SinkKind): Promise<Sinks | undefined> {
  return kind === "healthy"
    ? startHealthySinks()
    : kind === "blackhole"
    ? startBlackholeSinks()
    : Promise.resolve(undefined);
}

/**
 * The stand-ins in a child process (bench/sinks_process.ts): their CPU is not the measuring
 * process's, and the measuring process's own work (sampling /proc, polling RSS) does not
 * delay their answers. With them in the bench process, a healthy row under wrk lost 0.1-0.4%
 * of its spans, log records or CloudWatch lines to late answers; in a process of their own,
 * none in three runs of each.
 */
export async function startSinksProcess(
  kind: "healthy" | "blackhole",
): Promise<SinkAddresses & { close(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", new URL("./sinks_process.ts", import.meta.url).pathname, kind],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the sinks process ended before printing its addresses");
    line += value;
  }
  reader.releaseLock();
  const writer = child.stdin.getWriter();
  const addresses: SinkAddresses = JSON.parse(line);
  return {
    ...addresses,
    async close() {
      await writer.close();
      await child.status;
    },
  };
}
