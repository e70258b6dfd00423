/**
 * The CloudWatch Logs client the sink uses: explicit settings only (no ~/.aws, no EC2
 * metadata), no SDK retries (the sink retries), and a request handler that reads at most a
 * small, fixed amount of any response and cuts a body that never ends when the call's
 * signal aborts (the SDK's default handler buffers whatever the endpoint sends).
 */
import { CloudWatchLogsClient, PutLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { readBounded } from "../util/body.ts";
import type { CredentialsSource } from "./credentials.ts";

/** Largest response body kept: PutLogEvents answers in bytes, DescribeLogGroups(50) in a few KiB. */
export const MAX_RESPONSE_BYTES = 256 * 1024;

/** What the default client needs: region, explicit credentials and an optional endpoint. */
export interface CloudWatchClientOptions {
  region: string;
  /**
   * Explicit keys or our own provider, so the SDK's default chain never probes ~/.aws or the
   * EC2 metadata address.
   */
  credentials: CredentialsSource;
  endpoint?: string | undefined;
  /** Response bytes kept at most; longer bodies fail the call. Default {@linkcode MAX_RESPONSE_BYTES}. */
  maxResponseBytes?: number;
}

/** The parts of Smithy's HttpRequest the handler reads. */
interface SignedRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

/** Raised when a response is longer than the handler keeps; the sink retries it as a network error. */
export class ResponseTooLargeError extends Error {
  override name = "ResponseTooLargeError";
}

/**
 * A Smithy HttpHandler on `fetch` that bounds the response body. The body is handed to the
 * SDK as bytes, which its deserialisers accept as they are.
 */
export class BoundedFetchHandler {
  readonly metadata = { handlerProtocol: "http/1.1" };
  constructor(private readonly maxResponseBytes: number) {}

  async handle(
    request: SignedRequest,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<{ response: unknown }> {
    const signal = options.abortSignal;
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      // fetch sets Host itself, to the same host:port the signature covers.
      if (name.toLowerCase() !== "host") headers.set(name, value);
    }
    const response = await fetch(requestUrl(request), {
      method: request.method,
      headers,
      body: request.method === "GET" || request.method === "HEAD"
        ? undefined
        : request.body as BodyInit | undefined,
      ...(signal ? { signal } : {}),
    });
    const { bytes, truncated } = await readBounded(response, this.maxResponseBytes, signal);
    if (signal?.aborted) throw signal.reason;
    if (truncated) {
      throw new ResponseTooLargeError(
        `CloudWatch answered more than ${this.maxResponseBytes} bytes`,
      );
    }
    return {
      response: {
        statusCode: response.status,
        reason: response.statusText,
        headers: Object.fromEntries(response.headers),
        body: bytes,
      },
    };
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {}
}

function requestUrl(request: SignedRequest): string {
  const port = request.port ? `:${request.port}` : "";
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(request.query ?? {})) {
    if (value === null) query.append(key, "");
    else if (Array.isArray(value)) { for (const v of value) query.append(key, v); }
    else query.append(key, value);
  }
  const search = query.size > 0 ? `?${query}` : "";
  return `${request.protocol}//${request.hostname}${port}${request.path}${search}`;
}

/**
 * Builds a client that retries nothing itself (the sink does) and reads no shared config:
 * every setting the SDK would otherwise look up in ~/.aws/config is given explicitly.
 */
export function createCloudWatchLogsClient(options: CloudWatchClientOptions): CloudWatchLogsClient {
  const client = new CloudWatchLogsClient({
    region: options.region,
    credentials: options.credentials,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    maxAttempts: 1,
    retryMode: "standard",
    defaultsMode: "standard",
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
    disableClockSkewCorrection: false,
    authSchemePreference: [],
    userAgentAppId: "cruddur-telemetry",
    requestHandler: new BoundedFetchHandler(
      options.maxResponseBytes ?? MAX_RESPONSE_BYTES,
    ) as unknown as CloudWatchLogsClientConfig["requestHandler"],
  });
  // The SDK rebuilds its User-Agent sections on every call (uname and environment look-ups,
  // a few hundred µs); they cannot change while the process runs.
  const userAgent = client.config.defaultUserAgentProvider;
  let sections: ReturnType<typeof userAgent> | undefined;
  client.config.defaultUserAgentProvider = () => sections ??= userAgent();
  // Lambda recursion detection copies the invocation's trace id onto every call (two environment
  // reads per call): the sink's own calls must not join the traces of the requests they log.
  client.middlewareStack.remove("recursionDetectionMiddleware");
  return client;
}

/**
 * The URL the SDK itself would send PutLogEvents to: the configured endpoint, or the region's
 * by the SDK's own endpoint rules (no FIPS, no dual stack, as the client is set up).
 */
export function resolvedEndpoint(
  client: CloudWatchLogsClient,
  options: Pick<CloudWatchClientOptions, "region" | "endpoint">,
): URL {
  const provider = (client.config as unknown as {
    endpointProvider(params: Record<string, unknown>): { url: URL };
  }).endpointProvider;
  const { url } = provider({
    Region: options.region,
    UseFIPS: false,
    UseDualStack: false,
    ...(options.endpoint ? { Endpoint: options.endpoint } : {}),
  });
  return new URL(url.href);
}

type CloudWatchLogsClientConfig = NonNullable<
  ConstructorParameters<typeof CloudWatchLogsClient>[0]
>;

/** The request as the SDK's build step holds it (Smithy's HttpRequest). */
interface BuiltRequest {
  headers: Record<string, string>;
  body?: unknown;
}

/**
 * A PutLogEventsCommand whose request body is `body`, the batch's JSON already written by
 * `prepareBatch` (one JSON.stringify and one UTF-8 encode per batch). The SDK's schema
 * serialiser writes JSON one character at a time in JavaScript, the dominant cost of a large
 * batch; everything else is the SDK's own: endpoint, headers, SigV4 over this body, the request
 * handler, response and error parsing. The command's input names the same group and stream
 * with no events, so the serialiser has nothing to write; the body is swapped in at the build
 * step, before the content length is set and the request is signed.
 */
export function putLogEventsWithBody(
  target: { logGroupName: string; logStreamName: string },
  body: Uint8Array,
): PutLogEventsCommand {
  const command = new PutLogEventsCommand({ ...target, logEvents: [] });
  command.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as BuiltRequest;
      request.body = body;
      request.headers["content-length"] = String(body.byteLength);
      return next(args);
    },
    { step: "build", priority: "high", name: "cruddurPreparedBody" },
  );
  return command;
}
