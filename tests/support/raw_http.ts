/**
 * Raw HTTP/1.1 over a TCP socket on 127.0.0.1, for what fetch refuses to send: a Host that is
 * not host[:port], broken chunked framing, a body cut off mid-way.
 */

/** Sends `parts` in order (awaiting each write), then reads until the server closes. */
export async function rawExchange(
  port: number,
  parts: string[],
  options: { timeoutMs?: number } = {},
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), options.timeoutMs ?? 5000);
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  try {
    for (const part of parts) await conn.write(encoder.encode(part));
    const buffer = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Already closed by the timer.
    }
  }
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

/** Sends `text` and closes the socket at once, without reading: a client that went away. */
export async function sendAndVanish(port: number, text: string): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(text));
  } finally {
    conn.close();
  }
}

/** The status code of a raw HTTP/1.1 answer, or undefined when there was none. */
export function statusOf(answer: string): number | undefined {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(answer);
  return match ? Number(match[1]) : undefined;
}

/** The body of a raw HTTP/1.1 answer (Content-Length framed). */
export function bodyOf(answer: string): string {
  const at = answer.indexOf("\r\n\r\n");
  return at === -1 ? "" : answer.slice(at + 4);
}
