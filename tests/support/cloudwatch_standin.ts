import { type EmfDatum, readEmf } from "./emf.ts";
import { sigV4Problem } from "./sigv4.ts";

/**
 * A CloudWatch Logs stand-in on 127.0.0.1 speaking AWS JSON 1.1. It enforces PutLogEvents'
 * documented limits and fails a call the way AWS does, so a sink bug fails a test.
 */

const EVENT_OVERHEAD_BYTES = 26;
const MAX_BATCH_BYTES = 1_048_576;
const MAX_BATCH_EVENTS = 10_000;
const MAX_EVENT_BYTES = MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES;
const MAX_SPAN_MS = 24 * 60 * 60 * 1000;
const TOO_NEW_MS = 2 * 60 * 60 * 1000;
const TOO_OLD_MS = 14 * 24 * 60 * 60 * 1000;
const TARGET_PREFIX = "Logs_20140328.";

/** The key pairs the test suite signs with; any other key is refused as AWS would. */
export const TEST_CREDENTIALS: Readonly<Record<string, string>> = {
  AKIDSTANDIN: "standin-secret",
  AKIDEXAMPLE: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  AKID: "s",
};
const GROUP_NAME = /^[.\-_/#A-Za-z0-9]{1,512}$/;
const STREAM_NAME = /^[^:*]{1,512}$/;

/** One stored log event. */
export interface StoredEvent {
  timestamp: number;
  message: string;
}

/** One request the stand-in received, with how it answered. */
export interface StandInCall {
  operation: string;
  status: number;
  errorType?: string;
  eventCount?: number;
  batchBytes?: number;
  signed: boolean;
  host: string | null;
}

/** Options of {@linkcode startCloudWatchStandIn}. */
export interface CloudWatchStandInOptions {
  /** The service's clock, for the 2 h / 14 day rejection windows. */
  now?: () => number;
  /** Access key id → secret key: signatures are verified against these (the tests' keys). */
  credentials?: Record<string, string>;
}

/** A running stand-in: its endpoint, what it stored, and fault switches. */
export interface CloudWatchStandIn {
  endpoint: string;
  /** Stored events of one stream, in the order they were accepted. */
  events(group: string, stream: string): StoredEvent[];
  /** Metric data extracted from stored Embedded Metric Format events, as CloudWatch does. */
  emfMetrics(): EmfDatum[];
  /** Why stored events with an `_aws` member yielded no metric (EMF validation errors). */
  emfErrors(): string[];
  groups(): string[];
  streams(group: string): string[];
  calls: StandInCall[];
  /** Calls of one operation, e.g. "PutLogEvents". */
  callsOf(operation: string): StandInCall[];
  /** The next n PutLogEvents calls answer 400 ThrottlingException. */
  throttleNext(n: number): void;
  /** The next n PutLogEvents calls answer `status` (503 ServiceUnavailable by default). */
  failNext(n: number, status?: number): void;
  /** The next n PutLogEvents calls answer 400 InvalidParameterException. */
  invalidNext(n: number): void;
  /** Forgets a stream (its events stay readable), so the next put gets ResourceNotFound. */
  deleteStream(group: string, stream: string): void;
  /** While on, requests are held open until turned off or close(). */
  hang(on: boolean): void;
  close(): Promise<void>;
}

interface Fault {
  status: number;
  type: string;
  message: string;
}

/** Starts the stand-in on 127.0.0.1, port 0. */
export function startCloudWatchStandIn(
  options: CloudWatchStandInOptions = {},
): CloudWatchStandIn {
  const now = options.now ?? Date.now;
  const secrets = new Map(Object.entries(options.credentials ?? TEST_CREDENTIALS));
  const groups = new Map<string, Map<string, StoredEvent[]>>();
  const archive = new Map<string, StoredEvent[]>();
  const calls: StandInCall[] = [];
  const faults: Fault[] = [];
  const hung = new Set<() => void>();
  let hanging = false;

  function archived(group: string, stream: string): StoredEvent[] {
    const key = `${group}\u0000${stream}`;
    let list = archive.get(key);
    if (list === undefined) archive.set(key, list = []);
    return list;
  }

  async function handle(request: Request): Promise<Response> {
    const targetHeader = request.headers.get("x-amz-target") ?? "";
    const operation = targetHeader.startsWith(TARGET_PREFIX)
      ? targetHeader.slice(TARGET_PREFIX.length)
      : targetHeader;
    const record: StandInCall = {
      operation,
      status: 200,
      signed: (request.headers.get("authorization") ?? "").startsWith("AWS4-HMAC-SHA256 "),
      host: request.headers.get("host"),
    };
    calls.push(record);
    const body = await request.text();
    if (hanging) {
      // Held until hang(false) or close(); an aborting client just stops listening.
      await new Promise<void>((resolve) => hung.add(resolve));
    }
    function fail(status: number, type: string, message: string): Response {
      record.status = status;
      record.errorType = type;
      return json(status, { __type: type, message });
    }
    if (request.method !== "POST") return fail(400, "SerializationException", "POST only");
    if (!record.signed) {
      return fail(400, "MissingAuthenticationTokenException", "Missing Authentication Token");
    }
    const signature = sigV4Problem(request, body, secrets);
    if (signature) return fail(403, signature.type, signature.message);
    if (!(request.headers.get("content-type") ?? "").startsWith("application/x-amz-json-1.1")) {
      return fail(400, "SerializationException", "Expected application/x-amz-json-1.1");
    }
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(body);
    } catch {
      return fail(400, "SerializationException", "Body is not JSON");
    }
    const group = String(input.logGroupName ?? "");
    const stream = String(input.logStreamName ?? "");
    switch (operation) {
      case "DescribeLogGroups": {
        const prefix = String(input.logGroupNamePrefix ?? "");
        const logGroups = [...groups.keys()].filter((g) => g.startsWith(prefix)).map((g) => ({
          logGroupName: g,
          arn: `arn:aws:logs:us-east-1:000000000000:log-group:${g}:*`,
          creationTime: 0,
          storedBytes: 0,
        }));
        return json(200, { logGroups });
      }
      case "DescribeLogStreams": {
        const streams = groups.get(group);
        if (streams === undefined) {
          return fail(400, "ResourceNotFoundException", "The specified log group does not exist.");
        }
        const prefix = String(input.logStreamNamePrefix ?? "");
        const logStreams = [...streams.keys()].filter((s) => s.startsWith(prefix)).map((s) => ({
          logStreamName: s,
          creationTime: 0,
        }));
        return json(200, { logStreams });
      }
      case "CreateLogGroup":
        if (!GROUP_NAME.test(group)) {
          return fail(400, "InvalidParameterException", "Invalid log group name");
        }
        if (groups.has(group)) {
          return fail(
            400,
            "ResourceAlreadyExistsException",
            "The specified log group already exists",
          );
        }
        groups.set(group, new Map());
        return json(200, {});
      case "CreateLogStream": {
        const streams = groups.get(group);
        if (streams === undefined) {
          return fail(400, "ResourceNotFoundException", "The specified log group does not exist.");
        }
        if (!STREAM_NAME.test(stream)) {
          return fail(400, "InvalidParameterException", "Invalid log stream name");
        }
        if (streams.has(stream)) {
          return fail(
            400,
            "ResourceAlreadyExistsException",
            "The specified log stream already exists",
          );
        }
        streams.set(stream, archived(group, stream));
        return json(200, {});
      }
      case "PutLogEvents":
        return putLogEvents(group, stream, input.logEvents);
      default:
        return fail(400, "UnknownOperationException", `Unknown operation ${operation}`);
    }

    function putLogEvents(group: string, stream: string, raw: unknown): Response {
      const fault = faults.shift();
      if (fault !== undefined) return fail(fault.status, fault.type, fault.message);
      const streams = groups.get(group);
      if (streams === undefined) {
        return fail(400, "ResourceNotFoundException", "The specified log group does not exist.");
      }
      const stored = streams.get(stream);
      if (stored === undefined) {
        return fail(400, "ResourceNotFoundException", "The specified log stream does not exist.");
      }
      if (!Array.isArray(raw) || raw.length === 0) {
        return fail(400, "InvalidParameterException", "logEvents must hold at least 1 event");
      }
      record.eventCount = raw.length;
      if (raw.length > MAX_BATCH_EVENTS) {
        return fail(400, "InvalidParameterException", "Too many log events in the batch");
      }
      const events: StoredEvent[] = [];
      let bytes = 0;
      for (const item of raw) {
        const { timestamp, message } = item as Partial<StoredEvent>;
        if (typeof message !== "string" || message.length === 0) {
          return fail(400, "InvalidParameterException", "Log event message must not be empty");
        }
        if (typeof timestamp !== "number" || !Number.isInteger(timestamp) || timestamp < 0) {
          return fail(400, "InvalidParameterException", "Log event timestamp is invalid");
        }
        const size = new TextEncoder().encode(message).length;
        if (size > MAX_EVENT_BYTES) {
          return fail(400, "InvalidParameterException", "Log event too large");
        }
        const previous = events.at(-1);
        if (previous !== undefined && timestamp < previous.timestamp) {
          return fail(
            400,
            "InvalidParameterException",
            "Log events in a single PutLogEvents request must be in chronological order.",
          );
        }
        bytes += size + EVENT_OVERHEAD_BYTES;
        events.push({ timestamp, message });
      }
      record.batchBytes = bytes;
      if (bytes > MAX_BATCH_BYTES) {
        return fail(400, "InvalidParameterException", "Upload too large");
      }
      if (events.at(-1)!.timestamp - events[0]!.timestamp > MAX_SPAN_MS) {
        return fail(
          400,
          "InvalidParameterException",
          "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        );
      }
      const at = now();
      let tooOldEnd = -1;
      let tooNewStart = -1;
      events.forEach((event, i) => {
        if (event.timestamp < at - TOO_OLD_MS) tooOldEnd = i;
        else if (event.timestamp > at + TOO_NEW_MS && tooNewStart < 0) tooNewStart = i;
        else stored.push(event);
      });
      const rejectedLogEventsInfo: Record<string, number> = {};
      if (tooOldEnd >= 0) rejectedLogEventsInfo.tooOldLogEventEndIndex = tooOldEnd;
      if (tooNewStart >= 0) rejectedLogEventsInfo.tooNewLogEventStartIndex = tooNewStart;
      return json(
        200,
        Object.keys(rejectedLogEventsInfo).length > 0 ? { rejectedLogEventsInfo } : {},
      );
    }
  }

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handle,
  );
  const endpoint = `http://127.0.0.1:${server.addr.port}`;

  function release(): void {
    for (const resolve of hung) resolve();
    hung.clear();
  }

  return {
    endpoint,
    events(group, stream) {
      return [...archive.get(`${group}\u0000${stream}`) ?? []];
    },
    emfMetrics() {
      return [...archive.values()].flat().flatMap((e) => {
        const result = readEmf(e.message);
        return result.kind === "metrics" ? result.data : [];
      });
    },
    emfErrors() {
      return [...archive.values()].flat().flatMap((e) => {
        const result = readEmf(e.message);
        return result.kind === "invalid" ? [result.reason] : [];
      });
    },
    groups() {
      return [...groups.keys()];
    },
    streams(group) {
      return [...groups.get(group)?.keys() ?? []];
    },
    calls,
    callsOf(operation) {
      return calls.filter((c) => c.operation === operation);
    },
    throttleNext(n) {
      for (let i = 0; i < n; i++) {
        faults.push({ status: 400, type: "ThrottlingException", message: "Rate exceeded" });
      }
    },
    failNext(n, status = 503) {
      const type = status === 503 ? "ServiceUnavailableException" : "InternalFailure";
      for (let i = 0; i < n; i++) faults.push({ status, type, message: "Service unavailable" });
    },
    invalidNext(n) {
      for (let i = 0; i < n; i++) {
        faults.push({ status: 400, type: "InvalidParameterException", message: "Invalid" });
      }
    },
    deleteStream(group, stream) {
      groups.get(group)?.delete(stream);
    },
    hang(on) {
      hanging = on;
      if (!on) release();
    },
    async close() {
      hanging = false;
      release();
      await server.shutdown();
    },
  };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amzn-requestid": crypto.randomUUID(),
    },
  });
}
