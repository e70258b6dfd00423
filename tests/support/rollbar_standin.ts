/**
 * A stand-in for Rollbar's item API (POST /api/1/item/) on 127.0.0.1. It enforces what the real
 * API documents: the X-Rollbar-Access-Token header (401 without it), the item schema (422 with
 * the first problem: `data.environment` ≤255 chars, exactly one of trace/trace_chain/message/
 * crash_report with their required parts, the level enum, string limits; see `validate`), and
 * the payload size limit (413). Every answer is JSON, like Rollbar's.
 */

/**
 * Rollbar's API reference documents "413 Request entity too large: the request exceeded the
 * maximum size of 128KB" (quoted in rollbar/rollbar.js#629 and rollbar/rollbar-php#424; a
 * maintainer notes the server tolerates up to 1 MB in practice, rollbar-php#38). We enforce the
 * documented figure so a test fails where production might.
 */
export const ROLLBAR_MAX_PAYLOAD_BYTES = 128 * 1024;

/** One item as Rollbar receives it: `{ data: {...} }`. */
export interface Payload {
  data: Record<string, unknown>;
  [key: string]: unknown;
}

/** Options for the stand-in. */
export interface RollbarStandInOptions {
  /** Only this token is accepted when set; any non-empty token otherwise. */
  accessToken?: string;
  /** The body size limit in bytes; Rollbar's documented 128 KB by default. */
  maxPayloadBytes?: number;
}

/** A running stand-in. */
export interface RollbarStandIn {
  /** Full URL of POST /api/1/item/. */
  readonly endpoint: string;
  /** Accepted items, parsed. */
  readonly items: Payload[];
  /** The raw text of every request body received, accepted or not. */
  readonly bodies: string[];
  /** Status codes answered so far, in order. */
  readonly statuses: number[];
  /** Answers the next `times` item requests (all of them when omitted) with `status`. */
  respondWith(status: number, times?: number): void;
  /** Holds every item request unanswered until the returned function is called (a stall). */
  hold(): () => void;
  /** Stops listening: connections are refused until `up()`. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): void;
  /** Stops for good. */
  close(): Promise<void>;
}

const ITEM_PATH = "/api/1/item/";
const BODY_KINDS = ["trace", "trace_chain", "message", "crash_report"];

/** Starts the stand-in on 127.0.0.1 with an ephemeral port. */
export function startRollbarStandIn(options: RollbarStandInOptions = {}): RollbarStandIn {
  const maxBytes = options.maxPayloadBytes ?? ROLLBAR_MAX_PAYLOAD_BYTES;
  const items: Payload[] = [];
  const bodies: string[] = [];
  const statuses: number[] = [];
  let forced: { status: number; remaining: number } | undefined;
  let held: Promise<void> | undefined;
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  let port = 0;

  function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
    statuses.push(status);
    return Response.json(body, { status, headers });
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== ITEM_PATH) return answer(404, { err: 1, message: "Not found" });
    if (held) await held;
    if (request.method !== "POST") {
      return answer(405, { err: 1, message: "Method not allowed" });
    }
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > maxBytes) {
      await request.body?.cancel();
      return answer(413, { err: 1, message: `Max payload size is ${maxBytes} bytes` });
    }
    const bytes = new Uint8Array(await request.arrayBuffer());
    const text = new TextDecoder().decode(bytes);
    bodies.push(text);
    if (bytes.byteLength > maxBytes) {
      return answer(413, { err: 1, message: `Max payload size is ${maxBytes} bytes` });
    }
    const token = request.headers.get("x-rollbar-access-token");
    if (!token || (options.accessToken !== undefined && token !== options.accessToken)) {
      return answer(401, { err: 1, message: "invalid access token" });
    }
    if (forced && forced.remaining > 0) {
      forced.remaining--;
      const status = forced.status;
      if (status === 429) {
        return answer(429, { err: 1, message: "rate limit reached" }, {
          "X-Rate-Limit-Limit": "5000",
          "X-Rate-Limit-Remaining": "0",
          "X-Rate-Limit-Reset": String(Math.floor(Date.now() / 1000) + 1),
          "X-Rate-Limit-Remaining-Seconds": "1",
        });
      }
      return answer(status, { err: 1, message: `stand-in answered ${status}` });
    }
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      return answer(400, { err: 1, message: "invalid JSON" });
    }
    const problem = validate(payload);
    if (problem) return answer(422, { err: 1, message: problem });
    items.push(payload as Payload);
    return answer(200, { err: 0, result: { id: null, uuid: crypto.randomUUID() } });
  }

  function listen() {
    server = Deno.serve(
      { hostname: "127.0.0.1", port, onListen: () => {} },
      handle,
    );
    port = server.addr.port;
  }

  listen();

  return {
    endpoint: `http://127.0.0.1:${port}${ITEM_PATH}`,
    items,
    bodies,
    statuses,
    hold() {
      let release = () => {};
      held = new Promise((resolve) => {
        release = () => {
          held = undefined;
          resolve();
        };
      });
      return release;
    },
    respondWith(status, times) {
      forced = status === 200 ? undefined : { status, remaining: times ?? Infinity };
    },
    async down() {
      const s = server;
      server = undefined;
      await s?.shutdown();
    },
    up() {
      if (!server) listen();
    },
    async close() {
      const s = server;
      server = undefined;
      await s?.shutdown();
    },
  };
}

