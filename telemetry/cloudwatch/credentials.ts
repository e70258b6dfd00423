/**
 * AWS credentials for the CloudWatch sink: the environment's keys as they are, or the ECS/EKS
 * container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, which
 * ECS sets for a task role), fetched when first needed and again five minutes before they
 * expire, as the AWS SDK's container provider does. Nothing else is probed: no EC2 instance
 * metadata address, no ~/.aws, no SSO; an address is asked only because the environment named it.
 */
import type { ContainerCredentialsSource, StaticCredentials } from "../../config.ts";
import { readBounded } from "../util/body.ts";

/** Credentials as the signer and the SDK take them (`expiration` when they are temporary). */
export interface AwsCredentials extends StaticCredentials {
  expiration?: Date;
}

/** Resolves the credentials to sign the next call with; cached by whoever made it. */
export type CredentialsProvider = () => Promise<AwsCredentials>;

/** The keys the sink is given, or a provider that resolves them. */
export type CredentialsSource = StaticCredentials | CredentialsProvider;

/** Raised when the credentials cannot be had right now: the sink retries the call later. */
export class CredentialsProviderError extends Error {
  override name = "CredentialsProviderError";
}

/** Refreshed this long before they expire (the SDK's margin). */
export const REFRESH_MARGIN_MS = 5 * 60 * 1000;
/** One fetch of the endpoint at most (the SDK's default is 1 s). */
const FETCH_TIMEOUT_MS = 1000;
/** The endpoint answers a few hundred bytes; anything past this is not credentials. */
const MAX_ANSWER_BYTES = 16 * 1024;

/** A provider for `source`, as it is when it is one already. */
export function credentialsProvider(source: CredentialsSource): CredentialsProvider {
  if (typeof source === "function") return source;
  const resolved = Promise.resolve(source);
  return () => resolved;
}

/** Options of {@linkcode containerCredentials}. */
export interface ContainerCredentialsOptions {
  now?: () => number;
  timeoutMs?: number;
  /** Reads AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (EKS rotates it, so it is read each fetch). */
  readTextFile?: (path: string) => Promise<string>;
}

/** The container endpoint's provider: one fetch at a time, cached until the refresh margin. */
export function containerCredentials(
  source: ContainerCredentialsSource,
  options: ContainerCredentialsOptions = {},
): CredentialsProvider {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? FETCH_TIMEOUT_MS;
  const readTextFile = options.readTextFile ?? Deno.readTextFile;
  let current: AwsCredentials | undefined;
  let pending: Promise<AwsCredentials> | undefined;

  const fresh = (c: AwsCredentials | undefined, margin: number) =>
    c !== undefined && (c.expiration === undefined || c.expiration.getTime() - now() > margin);

  async function fetchOnce(): Promise<AwsCredentials> {
    let response: Response;
    let body: { bytes: Uint8Array; truncated: boolean };
    try {
      const token = source.authorizationTokenFile !== undefined
        ? (await readTextFile(source.authorizationTokenFile)).trim()
        : source.authorizationToken;
      const signal = AbortSignal.timeout(timeoutMs);
      response = await fetch(source.url, {
        headers: token ? { authorization: token } : {},
        redirect: "error",
        signal,
      });
      body = await readBounded(response, MAX_ANSWER_BYTES, signal);
    } catch (error) {
      // The error's name only: a message could quote the token file's path or contents.
      throw new CredentialsProviderError(
        `container credentials endpoint failed: ${(error as Error)?.name ?? "error"}`,
      );
    }
    // Never the body in a message: it holds the secret key.
    if (response.status !== 200) {
      throw new CredentialsProviderError(
        `container credentials endpoint answered HTTP ${response.status}`,
      );
    }
    if (body.truncated) throw new CredentialsProviderError("container credentials answer too long");
    return parseAnswer(new TextDecoder().decode(body.bytes));
  }

  return () => {
    if (fresh(current, REFRESH_MARGIN_MS)) return Promise.resolve(current!);
    pending ??= fetchOnce().then((c) => {
      current = c;
      return c;
    }, (error) => {
      // Keys that have not expired yet still sign; the next call asks again.
      if (fresh(current, 0)) return current!;
      throw error;
    }).finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

/** The endpoint's JSON: AccessKeyId, SecretAccessKey, Token and Expiration (ISO 8601). */
function parseAnswer(text: string): AwsCredentials {
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new CredentialsProviderError("container credentials answer is not JSON");
  }
  const { AccessKeyId, SecretAccessKey, Token, Expiration } = answer ?? {};
  if (typeof AccessKeyId !== "string" || AccessKeyId === "") {
    throw new CredentialsProviderError("container credentials answer has no AccessKeyId");
  }
  if (typeof SecretAccessKey !== "string" || SecretAccessKey === "") {
    throw new CredentialsProviderError("container credentials answer has no SecretAccessKey");
  }
  const expiration = typeof Expiration === "string" ? new Date(Expiration) : undefined;
  if (expiration !== undefined && Number.isNaN(expiration.getTime())) {
    throw new CredentialsProviderError("container credentials answer has a bad Expiration");
  }
  return {
    accessKeyId: AccessKeyId,
    secretAccessKey: SecretAccessKey,
    ...(typeof Token === "string" && Token !== "" ? { sessionToken: Token } : {}),
    ...(expiration ? { expiration } : {}),
  };
}
