/**
 * Posting one Rollbar item: `fetch` under the call's signal, the answer read to at most a
 * small cap (Rollbar answers with a uuid), and classified the way the SDK's transport did:
 * sent only for a 2xx whose JSON says `err: 0`.
 */
import { readBounded } from "../util/body.ts";
import { errorText } from "../util/errors.ts";

/** Rollbar's answer is `{"err":0,"result":{"uuid":…}}`: a few hundred bytes. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** One post. */
export interface ItemPost {
  endpoint: string;
  accessToken: string;
  /** The serialised `{ data }` payload. */
  body: string;
  /** Ends the post, answer included (timeout and shutdown). */
  signal: AbortSignal;
}

/** How a post ended. */
export type PostOutcome = { ok: true } | { ok: false; reason: string };

/** Posts one item; never throws. */
export async function postItem(post: ItemPost): Promise<PostOutcome> {
  try {
    const response = await fetch(post.endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", "x-rollbar-access-token": post.accessToken },
      body: post.body,
      signal: post.signal,
    });
    const { bytes, truncated } = await readBounded(response, MAX_RESPONSE_BYTES, post.signal);
    if (post.signal.aborted) return { ok: false, reason: "timed out" };
    if (response.status < 200 || response.status >= 300) {
      return { ok: false, reason: `HTTP ${response.status}` };
    }
    if (truncated) return { ok: false, reason: `answer over ${MAX_RESPONSE_BYTES} bytes` };
    const answer = JSON.parse(new TextDecoder().decode(bytes)) as {
      err?: unknown;
      message?: unknown;
    };
    if (answer?.err) {
      return { ok: false, reason: `Api error: ${String(answer.message ?? "unknown")}` };
    }
    return { ok: true };
  } catch (error) {
    if (post.signal.aborted) return { ok: false, reason: "timed out" };
    return { ok: false, reason: errorText(error) };
  }
}
