/**
 * A stand-in for the X-Ray daemon: binds 127.0.0.1:0 and checks every datagram the way the
 * daemon and the X-Ray API would (framing, 64 KiB, segment document schema, annotation limits).
 */
import dgram from "node:dgram";

/** The exact framing line the daemon expects before each document. */
export const EXPECTED_HEADER = '{"format":"json","version":1}';
/** The daemon's receive buffer: anything larger is cut by the kernel or refused. */
export const MAX_DATAGRAM_BYTES = 64 * 1024;

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
  /** Resolves once `count` documents arrived, rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedDocument[]>;
  /** Waits `ms` so a test can assert nothing more arrives. */
  settle(ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts the listener on an ephemeral loopback port. */
export async function startUdpListener(): Promise<UdpListener> {
  const socket = dgram.createSocket("udp4");
  const documents: ReceivedDocument[] = [];
  const rejected: string[] = [];
  let notify: (() => void) | undefined;
  socket.on("message", (message: Uint8Array) => {
    const reason = check(message, documents);
    if (reason !== undefined) rejected.push(reason);
    notify?.();
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  // The default kernel receive buffer is kept on purpose: a sender that bursts hundreds of
  // datagrams loses some here, as it would at the daemon.
  const port = socket.address().port;
  return {
    port,
    documents,
    rejected,
    waitFor(count: number, timeoutMs = 2000): Promise<ReceivedDocument[]> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          notify = undefined;
          reject(new Error(`Expected ${count} documents, got ${documents.length}`));
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
    settle(ms = 50): Promise<void> {
      return new Promise((resolve) => setTimeout(resolve, ms));
    },
    close(): Promise<void> {
      return new Promise((resolve) => socket.close(() => resolve()));
    },
  };
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
