/**
 * A stand-in for the X-Ray daemon: binds 127.0.0.1:0 in a child process, as the daemon is one,
 * and checks every datagram the way the daemon and the X-Ray API would (framing, 64 KiB,
 * segment document schema, annotation limits).
 */

/** The exact framing line the daemon expects before each document. */
export const EXPECTED_HEADER = '{"format":"json","version":1}';
/** The daemon's receive buffer: anything larger is cut by the kernel or refused. */
export const MAX_DATAGRAM_BYTES = 64 * 1024;
const RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

const HEX16 = /^[0-9a-f]{16}$/;
const TRACE_ID = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/;
const ANNOTATION_KEY = /^[A-Za-z0-9_]{1,500}$/;

/** A document as received, with its datagram size. */
export interface ReceivedDocument {
  bytes: number;
  // deno-lint-ignore no-explicit-any
  doc: any;
}

/** A running listener. */
export interface UdpListener {
  port: number;
  documents: ReceivedDocument[];
  /** Datagrams refused, with the reason. */
  rejected: string[];
  /**
   * Resolves once `count` datagrams arrived (accepted or rejected), rejects after `timeoutMs`.
   * Pass the count the sender reports as sent: then "nothing more arrives" needs no quiet period.
   */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedDocument[]>;
  close(): Promise<void>;
}

// The socket lives in a Node.js child process: Deno's node:dgram accepts `recvBufferSize` but
// leaves the kernel's default (~208 KiB) in place, and a receiver on the test's own event loop
// cannot drain while the sender under test is bursting. The child drains into an 8 MiB buffer
// on its own thread and forwards each datagram as a base64 line, so a test that waits for the
// count the sender reports sees every datagram the sender handed to the kernel.
const RECEIVER = `
const socket = require("node:dgram").createSocket({ type: "udp4", recvBufferSize: ${RECEIVE_BUFFER_BYTES} });
socket.on("message", (m) => process.stdout.write(m.toString("base64") + "\\n"));
socket.bind(0, "127.0.0.1", () => process.stdout.write("port " + socket.address().port + "\\n"));
process.stdin.on("end", () => socket.close(() => process.exit(0)));
process.stdin.resume();
`;

/** Starts the listener on an ephemeral loopback port. */
export async function startUdpListener(): Promise<UdpListener> {
  const child = new Deno.Command("node", {
    args: ["-e", RECEIVER],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const documents: ReceivedDocument[] = [];
  const rejected: string[] = [];
  let notify: (() => void) | undefined;
  let announcePort: (port: number) => void = () => {};
  const portKnown = new Promise<number>((resolve) => announcePort = resolve);
  const reading = (async () => {
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines());
    for await (const line of lines) {
      if (line.startsWith("port ")) {
        announcePort(Number(line.slice(5)));
        continue;
      }
      const reason = check(decodeBase64(line), documents);
      if (reason !== undefined) rejected.push(reason);
      notify?.();
    }
  })();
  const port = await portKnown;
  return {
    port,
    documents,
    rejected,
    waitFor(count: number, timeoutMs = 10_000): Promise<ReceivedDocument[]> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          notify = undefined;
          reject(
            new Error(`Expected ${count} datagrams, got ${documents.length + rejected.length}`),
          );
        }, timeoutMs);
        const check = () => {
          if (documents.length + rejected.length >= count) {
            clearTimeout(timer);
            notify = undefined;
            resolve(documents);
          }
        };
        notify = check;
        check();
      });
    },
    async close(): Promise<void> {
      await child.stdin.close();
      await child.status;
      await reading;
    },
  };
}

function splitLines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const part of parts) if (part !== "") controller.enqueue(part);
    },
    flush(controller) {
      if (rest !== "") controller.enqueue(rest);
    },
  });
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function check(message: Uint8Array, documents: ReceivedDocument[]): string | undefined {
  if (message.byteLength > MAX_DATAGRAM_BYTES) return `datagram of ${message.byteLength} bytes`;
  const text = new TextDecoder().decode(message);
  const newline = text.indexOf("\n");
  if (newline === -1) return "no header line";
  if (text.slice(0, newline) !== EXPECTED_HEADER) return `bad header ${text.slice(0, newline)}`;
  let doc: unknown;
  try {
    doc = JSON.parse(text.slice(newline + 1));
  } catch {
    return "body is not JSON";
  }
  const problems: string[] = [];
  validateDocument(doc, problems);
  if (problems.length > 0) return problems.join("; ");
  documents.push({ bytes: message.byteLength, doc });
  return undefined;
}

// deno-lint-ignore no-explicit-any
function validateDocument(doc: any, problems: string[]): void {
  if (typeof doc !== "object" || doc === null) {
    problems.push("document is not an object");
    return;
  }
  const independent = doc.type === "subsegment";
  if (doc.type !== undefined && !independent) problems.push(`unknown type ${doc.type}`);
  if (!TRACE_ID.test(doc.trace_id)) problems.push(`trace_id ${doc.trace_id}`);
  if (independent && !HEX16.test(doc.parent_id)) problems.push(`parent_id ${doc.parent_id}`);
  if (!independent && doc.parent_id !== undefined && !HEX16.test(doc.parent_id)) {
    problems.push(`parent_id ${doc.parent_id}`);
  }
  const annotations = { count: 0 };
  validateSegmentFields(doc, problems, annotations);
  if (annotations.count > 50) problems.push(`${annotations.count} annotations`);
}

// deno-lint-ignore no-explicit-any
function validateSegmentFields(doc: any, problems: string[], annotations: { count: number }) {
  if (typeof doc.name !== "string" || doc.name.length === 0 || doc.name.length > 200) {
    problems.push(`name ${doc.name}`);
  }
  if (!HEX16.test(doc.id)) problems.push(`id ${doc.id}`);
  if (typeof doc.start_time !== "number") problems.push("start_time");
  if (typeof doc.end_time !== "number" && doc.in_progress !== true) {
    problems.push("end_time or in_progress");
  }
  if (typeof doc.end_time === "number" && doc.end_time < doc.start_time) {
    problems.push("end_time before start_time");
  }
  for (const [key, value] of Object.entries(doc.annotations ?? {})) {
    annotations.count++;
    if (!ANNOTATION_KEY.test(key)) problems.push(`annotation key ${key}`);
    const ok = typeof value === "number" || typeof value === "boolean" ||
      (typeof value === "string" && [...value].length <= 1000);
    if (!ok) problems.push(`annotation value for ${key}`);
  }
  if (doc.subsegments !== undefined) {
    if (!Array.isArray(doc.subsegments)) problems.push("subsegments is not an array");
    else for (const sub of doc.subsegments) validateSegmentFields(sub, problems, annotations);
  }
}
