/**
 * Reading a response body within limits: at most `maxBytes` are kept, the rest is cancelled,
 * and a body that never ends is cut when the call's signal aborts. A hostile or broken
 * endpoint answering 200 with gigabytes costs one small buffer.
 */

/** What {@linkcode readBounded} kept of a body. */
export interface BoundedBody {
  bytes: Uint8Array;
  /** The body was longer than the limit, or was cut by the signal. */
  truncated: boolean;
}

/** Reads at most `maxBytes` of `response`'s body, cancelling the rest; never throws. */
export async function readBounded(
  response: Response,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<BoundedBody> {
  const body = response.body;
  if (body === null) return { bytes: new Uint8Array(0), truncated: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  let done = false;
  const onAbort = () => {
    truncated = true;
    reader.cancel().catch(() => {});
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (signal?.aborted) onAbort();
    while (!truncated) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        break;
      }
      const value = next.value;
      const room = maxBytes - size;
      if (value.byteLength > room) {
        if (room > 0) chunks.push(value.subarray(0, room));
        size += Math.max(0, room);
        truncated = true;
        await reader.cancel().catch(() => {});
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    truncated = true;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    // A finished stream needs no release (which builds a TypeError for its closed promise:
    // the largest part of reading a small answer); a cut one is released.
    if (!done) {
      try {
        reader.releaseLock();
      } catch {
        // A read still pending after a cancel; the stream is gone either way.
      }
    }
  }
  return { bytes: concat(chunks, size), truncated };
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