/**
 * The item schema of Rollbar's API reference ("Create an item", POST /api/1/item/): the
 * required fields, the body kinds and their required parts, the level enum, and the
 * documented string limits. The first problem found is answered 422, as the API does.
 */
function validate(payload: unknown): string | undefined {
  if (!isRecord(payload) || !isRecord(payload.data)) return "missing data";
  const data = payload.data;
  if (typeof data.environment !== "string" || data.environment.length === 0) {
    return "data.environment is required";
  }
  if (data.environment.length > 255) return "data.environment is longer than 255 characters";
  if (!isRecord(data.body)) return "data.body is required";
  const kinds = Object.keys(data.body).filter((k) => BODY_KINDS.includes(k));
  if (kinds.length !== 1) return "data.body needs exactly one of " + BODY_KINDS.join(", ");
  const body = data.body;
  if (kinds[0] === "trace") {
    const problem = validateTrace(body.trace, "data.body.trace");
    if (problem) return problem;
  }
  if (kinds[0] === "trace_chain") {
    if (!Array.isArray(body.trace_chain) || body.trace_chain.length === 0) {
      return "data.body.trace_chain must be a non-empty array of traces";
    }
    for (const [i, trace] of body.trace_chain.entries()) {
      const problem = validateTrace(trace, `data.body.trace_chain[${i}]`);
      if (problem) return problem;
    }
  }
  if (kinds[0] === "message") {
    if (!isRecord(body.message) || typeof body.message.body !== "string") {
      return "data.body.message.body is required and must be a string";
    }
  }
  if (kinds[0] === "crash_report") {
    if (!isRecord(body.crash_report) || typeof body.crash_report.raw !== "string") {
      return "data.body.crash_report.raw is required and must be a string";
    }
  }
  if (data.level !== undefined && !LEVELS.includes(data.level as string)) {
    return `data.level must be one of ${LEVELS.join(", ")}`;
  }
  if (data.timestamp !== undefined && !Number.isInteger(data.timestamp)) {
    return "data.timestamp must be an integer (seconds since the epoch)";
  }
  for (const [field, max] of STRING_LIMITS) {
    const value = data[field];
    if (value === undefined) continue;
    if (typeof value !== "string") return `data.${field} must be a string`;
    if (value.length > max) return `data.${field} is longer than ${max} characters`;
  }
  for (const field of ["request", "server", "client", "custom", "notifier"]) {
    if (data[field] !== undefined && !isRecord(data[field])) {
      return `data.${field} must be an object`;
    }
  }
  if (data.person !== undefined) {
    if (!isRecord(data.person) || typeof data.person.id !== "string" || data.person.id === "") {
      return "data.person.id is required and must be a string";
    }
    if (data.person.id.length > 40) return "data.person.id is longer than 40 characters";
  }
  return undefined;
}

const LEVELS = ["critical", "error", "warning", "info", "debug"];
/** Optional top-level strings and their documented maximum lengths. */
const STRING_LIMITS: ReadonlyArray<[string, number]> = [
  ["platform", 255],
  ["language", 255],
  ["framework", 255],
  ["context", 255],
  ["code_version", 40],
  ["uuid", 36],
  ["title", 255],
];

function validateTrace(trace: unknown, where: string): string | undefined {
  if (!isRecord(trace)) return `${where} must be an object`;
  if (!Array.isArray(trace.frames)) return `${where}.frames is required and must be an array`;
  for (const [i, frame] of trace.frames.entries()) {
    if (!isRecord(frame) || typeof frame.filename !== "string") {
      return `${where}.frames[${i}].filename is required`;
    }
  }
  if (!isRecord(trace.exception) || typeof trace.exception.class !== "string") {
    return `${where}.exception.class is required and must be a string`;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
